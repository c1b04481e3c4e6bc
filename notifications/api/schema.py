"""OpenAPI post-processing: links between operations, so clients (and schemathesis' stateful phase) can follow
list -> detail -> patch and device create -> retrieve -> update -> delete."""

from typing import Any

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
