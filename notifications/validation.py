"""Validation of a send, all or nothing, before anything is written. Raises django ValidationError by field."""

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Required, TypedDict, cast
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .categories import category_get
from .models import Category, Priority

TITLE_MAX = 200
BODY_MAX = 2000
URL_MAX = 2000
GROUP_KEY_MAX = 200
IDEMPOTENCY_KEY_MAX = 255
ACTIONS_MAX = 3
ACTION_LABEL_MAX = 50
ACTION_STYLES = ("primary", "secondary", "danger")
DATA_MAX_BYTES = 4096
DATA_MAX_DEPTH = 16  # nesting of `data`: deeper documents fail the JSON encoders downstream (orjson stops at 255)
# Every datetime that comes from outside (REST, forms, sockets, admin, the Python API) is stored in UTC within this
# range: a year-10000 or BC value cannot be converted between zones and broke every read of its row.
DATETIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
DATETIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)
DATETIME_MESSAGE = "Must be an ISO 8601 datetime with a time zone, from 2000-01-01 to 2100-01-01 (UTC)."


def datetime_external(value: Any, *, naive_zone: tzinfo | None = None) -> datetime:
    """An outside datetime (an aware datetime or an ISO 8601 string) as UTC within [DATETIME_MIN, DATETIME_MAX).

    A value without an offset is read in `naive_zone`, or refused without one. Raises ValueError(DATETIME_MESSAGE).
    """
    if isinstance(value, str):
        try:
            value = parse_datetime(value.strip())
        except ValueError:  # well-formed but impossible, e.g. February 30th
            value = None
    if not isinstance(value, datetime):
        raise ValueError(DATETIME_MESSAGE)
    try:
        if timezone.is_naive(value):
            if naive_zone is None:
                raise ValueError(DATETIME_MESSAGE)
            value = timezone.make_aware(value, naive_zone)
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):  # beyond year 1..9999 once the offset is applied
        raise ValueError(DATETIME_MESSAGE) from None
    if not DATETIME_MIN <= utc < DATETIME_MAX:
        raise ValueError(DATETIME_MESSAGE)
    return utc


SEQ_MAX = 2**63 - 1


