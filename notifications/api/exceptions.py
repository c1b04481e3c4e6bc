"""The API's one exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

Services raise Django's ValidationError (they know no web framework, .ci/importlinter.ini); DRF alone would answer
it with a 500. Converting it here, once, gives every view the same 400 body: the field -> messages mapping the
service raised, or {"non_field_errors": [...]} for a message without a field. Views never catch it themselves.
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..services import IdempotencyConflict


def drf_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """The DRF error a Django ValidationError stands for (the body DRF's serializers would give)."""
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(exc.message_dict)
    return exceptions.ValidationError({"non_field_errors": exc.messages})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = drf_validation_error(exc)
    elif isinstance(exc, IdempotencyConflict):
        # The same key sent earlier with another body (contract.md: 422).
        return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    return drf_exception_handler(exc, context)
