"""Request and response shapes of the API, with explicit fields (they are also the OpenAPI schema).

Types and sizes are checked here; the rules of a send (category exists, safe URLs, actions, data size) stay in
notifications.validation, shared with the Python API, so both reject exactly the same input.
"""

import threading
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from preferences.models import DigestCadence

from ..models import ChannelKind, Priority
from ..selectors import STATUS_FILTERS
from ..services import snooze_until_check
from ..validation import (
    ACTION_LABEL_MAX,
    ACTION_STYLES,
    ACTIONS_MAX,
    BODY_MAX,
    GROUP_KEY_MAX,
    SEQ_MAX,
    TITLE_MAX,
    URL_MAX,
    datetime_external,
)

ID_MAX = 2**63 - 1
RECIPIENTS_MAX = 100_000
BULK_MAX = 1000
NOTIFICATION_IDS_MAX = 1000
USERNAME_MAX = get_user_model()._meta.get_field("username").max_length or 150


class ExternalDateTimeField(serializers.DateTimeField):
    """Every datetime a client sends: validation.datetime_external (UTC, bounded; no offset: the server's zone)."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            return datetime_external(value, naive_zone=timezone.get_current_timezone())
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


# --- Send ---------------------------------------------------------------------------------------------------------


class ActionSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=ACTION_LABEL_MAX)  # type: ignore[assignment]
    url = serializers.CharField(max_length=URL_MAX, help_text="http(s) URL or a relative path.")
    style = serializers.ChoiceField(choices=ACTION_STYLES, required=False, default="secondary")  # type: ignore[assignment]


class SendContentSerializer(serializers.Serializer):
    """What is sent (everything but the recipients)."""

    category = serializers.SlugField(max_length=50, help_text="An existing category slug (GET /api/v1/categories/).")
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, allow_null=True, help_text="Default: the category's priority."
    )
    title = serializers.CharField(max_length=TITLE_MAX, help_text="Plain text.")
    body = serializers.CharField(max_length=BODY_MAX, required=False, allow_blank=True, help_text="Plain text.")
    url = serializers.CharField(
        max_length=URL_MAX, required=False, allow_blank=True, help_text="http(s) URL or a relative path."
    )
    image_url = serializers.CharField(
        max_length=URL_MAX, required=False, allow_blank=True, help_text="http(s) URL or a relative path."
    )
    actions = ActionSerializer(many=True, required=False, max_length=ACTIONS_MAX)  # type: ignore[call-arg]
    data = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Any JSON object of at most 4 KB, returned as is."
    )
    group_key = serializers.CharField(
        max_length=GROUP_KEY_MAX, required=False, allow_blank=True, help_text="Aggregation / collapse key."
    )
    expires_at = ExternalDateTimeField(required=False, allow_null=True)


class BulkItemSerializer(SendContentSerializer):
    """Exactly one of the `targets` fields says who receives it."""

    targets: tuple[str, ...] = ("recipients", "recipient_usernames")

    recipients = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        min_length=1,
        max_length=RECIPIENTS_MAX,
        help_text="User ids.",
    )
    recipient_usernames = serializers.ListField(
        child=serializers.CharField(max_length=USERNAME_MAX), required=False, min_length=1, max_length=RECIPIENTS_MAX
    )

    def validate(self, attrs: dict) -> dict:
        if sum(name in attrs for name in self.targets) != 1:
            choices = f"{', '.join(self.targets[:-1])} or {self.targets[-1]}"
            raise serializers.ValidationError({"recipients": [f"Give exactly one of {choices}."]})
        return attrs


class SendSerializer(BulkItemSerializer):
    """Exactly one of recipients, recipient_usernames, audience."""

    targets = ("recipients", "recipient_usernames", "audience")

    audience = serializers.RegexField(
        r"^(all|group:.+)$",
        max_length=200,
        required=False,
        help_text='"all" or "group:<name>"; needs notifications.broadcast_notification; answered 202.',
    )


class SendBulkSerializer(serializers.Serializer):
    notifications = BulkItemSerializer(  # type: ignore[call-arg]
        many=True, min_length=1, max_length=BULK_MAX, allow_empty=False
    )


class SendResultSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The send's id.")
    recipient_count = serializers.IntegerField()
    notification_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="Omitted above 1000 recipients."
    )


class SendQueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The send's id.")
    status = serializers.ChoiceField(choices=["queued"])


class SendBulkResultSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), help_text="One send id per item, in order.")


# --- Inbox --------------------------------------------------------------------------------------------------------


class NotificationSerializer(serializers.Serializer):
    """The notification object every client sees (REST and WebSocket). Rendered by payloads.notification_payload."""

    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    category = serializers.CharField()
    category_label = serializers.CharField()
    priority = serializers.ChoiceField(choices=Priority.choices)
    title = serializers.CharField()
    body = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    image_url = serializers.CharField(allow_blank=True)
    actions = ActionSerializer(many=True)
    data = serializers.DictField()  # type: ignore[assignment]
    group_key = serializers.CharField(allow_blank=True)
    actor = serializers.IntegerField(allow_null=True, help_text="User id of who caused it, if any.")
    actor_name = serializers.CharField(
        allow_null=True, help_text="How the actor is named (full name, else username); null without an actor."
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    seen_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    is_read = serializers.BooleanField()
    saved_at = serializers.DateTimeField(allow_null=True, help_text="Starred (the Saved view) since; null if not.")
    snoozed_until = serializers.DateTimeField(
        allow_null=True, help_text="Snoozed (out of the inbox and the unread count) until; null if not."
    )
    muted = serializers.BooleanField(
        help_text="Sent into a group the user muted: stored read, with no badge, toast, email or push."
    )


class GroupSerializer(serializers.Serializer):
    """A group: the user's unread notifications of one category with one group_key, shown as one item."""

    key = serializers.CharField(allow_blank=True, help_text="The group_key.")
    count = serializers.IntegerField(min_value=1, help_text="How many unread members.")
    member_ids = serializers.ListField(
        child=serializers.UUIDField(), help_text="The members' ids, newest first (at most 100)."
    )
    actors = serializers.ListField(
        child=serializers.CharField(), help_text="Distinct actor names, newest first (at most 3)."
    )
    actor_count = serializers.IntegerField(min_value=0, help_text="How many distinct actors.")
    summary = serializers.CharField(help_text='"Bob and 3 others · 4 notifications".')


