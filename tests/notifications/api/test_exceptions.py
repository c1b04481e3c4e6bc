"""The API's one exception handler: Django ValidationError from services -> DRF's 400 body."""

from django.core.exceptions import ValidationError
from rest_framework.exceptions import NotFound

from notifications.api.exceptions import exception_handler
from notifications.services import IdempotencyConflict


def test_a_field_error_keeps_its_field():
    response = exception_handler(ValidationError({"title": ["Too long."], "url": ["Bad."]}), {})
    assert response is not None
    assert (response.status_code, response.data) == (400, {"title": ["Too long."], "url": ["Bad."]})


def test_an_error_without_a_field_is_a_non_field_error():
    response = exception_handler(ValidationError(["One.", "Two."]), {})
    assert response is not None
    assert (response.status_code, response.data) == (400, {"non_field_errors": ["One.", "Two."]})


def test_an_idempotency_conflict_is_a_422():
    response = exception_handler(IdempotencyConflict("used"), {})
    assert response is not None
    assert (response.status_code, response.data) == (422, {"detail": "used"})


def test_drf_errors_are_answered_as_drf_would():
    response = exception_handler(NotFound("No notification with this id."), {})
    assert response is not None
    assert (response.status_code, response.data) == (404, {"detail": "No notification with this id."})
