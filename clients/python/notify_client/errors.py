"""What a call can end in besides success. Every error from the API carries its status and its DRF body."""

from typing import Any


class NotifyError(Exception):
    """The API answered with an error (or could not be reached). `detail` is the JSON body, `errors` the field
    errors of a 400 (field -> messages; bulk items under "notifications")."""

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail

    @property
    def errors(self) -> dict[str, Any]:
        return self.detail if isinstance(self.detail, dict) else {}


class ValidationFailed(NotifyError):
    """400: the request was refused; nothing was created. `errors` names each bad field."""


class AuthenticationFailed(NotifyError):
    """401: no or bad token."""


class PermissionDenied(NotifyError):
    """403: the token's user may not do this (sending needs notifications.send_notification)."""


class NotFound(NotifyError):
    """404."""


class InFlight(NotifyError):
    """409 after every retry: the same Idempotency-Key was still being processed."""


class Retracted(NotifyError):
    """409 on an update: the send was retracted, it can no longer change."""


class IdempotencyMismatch(NotifyError):
    """422: the Idempotency-Key was used before for a different body."""


class RateLimited(NotifyError):
    """429 after every retry. `retry_after` is the server's last Retry-After, in seconds."""

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None, retry_after: float | None):
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after


class ServerError(NotifyError):
    """5xx after every retry."""


class ConnectionFailed(NotifyError):
    """The server could not be reached, or the connection broke, on every attempt."""


class ResyncRequired(NotifyError):
    """The WebSocket cursor is unusable (`reason`: cursor_expired, cursor_ahead, invalid_cursor): refetch the inbox
    over REST and listen again from its newest seq."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"resync required: {reason}")
        self.reason = reason
