"""What calls return."""

from dataclasses import dataclass, field
from typing import Any

from .errors import NotifyError


@dataclass(frozen=True)
class SendResult:
    id: str
    recipient_count: int
    notification_ids: list[str] = field(default_factory=list)  # empty above 1000 recipients
    replayed: bool = False  # the server had this Idempotency-Key already: nothing new was sent


@dataclass(frozen=True)
class Retraction:
    """retract_group: how many of your sends (and their recipients' notifications) this call retracted."""

    sends: int
    notifications: int


@dataclass(frozen=True)
class Queued:
    """An audience broadcast: accepted, fanned out by a worker."""

    id: str
    status: str


@dataclass(frozen=True)
class BulkItemResult:
    """One item of send_bulk, by its index in the list given: the send's id, or why it was not sent."""

    index: int
    id: str | None = None
    error: NotifyError | None = None
    errors: dict[str, Any] = field(default_factory=dict)  # this item's field errors, when the chunk was refused

    @property
    def ok(self) -> bool:
        return self.id is not None