def query_int(value: str, *, maximum: int) -> int | None:
    """A non-negative integer query value, or None: ASCII digits only (str.isdigit() also accepts "²", which int()
    refuses) and at most `maximum` (the column's range)."""
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        return None
    number = int(value)
    return number if number <= maximum else None


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a JSON-like value nests deeper than `limit` (iterative: a hostile document cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class SendFields(TypedDict, total=False):
    """The one definition of what a send carries besides its recipients (contract.md's send body and Python API).

    notify(), notification_broadcast(), each item of notification_send_bulk(), the REST send views, the admin
    announcement and the notify command all pass these, by these names; send_validate() turns them into a SendSpec.
    """

    category: Required[str | Category]
    title: Required[str]
    body: str
    url: str
    image_url: str
    priority: str | None
    actions: list[dict[str, str]] | None
    data: dict[str, Any] | None
    group_key: str
    expires_at: datetime | str | None


SEND_FIELDS: tuple[str, ...] = tuple(SendFields.__annotations__)
SEND_FIELDS_SET = frozenset(SEND_FIELDS)


def send_fields(values: Mapping[str, Any]) -> SendFields:
    """The send's fields among other values (a form's cleaned data, a serializer's, a command's options)."""
    return cast(SendFields, {name: values[name] for name in SEND_FIELDS if name in values})


@dataclass(frozen=True)
class SendSpec:
    """A validated, normalized send (everything except the recipients)."""

    category: Category
    priority: str
    title: str
    body: str = ""
    url: str = ""
    image_url: str = ""
    actions: list[dict[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    group_key: str = ""
    expires_at: datetime | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "category": self.category.slug,
            "priority": self.priority,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "image_url": self.image_url,
            "actions": self.actions,
            "data": self.data,
            "group_key": self.group_key,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def _text(errors: dict[str, list[str]], name: str, value: Any, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(name, []).append("Must be a string.")
        return ""
    # PostgreSQL cannot store NUL; other control characters have no place in plain text either.
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        errors.setdefault(name, []).append("Must not contain control characters.")
        return ""
    value = value.strip()
    if required and not value:
        errors.setdefault(name, []).append("This field is required.")
    if len(value) > max_length:
        errors.setdefault(name, []).append(f"Ensure this field has no more than {max_length} characters.")
    return value


def url_is_safe(value: str, *, allow_relative: bool) -> bool:
    """http(s) absolute URLs, or (if allowed) a relative path on this site. Never javascript:, data:, //host.

    Whitespace and control/format characters are refused anywhere: browsers strip tabs and newlines before
    parsing, so "/\t/evil.example" would become "//evil.example", another host.
    """
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        return False
    if allow_relative and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return True
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def _url(errors: dict[str, list[str]], name: str, value: Any, *, allow_relative: bool) -> str:
    value = _text(errors, name, value, URL_MAX)
    if value and not url_is_safe(value, allow_relative=allow_relative):
        kinds = "an http(s) URL or a relative path" if allow_relative else "an http(s) URL"
        errors.setdefault(name, []).append(f"Must be {kinds}.")
    return value


def _actions(errors: dict[str, list[str]], value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.setdefault("actions", []).append("Must be a list.")
        return []
    if len(value) > ACTIONS_MAX:
        errors.setdefault("actions", []).append(f"At most {ACTIONS_MAX} actions.")
        return []
    actions = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"label", "url", "style"}:
            errors.setdefault("actions", []).append(f"Action {index}: an object with label, url and style only.")
            continue
        sub: dict[str, list[str]] = {}
        label = _text(sub, "label", item.get("label"), ACTION_LABEL_MAX, required=True)
        url = _url(sub, "url", item.get("url"), allow_relative=True)
        if not url and "url" not in sub:
            sub.setdefault("url", []).append("This field is required.")
        style = item.get("style") or "secondary"
        if style not in ACTION_STYLES:
            sub.setdefault("style", []).append(f"Must be one of {', '.join(ACTION_STYLES)}.")
        for key, messages in sub.items():
            errors.setdefault("actions", []).extend(f"Action {index} {key}: {m}" for m in messages)
        actions.append({"label": label, "url": url, "style": style})
    return actions


def _data(errors: dict[str, list[str]], value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.setdefault("data", []).append("Must be a JSON object.")
        return {}
    if json_depth_exceeds(value, DATA_MAX_DEPTH):
        errors.setdefault("data", []).append(f"Must nest at most {DATA_MAX_DEPTH} levels deep.")
        return {}
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        errors.setdefault("data", []).append("Must be JSON-serializable.")
        return {}
    if len(encoded) > DATA_MAX_BYTES:
        errors.setdefault("data", []).append(f"Must be at most {DATA_MAX_BYTES} bytes as JSON.")
    if "\\u0000" in encoded.decode():
        errors.setdefault("data", []).append("Must not contain NUL characters.")
    return value


def send_validate(fields: Mapping[str, Any], *, categories: dict[str, Category] | None = None) -> SendSpec:
    """Check every rule of contract.md's send body; raise one ValidationError listing every bad field.

    `fields`: a send's fields (SendFields) from any producer, values not yet trusted. A key that is not a send field
    is a TypeError, as an unknown keyword argument of notify() always was.
    """
    unknown = set(fields) - SEND_FIELDS_SET
    if unknown:
        raise TypeError(f"Unknown send field(s): {', '.join(sorted(map(str, unknown)))}.")
    category, priority = fields.get("category"), fields.get("priority")
    title, body, url, image_url = (fields.get(name) for name in ("title", "body", "url", "image_url"))
    actions, data, group_key, expires_at = (fields.get(name) for name in ("actions", "data", "group_key", "expires_at"))
    errors: dict[str, list[str]] = {}
    if isinstance(category, Category):
        category_obj: Category | None = category
    else:
        if not isinstance(category, str):
            category_obj = None
        elif categories is None:
            category_obj = category_get(category)
        else:
            category_obj = categories.get(category)
        if category is None:
            errors["category"] = ["This field is required."]
        elif category_obj is None:
            errors["category"] = [f"Unknown category {category!r}."]
    if priority in (None, ""):
        priority = category_obj.default_priority if category_obj else Priority.NORMAL
    elif priority not in Priority.values:
        errors["priority"] = [f"Must be one of {', '.join(Priority.values)}."]
    clean_title = _text(errors, "title", title, TITLE_MAX, required=True)
    clean_body = _text(errors, "body", body, BODY_MAX)
    clean_url = _url(errors, "url", url, allow_relative=True)
    clean_image = _url(errors, "image_url", image_url, allow_relative=True)  # one rule for every URL field
    clean_actions = _actions(errors, actions)
    clean_data = _data(errors, data)
    clean_group = _text(errors, "group_key", group_key, GROUP_KEY_MAX)
    if expires_at is not None:
        try:
            expires_at = datetime_external(expires_at)
        except ValueError as exc:
            errors["expires_at"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    assert category_obj is not None
    return SendSpec(
        category=category_obj,
        priority=priority,
        title=clean_title,
        body=clean_body,
        url=clean_url,
        image_url=clean_image,
        actions=clean_actions,
        data=clean_data,
        group_key=clean_group,
        expires_at=expires_at,
    )
