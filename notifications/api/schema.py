"""OpenAPI post-processing: links between operations, so clients (and schemathesis' stateful phase) can follow
list -> detail -> patch and device create -> retrieve -> update -> delete."""

from typing import Any

from django.db import DatabaseError

from preferences.services import timezone_names

from ..models import ChannelKind
from ..selectors import category_list

LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("/api/v1/notifications/", "get", "200"): {
        "RetrieveFirstNotification": {
            "operationId": "notifications_retrieve",
            "parameters": {"id": "$response.body#/results/0/id"},
        },
        "UpdateFirstNotification": {
            "operationId": "notifications_partial_update",
            "parameters": {"id": "$response.body#/results/0/id"},
        },
    },
}
for kind in ("apns", "fcm", "webpush"):
    LINKS[(f"/api/v1/devices/{kind}/", "post", "201")] = {
        f"{name}Device": {
            "operationId": f"devices_{kind}_{operation}",
            "parameters": {"registration_id": "$response.body#/registration_id"},
        }
        for name, operation in (
            ("Retrieve", "retrieve"),
            ("Update", "partial_update"),
            ("Destroy", "destroy"),
        )
    }


def links_add(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    operation_ids = {
        op.get("operationId")
        for item in result.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict)
    }
    for (path, method, code), links in LINKS.items():
        response = result.get("paths", {}).get(path, {}).get(method, {}).get("responses", {}).get(code)
        if response is None:
            continue
        usable = {name: link for name, link in links.items() if link["operationId"] in operation_ids}
        if usable:
            response.setdefault("links", {}).update(usable)
    return result


# --- Request bodies as exact as the server ------------------------------------------------------------------------

# Bodies whose unknown keys the server refuses (400 naming them); the others ignore extras, as DRF does.
CLOSED_BODIES = ("PatchedNotificationPatchRequest", "PatchedPreferencesPatchRequest")
CATEGORY_BODIES = ("SendRequest", "BulkItemRequest", "MarkAllReadRequest")
CHANNELS = tuple(ChannelKind.values)
NOT_BLANK = r"^[^\u0000]*\S[^\u0000]*$"  # printable somewhere, never NUL (PostgreSQL text cannot hold it)
# validation._text: no control characters but tab, newline and carriage return; required text is not blank.
PLAIN = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f]"
PLAIN_TEXT = f"^{PLAIN}*$"
PLAIN_REQUIRED = rf"^{PLAIN}*[^\s\u0000-\u001f]{PLAIN}*$"
TEXT_FIELDS = {"title": PLAIN_REQUIRED, "body": PLAIN_TEXT, "group_key": PLAIN_TEXT, "label": PLAIN_REQUIRED}


# validation.url_is_safe: no whitespace, control or invisible format characters; http(s) with a host, or a path.
URL_CHAR = r"[^\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]"
URL_ABSOLUTE = rf"https?://(?![/\\?#]){URL_CHAR}+"
URL_RELATIVE = rf"/(?![/\\])(?:(?!\\){URL_CHAR})*"
URL_FIELDS = {field: f"^(?:{URL_ABSOLUTE}|{URL_RELATIVE})?$" for field in ("url", "image_url")}
TARGETS = {
    "SendRequest": ("recipients", "recipient_usernames", "audience"),
    "BulkItemRequest": ("recipients", "recipient_usernames"),
}


def _prop(schemas: dict[str, Any], name: str, field: str) -> dict[str, Any] | None:
    prop: dict[str, Any] | None = schemas.get(name, {}).get("properties", {}).get(field)
    return prop


def _bodies(schemas: dict[str, Any], slugs: list[str]) -> None:
    for name in CLOSED_BODIES:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    for name in CATEGORY_BODIES:
        if (prop := _prop(schemas, name, "category")) is not None:
            prop["enum"] = slugs
    for name, fields in TARGETS.items():
        if name in schemas:
            schemas[name]["oneOf"] = [{"required": [f]} for f in fields]
    for name in ("SendRequest", "BulkItemRequest", "ActionRequest"):
        for field, pattern in {**TEXT_FIELDS, **URL_FIELDS}.items():
            if (prop := _prop(schemas, name, field)) is not None:
                prop["pattern"] = pattern
    if (bulk := _prop(schemas, "SendBulkRequest", "notifications")) is not None:
        bulk["minItems"] = 1


def _preferences(schemas: dict[str, Any], slugs: list[str]) -> None:
    if (zone := _prop(schemas, "QuietHoursPatchRequest", "timezone")) is not None:
        zone["enum"] = sorted(timezone_names())
        schemas["QuietHoursPatchRequest"]["required"] = ["enabled", "start", "end", "timezone"]
    prefs = schemas.get("PatchedPreferencesPatchRequest", {}).get("properties", {})
    if "channels" in prefs:
        per_channel = {"type": "object", "properties": {c: {"type": "boolean"} for c in CHANNELS}}
        prefs["channels"] = {
            "type": "object",
            "description": prefs["channels"].get("description", ""),
            "properties": {slug: {**per_channel, "additionalProperties": False} for slug in slugs},
            "additionalProperties": False,
        }


def _devices(schemas: dict[str, Any]) -> None:
    for name, schema in schemas.items():
        if "Device" not in name or not name.endswith("Request"):
            continue
        for field in ("registration_id", "p256dh", "auth"):
            prop = schema.get("properties", {}).get(field)
            if prop is not None and prop.get("type") == "string":
                prop["pattern"] = NOT_BLANK
        if "APNSDevice" in name and (token := schema.get("properties", {}).get("registration_id")) is not None:
            token["pattern"] = r"^(0x)?[0-9a-fA-F]+$"  # django-push-notifications' check: a hex token


def requests_exact(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Say in the schema what the server enforces, so a schema-valid request is accepted: the categories that exist
    (read when the schema is generated: staff may add some), exactly one way of naming recipients, closed bodies,
    plain text, known time zones, non-empty bulk lists and device tokens."""
    try:
        slugs = sorted(c.slug for c in category_list())
    except DatabaseError:  # `manage.py check` builds the schema too, possibly before any migration ran
        return result
    schemas = result.get("components", {}).get("schemas", {})
    _bodies(schemas, slugs)
    _preferences(schemas, slugs)
    _devices(schemas)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("name") == "category" and parameter.get("in") == "query":
                    if (items := parameter.get("schema", {}).get("items")) is not None:
                        items["enum"] = slugs
    return result
