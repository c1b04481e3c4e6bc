"""Cursor pagination over the per-user seq: stable under inserts, served by the (recipient, seq) index."""

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from ..validation import SEQ_MAX

MAX_PAGE_SIZE = 100


class SeqCursorPagination(CursorPagination):
    """Newest first by seq; with `after_seq` oldest first (replay). An unusable cursor is a 400, not a 404."""

    ordering = "-seq"
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        return ("seq",) if request.query_params.get("after_seq") not in (None, "") else ("-seq",)

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        error = ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        try:
            cursor = super().decode_cursor(request)
        except Exception:
            raise error
        if cursor is None:
            raise error
        position: str | None = cursor.position  # type: ignore[assignment]
        if position is not None:
            try:
                number = int(position)
            except (TypeError, ValueError):
                raise error
            if not 0 <= number <= SEQ_MAX:
                raise error
            position = str(number)
        if cursor.offset > self.offset_cutoff:
            raise error
        return Cursor(offset=cursor.offset, reverse=bool(cursor.reverse), position=position)  # type: ignore[arg-type]
