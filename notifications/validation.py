"""Validation of a send, all or nothing, before anything is written. Raises django ValidationError by field."""

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils import timezone

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


def send_validate(
    *,
    category: Any,
    title: Any,
    body: Any = "",
    url: Any = "",
    image_url: Any = "",
    priority: Any = None,
    actions: Any = None,
    data: Any = None,
    group_key: Any = "",
    expires_at: Any = None,
    categories: dict[str, Category] | None = None,
) -> SendSpec:
    """Check every rule of contract.md's send body; raise one ValidationError listing every bad field."""
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
        if category_obj is None:
            errors["category"] = [f"Unknown category {category!r}."]
    if priority in (None, ""):
        priority = category_obj.default_priority if category_obj else Priority.NORMAL
    elif priority not in Priority.values:
        errors["priority"] = [f"Must be one of {', '.join(Priority.values)}."]
    clean_title = _text(errors, "title", title, TITLE_MAX, required=True)
    clean_body = _text(errors, "body", body, BODY_MAX)
    clean_url = _url(errors, "url", url, allow_relative=True)
    clean_image = _url(errors, "image_url", image_url, allow_relative=False)
    clean_actions = _actions(errors, actions)
    clean_data = _data(errors, data)
    clean_group = _text(errors, "group_key", group_key, GROUP_KEY_MAX)
    if expires_at is not None and not (isinstance(expires_at, datetime) and timezone.is_aware(expires_at)):
        errors["expires_at"] = ["Must be a datetime with a time zone."]
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
