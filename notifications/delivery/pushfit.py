"""Fitting a push's visible text into the provider's payload limit (APNs and FCM: 4 KB).

A title of 200 and a body of 2,000 characters can be 8 KB of UTF-8. A payload over the limit is refused by the
provider (APNs 413 PayloadTooLarge, FCM INVALID_ARGUMENT), which would make the delivery dead although nothing is
wrong with the device: so the body (then the title) is cut at a character boundary, with an ellipsis, until it fits.
The full text is in the app; the push is a pointer to it.
"""

import json
from collections.abc import Callable
from typing import Any

PAYLOAD_MAX_BYTES = 4096
ELLIPSIS = "…"


def payload_size(payload: Any) -> int:
    """Bytes on the wire as aioapns encodes it (UTF-8, no ASCII escaping, json's default separators)."""
    return len(json.dumps(payload, ensure_ascii=False).encode())


def text_cut(text: str, max_bytes: int) -> str:
    """`text` in at most `max_bytes` of UTF-8, cut at a character boundary, ending with an ellipsis when cut."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    if room <= 0:
        return ""
    return raw[:room].decode(errors="ignore").rstrip() + ELLIPSIS


def text_fit(
    title: str, body: str, build: Callable[[str, str], Any], limit: int = PAYLOAD_MAX_BYTES
) -> tuple[str, str]:
    """The longest (title, body) whose payload `build(title, body)` fits in `limit` bytes: the body goes first.

    JSON escaping can make a cut worth more or less than its bytes, so it measures again after each cut (a few
    rounds at most: each one removes at least the measured excess)."""
    for _ in range(8):
        excess = payload_size(build(title, body)) - limit
        if excess <= 0:
            return title, body
        body_bytes = len(body.encode())
        if body_bytes:
            body = text_cut(body, max(0, body_bytes - excess - 8))
        else:
            title = text_cut(title, max(0, len(title.encode()) - excess - 8))
    return title, body
