"""A request that meets an unreachable database (PostgreSQL or PgBouncer restarting, the pool exhausted) answers
503 with a JSON body and `Retry-After`, not 500: the client and the load balancer can tell "retry shortly" from a
bug. Views' errors come here (one warning line each, not a traceback per request during an outage; with DEBUG on
too); errors raised outside a view reach the 500 handler, which answers the same (notifications/api/errors.py)."""

import logging

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from notifications.api.errors import database_unavailable, database_unavailable_response

logger = logging.getLogger("notifyproject.unavailable")


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception.__class__.__name__)
        return database_unavailable_response()