class NotificationListItemSerializer(NotificationSerializer):
    group = GroupSerializer(
        required=False,
        allow_null=True,
        help_text="Only with view=grouped: the group this item stands for (its newest member), null if none.",
    )


class NotificationGroupSerializer(GroupSerializer):
    members = NotificationSerializer(many=True, help_text="The members, newest first (at most 100).")


VIEWS = ("flat", "grouped")


class NotificationListQuerySerializer(serializers.Serializer):
    view = serializers.ChoiceField(
        choices=VIEWS,
        required=False,
        help_text="flat (default): every notification; grouped: each group of unread notifications with the same "
        "category and group_key is one item, its newest member, with `group`.",
    )
    status = serializers.ChoiceField(
        choices=STATUS_FILTERS, required=False, help_text="Default: everything but archived."
    )
    category = serializers.ListField(child=serializers.SlugField(max_length=50), required=False)
    priority = serializers.ListField(child=serializers.ChoiceField(choices=Priority.choices), required=False)
    since = ExternalDateTimeField(required=False, help_text="Created at or after (ISO 8601).")
    before = ExternalDateTimeField(required=False, help_text="Created before (ISO 8601).")
    after_seq = serializers.IntegerField(
        min_value=0, max_value=SEQ_MAX, required=False, help_text="Only seq > n, oldest first (replay)."
    )
    page_size = serializers.IntegerField(min_value=1, max_value=100, required=False, help_text="Default 25.")
    cursor = serializers.CharField(required=False, max_length=200, help_text="From `next` / `previous`.")


class ChangeSerializer(serializers.Serializer):
    """A change names only the declared fields: any other key is a 400 naming it (never silently ignored), and
    nothing is written."""

    def to_internal_value(self, data: object) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {str(key): [f"This field cannot be changed; only {', '.join(self.fields)} can."] for key in unknown}
                )
        return super().to_internal_value(data)


class NotificationPatchSerializer(ChangeSerializer):
    """Only these keys; any other key is a 400 and nothing is written."""

    read = serializers.BooleanField(required=False)
    archived = serializers.BooleanField(required=False)
    saved = serializers.BooleanField(required=False, help_text="Star it (the Saved view) or take the star away.")
    snoozed_until = ExternalDateTimeField(
        required=False,
        allow_null=True,
        help_text="Snooze until this time (in the future, at most a year ahead); null brings it back now.",
    )

    def validate_snoozed_until(self, value: datetime | None) -> datetime | None:
        if value is not None:
            try:
                snooze_until_check(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict["snoozed_until"]) from None
        return value


class MarkAllReadSerializer(serializers.Serializer):
    up_to_seq = serializers.IntegerField(min_value=0, max_value=SEQ_MAX, required=False, allow_null=True)
    category = serializers.SlugField(max_length=50, required=False, allow_null=True)


class MarkSeenSerializer(serializers.Serializer):
    up_to_seq = serializers.IntegerField(min_value=0, max_value=SEQ_MAX)


class UpdatedSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class UnreadCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    groups = serializers.IntegerField(help_text="Unread with each group (category + group_key) counted once.")
    by_category = serializers.DictField(child=serializers.IntegerField(), help_text="category slug -> unread")


# --- Categories, preferences, export -----------------------------------------------------------------------------


class CategorySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    label = serializers.CharField()  # type: ignore[assignment]
    description = serializers.CharField(allow_blank=True)
    default_channels = serializers.ListField(child=serializers.ChoiceField(choices=ChannelKind.values))
    default_priority = serializers.ChoiceField(choices=Priority.choices)
    mandatory = serializers.BooleanField()


TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHoursSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    start = serializers.RegexField(TIME_PATTERN, allow_null=True, help_text="HH:MM")
    end = serializers.RegexField(TIME_PATTERN, allow_null=True, help_text="HH:MM")
    timezone = serializers.CharField(help_text="IANA time zone name, e.g. Europe/Paris.")


class QuietHoursPatchSerializer(QuietHoursSerializer):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for field in self.fields.values():
            field.required = False


CHANNELS_HELP = "category slug -> channel (in_app, email, push) -> enabled"


BUDGET_HELP = (
    "External interruptions per sliding hour (null: no limit). Past it, non-urgent notifications of non-mandatory "
    "categories go into the next digest email instead of a push or an email of their own."
)


class BudgetSerializer(serializers.Serializer):
    push_per_hour = serializers.IntegerField(min_value=1, max_value=1000, allow_null=True)
    email_per_hour = serializers.IntegerField(min_value=1, max_value=1000, allow_null=True)


class BudgetPatchSerializer(BudgetSerializer):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for field in self.fields.values():
            field.required = False


class PreferencesSerializer(serializers.Serializer):
    channels = serializers.DictField(
        child=serializers.DictField(child=serializers.BooleanField()), help_text=CHANNELS_HELP
    )
    quiet_hours = QuietHoursSerializer()
    email_digest = serializers.ChoiceField(choices=DigestCadence.values)
    muted_until = serializers.DateTimeField(allow_null=True, help_text="Do not disturb until (urgent still comes).")
    email_content = serializers.BooleanField(help_text="Include content in emails (private categories never do).")
    budget = BudgetSerializer(help_text=BUDGET_HELP)


class GroupMuteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    group_key = serializers.CharField()
    category = serializers.CharField(allow_null=True, help_text="Category slug; null: the group in every category.")
    until = serializers.DateTimeField(allow_null=True, help_text="Muted until; null: forever.")
    created_at = serializers.DateTimeField()


class PreferencesPatchSerializer(serializers.Serializer):
    """Any subset of the preferences document. Validated by preferences.services (all or nothing)."""

    channels = serializers.DictField(
        child=serializers.DictField(child=serializers.BooleanField()), required=False, help_text=CHANNELS_HELP
    )
    quiet_hours = QuietHoursPatchSerializer(required=False)
    email_digest = serializers.ChoiceField(choices=DigestCadence.values, required=False)
    muted_until = ExternalDateTimeField(required=False, allow_null=True)
    email_content = serializers.BooleanField(required=False)
    budget = BudgetPatchSerializer(required=False, help_text=BUDGET_HELP)


class ExportDeviceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)
    registration_id = serializers.CharField(help_text="Masked: only the last 4 characters are shown.")
    active = serializers.BooleanField()
    date_created = serializers.DateTimeField(allow_null=True)


class ExportDevicesSerializer(serializers.Serializer):
    apns = ExportDeviceSerializer(many=True)
    fcm = ExportDeviceSerializer(many=True)
    webpush = ExportDeviceSerializer(many=True)


class ExportUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)


class ExportSerializer(serializers.Serializer):
    user = ExportUserSerializer()
    notifications = NotificationSerializer(many=True)
    preferences = PreferencesSerializer()
    devices = ExportDevicesSerializer()
    mutes = GroupMuteSerializer(many=True, help_text="The group mutes in force.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- Validating request bodies ------------------------------------------------------------------------------------

_reused = threading.local()


def validated_data(serializer_class: type[serializers.Serializer], data: Any) -> Any:
    """`serializer_class(data=data)`, validated (a 400 with DRF's body if invalid), on an instance reused per thread.

    A new serializer deep-copies every declared field (each nested one re-created with its validators): measured, a
    tenth of a one-recipient send/ request. Fields keep no state between validations, so each request thread keeps
    one instance per class and gives it the next request's data, with is_valid's own checks and error shapes.
    Not re-entrant for one class within a thread (no serializer validates itself).
    """
    cache: dict[type, serializers.Serializer] = _reused.__dict__.setdefault("serializers", {})
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class(data=data)
    else:
        serializer.initial_data = data
        for attribute in ("_validated_data", "_errors", "_data"):
            serializer.__dict__.pop(attribute, None)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
