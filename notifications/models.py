"""Notification data model: content stored once per send, one narrow row per recipient.

See docs/architecture.md. Indexes match exactly the queries in selectors.py.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Sensitivity(models.TextChoices):
    NORMAL = "normal", "Normal"
    # Push and email show generic text; the content is only visible in the app after login.
    PRIVATE = "private", "Private"


class ChannelKind(models.TextChoices):
    """User-facing channels a preference can switch (in-app, email, push)."""

    IN_APP = "in_app", "In-app"
    EMAIL = "email", "Email"
    PUSH = "push", "Push"


def default_channels() -> list[str]:
    return [ChannelKind.IN_APP, ChannelKind.EMAIL, ChannelKind.PUSH]


class Category(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    default_channels = models.JSONField(default=default_channels)
    default_priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    mandatory = models.BooleanField(default=False, help_text="Cannot be turned off for in-app and email.")
    sensitivity = models.CharField(max_length=10, choices=Sensitivity.choices, default=Sensitivity.NORMAL)
    escalate_after = models.PositiveIntegerField(
        default=300, help_text="Seconds to wait before email/push; skipped if read meanwhile."
    )
    digestible = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.label

    @property
    def is_private(self) -> bool:
        return self.sensitivity == Sensitivity.PRIVATE


class Content(models.Model):
    """What was sent: one row per send, shared by every recipient."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(max_length=2000, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    image_url = models.CharField(max_length=2000, blank=True)
    actions = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    group_key = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who produced the send ("user:<id>", "cli", "admin", "system"): the scope of idempotency keys.
    producer = models.CharField(max_length=100, default="system")
    idempotency_key = models.CharField(max_length=255, blank=True)
    # Hash of the validated send, to tell "same key, same send" from "same key, other content".
    fingerprint = models.CharField(max_length=64, blank=True)
    recipient_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Set by the producer's update (notification_update): clients and deliveries read the current content.
    updated_at = models.DateTimeField(null=True, blank=True)
    # Retracted by its producer: out of every inbox, count and replay; pending email/push skipped (retraction.py).
    retracted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("send_notification", "Can send notifications"),
            ("broadcast_notification", "Can broadcast notifications to an audience"),
            ("view_dashboard", "Can view the staff dashboard"),
            ("manage_any_notification", "Can update or retract any producer's notifications"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["producer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="content_idempotency_unique",
            )
        ]
        indexes = [
            # Retract by group_key ("the comment was deleted"): one producer's sends with that key.
            models.Index(
                fields=["producer", "group_key"], condition=~Q(group_key=""), name="content_producer_group_idx"
            ),
            # A resume's catch-up (selectors.notification_changed_since): the few sends changed since a time.
            models.Index(fields=["updated_at"], condition=Q(updated_at__isnull=False), name="content_updated_idx"),
            models.Index(
                fields=["retracted_at"], condition=Q(retracted_at__isnull=False), name="content_retracted_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category_id}: {self.title[:50]}"


class Notification(models.Model):
    """One narrow row per recipient. `seq` is per user, gap-free and monotonic in commit order."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: the unique (recipient, seq) index leads with recipient. A second one cost every insert
    # and lured the planner away from the partial unread index (docs/performance.md, S7).
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed by notification_content_user_idx (content first), not by an index of its own. No foreign key
    # constraint: every write path either inserts the content in the same transaction as its rows (so nobody can
    # delete it before they commit) or, an audience broadcast's batches, holds the content's row lock while writing
    # them and stops when it is gone; deleting a content through the ORM still deletes its rows (CASCADE is Django's).
    # The constraint was a deferred trigger per inserted row, ~12 % of a 1,000-recipient send (migration 0018).
    content = models.ForeignKey(
        Content, on_delete=models.CASCADE, related_name="notifications", db_index=False, db_constraint=False
    )
    # Copied from content so unread-by-category and category filters need no join. No foreign key constraint and no
    # index of its own: the content's category is protected (a category with sends cannot be deleted), and every row
    # copies its content's, so a second check per inserted row and a second index to maintain bought nothing; the
    # user-facing queries that name it lead with the recipient (notification_unread_idx, the inbox's recipient_seq
    # index); the admin's category filter walks created_at instead.
    category = models.ForeignKey(
        Category, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # Copied from content (every insert path writes it; no update changes a send's group_key) so the grouped unread
    # counts ("Bob and 3 others") read the partial unread index alone, without a join to each row's content.
    # db_default: raw INSERTs that do not name it write "" (no group).
    group_key = models.CharField(max_length=200, blank=True, default="", db_default="")
    seq = models.BigIntegerField()
    created_at = models.DateTimeField()
    seen_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Starred: kept in the Saved view whatever its read or archive state.
    saved_at = models.DateTimeField(null=True, blank=True)
    # Snoozed: out of the inbox and the unread count until then; the wake sweep brings it back (services).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Sent into a group its recipient had muted (preferences.GroupMute). Such a row is written already seen and read
    # (at its creation): every unread count, index and badge, the consumer's count and the planner (which plans only
    # unread rows) then leave it out as they are, with no extra condition on their hot queries; this flag says why,
    # for clients (no toast) and the "why". db_default: raw INSERTs that do not name it write false.
    muted = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            # Also the index for the inbox page (recipient, seq desc) and replay (recipient, seq > n).
            models.UniqueConstraint(fields=["recipient", "seq"], name="notification_recipient_seq_unique"),
        ]
        indexes = [
            # Unread count per user, by category and by group: a small partial index, read alone (index-only) by
            # every unread count. Archived and snoozed are not unread (not shown); every unread query names all three
            # conditions, or PostgreSQL cannot use it.
            models.Index(
                fields=["recipient", "category", "group_key"],
                condition=Q(read_at__isnull=True, archived_at__isnull=True, snoozed_until__isnull=True),
                name="notification_unread_idx",
            ),
            # A send's rows (retraction, update, cascade) and, with recipient, one user's row of a changed send (a
            # resume's catch-up probes it per changed send instead of walking the user's history).
            models.Index(fields=["content", "recipient"], name="notification_content_user_idx"),
            # Retention purge walks by age.
            models.Index(fields=["created_at"], name="notification_created_idx"),
            # The Saved view, newest first: only starred rows are in it (a handful per user, not the history).
            models.Index(
                fields=["recipient", "-seq"], condition=Q(saved_at__isnull=False), name="notification_saved_idx"
            ),
            # The Snoozed view (per user) and the wake sweep (due first, every user): only snoozed rows.
            models.Index(
                fields=["recipient", "-seq"],
                condition=Q(snoozed_until__isnull=False),
                name="notification_snoozed_idx",
            ),
            models.Index(
                fields=["snoozed_until"], condition=Q(snoozed_until__isnull=False), name="notification_wake_idx"
            ),
        ]

    def __str__(self) -> str:
        # What staff recognise (admin titles, breadcrumbs, delivery rows): the send and the person. Lists that show
        # it select_related content and recipient.
        return f"{self.content.title[:50]} → {self.recipient.get_username()}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class UserSeq(models.Model):
    """The last seq handed to a user. Row-locked by the allocating statement until commit: no gaps, no reuse."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.last_seq}"


class DeliveryChannel(models.TextChoices):
    """External delivery channels (not Django Channels)."""

    EMAIL = "email", "Email"
    APNS = "apns", "APNs"
    FCM = "fcm", "FCM"
    WEBPUSH = "webpush", "Web Push"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead"


class SkipReason(models.TextChoices):
    """Why a delivery was skipped (Delivery.skip_reason): the re-check before sending, or a read that cancelled it.

    The column carries no `choices` yet: that is a migration of its own, left out so this one does not collide with
    other schema work; the values are exactly what rows already hold.
    """

    READ = "read", "Read"
    ARCHIVED = "archived", "Archived"
    EXPIRED = "expired", "Expired"
    USER_INACTIVE = "user_inactive", "User inactive"
    PREFERENCE_OFF = "preference_off", "Preference off"
    NO_ADDRESS = "no_address", "No email address"
    DEVICE_INACTIVE = "device_inactive", "Device inactive"
    CHANNEL_OFF = "channel_off", "Delivery channel not configured"
    RETRACTED = "retracted", "Retracted by its producer"
    MUTED = "muted", "Group muted"
    # A push past the user's fatigue budget: not sent; the notification goes into the next digest email instead.
    BUDGET = "budget", "Past the budget"


class Delivery(models.Model):
    """One notification x external delivery channel x target. Unique, so a retry never sends twice."""

    # No database constraint: PostgreSQL partitions the notification table by time (migration 0012) and a foreign
    # key needs a unique index on id alone there. Deletes cascade in the ORM's collector; retention deletes these
    # rows with their partition (delivery/partitions.py).
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    # Copied from the notification when planned, so the fatigue budget counts a user's last hour on its own index
    # (delivery_budget_idx) instead of a join through every notification of the user. No constraint and no cascade
    # of its own: the notification's cascade removes the row. Null on rows planned before it existed.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    channel = models.CharField(max_length=10, choices=DeliveryChannel.choices)
    # Device primary key for push, "" for the user's email address.
    target = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    due_at = models.DateTimeField()
    digest = models.BooleanField(default=False, help_text="Batched into the user's digest email.")
    # Why planning held it back when the due time alone cannot tell ("budget": put into the digest by the user's
    # fatigue budget). db_default: raw INSERTs that do not name it write "".
    held_by = models.CharField(max_length=20, blank=True, default="", db_default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    skip_reason = models.CharField(max_length=50, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Handed to a worker until then: the dispatcher's scan skips leased rows (a lost task is retried after it).
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel", "target"], name="delivery_unique_target"),
        ]
        indexes = [
            # The staff dashboard's funnel and slowest deliveries read a window of recent rows.
            models.Index(fields=["created_at"], name="delivery_created_idx"),
            # The dispatcher's scan: due work only.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["pending", "failed"]),
                name="delivery_due_idx",
            ),
            # The fatigue budget: a user's own emails and pushes of the last hour (digest rows never count).
            models.Index(fields=["recipient", "created_at"], condition=Q(digest=False), name="delivery_budget_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} for notification {self.notification_id}: {self.status}"


class IdempotencyRecord(models.Model):
    """API-level idempotency: the first response to a (sender, key), replayed for the same body."""

    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sender", "key"], name="idempotency_sender_key_unique")]

    def __str__(self) -> str:
        return f"{self.sender_id}:{self.key}"


class WsTicket(models.Model):
    """A single-use, short-lived credential for opening a WebSocket without a session cookie (token clients).

    Only a hash of the ticket is stored: a leaked table cannot open sockets.
    """

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"ticket for {self.user_id} until {self.expires_at:%H:%M:%S}"


class DeliveryPlanPending(models.Model):
    """Transactional outbox: the external deliveries of these rows still have to be planned.

    Written in the send's own transaction (one row per content per call), so a send that committed is always planned:
    a worker woken after commit plans and deletes it, and a periodic sweep plans whatever a lost task left behind.
    The recipient range bounds the rows of this call: an audience broadcast writes one content in several batches.
    """

    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="+")
    recipient_min = models.BigIntegerField()
    recipient_max = models.BigIntegerField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "delivery plans pending"

    def __str__(self) -> str:
        return f"plan content {self.content_id} users {self.recipient_min}-{self.recipient_max}"


class WebhookEventType(models.TextChoices):
    """What a webhook endpoint can subscribe to. Delivery events are per external delivery channel."""

    READ = "notification.read", "Notification read"
    ARCHIVED = "notification.archived", "Notification archived"
    RETRACTED = "notification.retracted", "Notification retracted"
    EMAIL_DELIVERED = "delivery.email.delivered", "Email delivered"
    EMAIL_FAILED = "delivery.email.failed", "Email failed"
    APNS_DELIVERED = "delivery.apns.delivered", "APNs push delivered"
    APNS_FAILED = "delivery.apns.failed", "APNs push failed"
    FCM_DELIVERED = "delivery.fcm.delivered", "FCM push delivered"
    FCM_FAILED = "delivery.fcm.failed", "FCM push failed"
    WEBPUSH_DELIVERED = "delivery.webpush.delivered", "Web Push delivered"
    WEBPUSH_FAILED = "delivery.webpush.failed", "Web Push failed"


class WebhookEndpoint(models.Model):
    """Where a producer's events are posted: registered by staff for one producer (the user whose token sends)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    producer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    # The HMAC key. Stored (signing needs it), shown once when created, masked everywhere after, never logged.
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Failed posts in a row, and when the first of them failed: sustained failure disables the endpoint.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("manage_webhooks", "Can manage webhook endpoints")]

    def __str__(self) -> str:
        return f"{self.url[:80]} ({'active' if self.active else 'disabled'})"

    @property
    def producer_key(self) -> str:
        """The Content.producer value of this producer's sends."""
        return f"user:{self.producer_id}"

    @property
    def secret_masked(self) -> str:
        return f"{self.secret[:6]}…{self.secret[-4:]}" if self.secret else ""


class WebhookDelivery(models.Model):
    """One POST to an endpoint: a batch of events, through the same states and backoff as Delivery."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # Built once, when the batch is formed: every attempt posts the same bytes (with a fresh timestamp).
    body = models.TextField()
    event_count = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status__in=["pending", "failed"]), name="webhook_due_idx"),
            # Retention purges by age.
            models.Index(fields=["created_at"], name="webhook_delivery_created_idx"),
        ]

    def __str__(self) -> str:
        return f"webhook {self.endpoint_id}: {self.event_count} events, {self.status}"


class WebhookEventPending(models.Model):
    """An event recorded on the state-change path (one bulk insert per change), not yet in a batch: the outbox of
    webhooks. A worker groups them per endpoint into WebhookDelivery batches and deletes them."""

    # Indexed by (endpoint, id) below: the batching walk.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No database constraint, as Delivery.notification (the partitioned table).
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    event = models.CharField(max_length=40, choices=WebhookEventType.choices)
    occurred_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "webhook events pending"
        indexes = [models.Index(fields=["endpoint", "id"], name="webhook_event_endpoint_idx")]

    def __str__(self) -> str:
        return f"{self.event} of notification {self.notification_id} for endpoint {self.endpoint_id}"
