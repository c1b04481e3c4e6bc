"""JSON 404/500 under /api/ for requests that never reach a DRF view (no URL matched), so clients always get JSON;
and a 503 with a JSON body, on every path, when the database cannot be reached (not a 500)."""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"
# Seconds a client should wait before retrying a request that met an unreachable database.
DATABASE_RETRY_AFTER = 1
# SQLSTATEs that mean "the database is not there right now", not "this query is wrong": connection exceptions
# (class 08, which PgBouncer uses for its own errors), admin/crash shutdown, cannot connect now, too many clients.
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})

logger = logging.getLogger(__name__)


def database_unavailable(exc: BaseException | None) -> bool:
    """True when `exc` says the database (or PgBouncer in front of it) cannot be reached or is restarting.

    A failed connect or a connection dropped mid-request carries no SQLSTATE (psycopg raises it client-side);
    the pool's timeout is one of those too. A query error (deadlock, constraint, syntax) is not unavailability.
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_STATES


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse(
        {"detail": "The database is unavailable; retry shortly.", "code": "database_unavailable"}, status=503
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls the 500 handler inside its `except` block: the exception is the one being handled. This covers
    # database errors raised outside views too (a middleware's session save, the auth middleware's user lookup).
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response()
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
