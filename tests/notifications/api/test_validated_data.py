"""serializers.validated_data reuses one serializer per class and thread: it must answer exactly what a new
serializer's is_valid(raise_exception=True) answers, and nothing of one body may reach the next."""

import threading
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from notifications.api.serializers import SendSerializer, validated_data

GOOD = {"recipients": [1], "category": "comment", "title": "Hi", "actions": [{"label": "Open", "url": "/x"}]}
BAD_BODIES: list[Any] = [
    None,
    [],
    "text",
    {},
    {"recipients": [0], "category": "no spaces!", "title": ""},
    {"recipients": [1], "recipient_usernames": ["a"], "category": "comment", "title": "Hi"},
    {"recipients": [1], "category": "comment", "title": "Hi", "actions": [{"label": ""}] * 4},
]


def _fresh(data):
    serializer = SendSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _errors(validate, data):
    with pytest.raises(ValidationError) as caught:
        validate(data)
    return caught.value.detail


@pytest.mark.parametrize("body", BAD_BODIES)
def test_errors_are_those_of_a_new_serializer(body):
    validated_data(SendSerializer, GOOD)  # the reused instance has validated something before
    assert _errors(lambda d: validated_data(SendSerializer, d), body) == _errors(_fresh, body)


def test_a_body_leaves_nothing_behind_for_the_next():
    first = validated_data(SendSerializer, {**GOOD, "body": "first body", "group_key": "g"})
    second = validated_data(SendSerializer, GOOD)
    assert "body" not in second and "group_key" not in second
    assert first["body"] == "first body"  # what a caller holds is not changed by the next validation
    assert second == _fresh(GOOD)
    assert second["actions"] == [{"label": "Open", "url": "/x", "style": "secondary"}]


def test_each_thread_validates_on_its_own_instance():
    seen: list[dict[str, Any]] = []

    def validate_in_thread():
        seen.append(validated_data(SendSerializer, {**GOOD, "title": threading.current_thread().name}))

    threads = [threading.Thread(target=validate_in_thread, name=f"t{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(d["title"] for d in seen) == ["t0", "t1", "t2", "t3"]
