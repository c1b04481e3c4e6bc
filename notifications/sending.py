"""Sending: notify() and bulk sends (contract.md, Python API and REST send). Every producer comes through here.

Validates everything (fields, recipients, usernames, the idempotency key) before writing anything; the rows
themselves are written by notifications.inserts.
"""

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack
from uuid import UUID, uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from .categories import categories_by_slug
from .inserts import BATCH_SIZE, rows_after_insert, rows_fan_out, sends_insert_one_statement
from .models import Content, Notification
from .validation import IDEMPOTENCY_KEY_MAX, SendFields, SendSpec, send_validate

User = get_user_model()

USERNAMES_FIELD = "recipient_usernames"

# Bulks of up to this many items are written in one statement on PostgreSQL. Larger ones take the general path,
# whose fixed cost (~1.5 ms of round trips and ORM work) is small per item by then and whose statements are
# batched for any size; the one statement also grows by a placeholder row per item.
ONE_STATEMENT_SENDS = 50


class BulkValidationError(Exception):
    """Some items of a bulk send are invalid: `errors` maps item index -> field -> messages."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = errors


class IdempotencyConflict(Exception):
    """The idempotency key was already used by this producer for a different send."""


@dataclass
class SendResult:
    id: UUID
    content: Content
    recipient_count: int
    notification_ids: list[UUID] = field(default_factory=list)
    replayed: bool = False


Recipients = Iterable[AbstractBaseUser | int] | QuerySet[Any]


def recipients_resolve(recipients: Recipients, *, active: set[int] | None = None) -> list[int]:
    """Active user ids, sorted and unique. Unknown or inactive ids: ValidationError naming them.

    `active`: ids already known to be active users (a bulk send looks up every item's recipients at once).
    """
    if isinstance(recipients, QuerySet):
        return sorted(set(recipients.filter(is_active=True).values_list("pk", flat=True)))
    ids = recipient_ids_clean(recipients)
    wanted = set(ids)
    if active is not None:
        found = wanted & active
    else:
        found = _active_ids(ids)
    missing = sorted(wanted - found)
    if missing:
        shown = ", ".join(str(i) for i in missing[:50])
        raise ValidationError({"recipients": [f"Unknown or inactive user ids: {shown}."]})
    return ids


def recipient_ids_clean(recipients: Iterable[AbstractBaseUser | int]) -> list[int]:
    """The ids of these users or ids, sorted and unique, without asking the database whether they exist.
    Anything else, or none at all: ValidationError."""
    wanted: set[int] = set()
    bad: list[str] = []
    for item in recipients:
        if isinstance(item, AbstractBaseUser):
            wanted.add(item.pk)
        elif isinstance(item, int) and not isinstance(item, bool):
            wanted.add(item)
        else:
            bad.append(repr(item))
    if bad:
        raise ValidationError({"recipients": [f"Not user ids: {', '.join(bad[:20])}."]})
    if not wanted:
        raise ValidationError({"recipients": ["At least one recipient is required."]})
    return sorted(wanted)


def _active_ids(ids: Sequence[int]) -> set[int]:
    """Which of these ids are active users. On PostgreSQL one array parameter (`= ANY`): an IN list of 10,000
    placeholders cost more client CPU to build and bind than the query took."""
    if connection.vendor == "postgresql":
        table, pk = User._meta.db_table, User._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "{table}"."{pk}" FROM "{table}" WHERE "{table}"."{pk}" = ANY(%s) AND "{table}"."is_active"',
                [list(ids)],
            )
            return {row[0] for row in cursor.fetchall()}
    found: set[int] = set()
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        found.update(User.objects.filter(pk__in=chunk, is_active=True).values_list("pk", flat=True))
    return found


def send_fingerprint(spec: SendSpec, **target: Any) -> str:
    """Hash of a validated send and who it goes to (recipient ids or an audience), for idempotency checks."""
    canonical = json.dumps({"send": spec.canonical(), **target}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_build(
    spec: SendSpec, *, actor: Any, producer: str, idempotency_key: str, fingerprint: str, recipient_count: int
) -> Content:
    return Content(
        uuid=uuid4(),
        category=spec.category,
        priority=spec.priority,
        title=spec.title,
        body=spec.body,
        url=spec.url,
        image_url=spec.image_url,
        actions=spec.actions,
        data=spec.data,
        group_key=spec.group_key,
        expires_at=spec.expires_at,
        actor=actor if isinstance(actor, AbstractBaseUser) else None,
        producer=producer,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        recipient_count=recipient_count,
    )


def _replay(existing: Content) -> SendResult:
    ids = list(Notification.objects.filter(content=existing).order_by("id").values_list("uuid", flat=True))
    return SendResult(
        id=existing.uuid,
        content=existing,
        recipient_count=existing.recipient_count,
        notification_ids=ids,
        replayed=True,
    )


def producer_of(actor: Any, producer: str | None) -> str:
    return producer or (f"user:{actor.pk}" if isinstance(actor, AbstractBaseUser) else "system")


def content_create_once(
    spec: SendSpec, *, actor: Any, producer: str, key: str, fingerprint: str, recipient_count: int
) -> tuple[Content, bool]:
    """Insert the send's content, or find the one already sent with this (producer, idempotency key).

    Returns (content, created). The same key with another send raises IdempotencyConflict. A concurrent send with
    the same key blocks on the unique index until the first commits, then finds it.
    """
    existing = Content.objects.filter(producer=producer, idempotency_key=key).first() if key else None
    if existing is None:
        content = content_build(
            spec,
            actor=actor,
            producer=producer,
            idempotency_key=key,
            fingerprint=fingerprint,
            recipient_count=recipient_count,
        )
        if not key:  # nothing to collide with: no savepoint (two round trips) needed
            content.save(force_insert=True)
            return content, True
        try:
            with transaction.atomic():
                content.save(force_insert=True)
            return content, True
        except IntegrityError:
            existing = Content.objects.get(producer=producer, idempotency_key=key)
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key was already used for a different send.")
    return existing, False


# --- Usernames ----------------------------------------------------------------------------------------------------


def _usernames_lookup(names: Iterable[str]) -> dict[str, int]:
    """username -> id of the active users among these names (in chunks: SQLite caps bound parameters)."""
    wanted = sorted(set(names))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), BATCH_SIZE):
        chunk = wanted[start : start + BATCH_SIZE]
        found.update(User.objects.filter(username__in=chunk, is_active=True).values_list("username", "pk"))
    return found


def _usernames_ids(names: Iterable[str], found: Mapping[str, int]) -> list[int]:
    """The ids of these usernames among `found`; the one error every producer gives for unknown names."""
    names = list(names)
    bad = [repr(name) for name in names if not isinstance(name, str)]
    if bad:
        raise ValidationError({USERNAMES_FIELD: [f"Not usernames: {', '.join(bad[:20])}."]})
    wanted = set(names)
    missing = sorted(wanted - set(found))
    if missing:
        shown = ", ".join(missing[:50])
        raise ValidationError({USERNAMES_FIELD: [f"Unknown or inactive users: {shown}."]})
    return sorted({found[name] for name in wanted})


def usernames_resolve(names: Iterable[str]) -> list[int]:
    """Active users' ids for these usernames, sorted and unique (the REST `recipient_usernames`, the notify
    command's --to). Any unknown or inactive name: ValidationError on `recipient_usernames` naming them."""
    names = list(names)
    return _usernames_ids(names, _usernames_lookup(n for n in names if isinstance(n, str)))


# --- Sends --------------------------------------------------------------------------------------------------------


def notify(
    *,
    recipients: Recipients,
    actor: AbstractBaseUser | None = None,
    idempotency_key: str = "",
    producer: str | None = None,
    **fields: Unpack[SendFields],
) -> SendResult:
    """Send one notification to many recipients (contract.md, Python API); `fields` are a SendFields.

    Validates everything before writing anything. Runs in the caller's transaction (atomic nests as a savepoint);
    WebSocket frames and deliveries go out only after the outermost commit.
    The same (producer, idempotency_key) with the same send returns the first result; with another send raises
    IdempotencyConflict. Concurrent duplicates block on the unique index and then replay.
    """
    spec = send_validate(fields)
    key = idempotency_key_clean(idempotency_key)
    producer = producer_of(actor, producer)
    if connection.vendor == "postgresql" and not isinstance(recipients, QuerySet):
        recipient_ids = recipient_ids_clean(recipients)
        fingerprint = send_fingerprint(spec, recipients=recipient_ids)
        sent = _sends_one_statement(
            [(spec, recipient_ids)], actor=actor, producer=producer, key=key, fingerprint=fingerprint
        )
        if sent is not None:
            return sent[0]
    # The general path: also the one that names unknown recipients and replays an idempotent send.
    recipient_ids = recipients_resolve(recipients)
    fingerprint = send_fingerprint(spec, recipients=list(recipient_ids))

    with transaction.atomic():
        content, created = content_create_once(
            spec, actor=actor, producer=producer, key=key, fingerprint=fingerprint, recipient_count=len(recipient_ids)
        )
        if not created:
            return _replay(content)
        (rows,) = rows_fan_out([(content, recipient_ids)])
        rows_after_insert([(content, rows)])
    return SendResult(
        id=content.uuid, content=content, recipient_count=len(rows), notification_ids=[r.uuid for r in rows]
    )


def _sends_one_statement(
    prepared: Sequence[tuple[SendSpec, list[int]]], *, actor: Any, producer: str, key: str, fingerprint: str
) -> list[SendResult] | None:
    """Sends on PostgreSQL in one statement (inserts.sends_insert_one_statement); None when it wrote nothing.
    Each send's recipient ids sorted and unique (recipient_ids_clean), not yet checked against the users table;
    `key` and `fingerprint` only for a single send.

    Outside a transaction the statement is its own (no BEGIN/COMMIT round trips, and the after-commit work runs
    at once); inside the caller's, a savepoint keeps a failure from breaking it, as the general path's atomic does.
    """
    contents = [
        content_build(
            spec,
            actor=actor,
            producer=producer,
            idempotency_key=key,
            fingerprint=fingerprint,
            recipient_count=len(recipient_ids),
        )
        for spec, recipient_ids in prepared
    ]
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        per_send = sends_insert_one_statement(
            [(content, recipient_ids) for content, (_spec, recipient_ids) in zip(contents, prepared, strict=True)]
        )
        if per_send is None:
            return None
        rows_after_insert(list(zip(contents, per_send, strict=True)))
    return [
        SendResult(id=c.uuid, content=c, recipient_count=len(rows), notification_ids=[r.uuid for r in rows])
        for c, rows in zip(contents, per_send, strict=True)
    ]


def idempotency_key_clean(key: Any) -> str:
    if key in (None, ""):
        return ""
    if not isinstance(key, str) or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError(
            {"idempotency_key": [f"Must be printable text of at most {IDEMPOTENCY_KEY_MAX} characters."]}
        )
    return key


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else []


def _bulk_item_check(
    item: Mapping[str, Any], *, categories: Any, active: set[int], by_name: Mapping[str, int]
) -> tuple[SendSpec, list[int]]:
    """One bulk item checked against lookups made once for all items. Raises ValidationError with every problem
    the single send would name: its fields and its usernames together, its recipient ids once the fields are valid.
    """
    fields = dict(item)
    recipients = fields.pop("recipients", None)
    names = fields.pop(USERNAMES_FIELD, None)
    errors: dict[str, list[str]] = {}
    if recipients is not None and names is not None:
        errors["recipients"] = ["Give exactly one of recipients or recipient_usernames."]
    try:
        spec = send_validate(fields, categories=categories)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if names is not None and "recipients" not in errors:
        try:
            recipients = _usernames_ids(_listed(names), by_name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not errors:
        try:
            return spec, recipients_resolve(recipients if recipients is not None else [], active=active)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    raise ValidationError(errors)


def _bulk_prepare(sends: Sequence[Mapping[str, Any]]) -> list[tuple[SendSpec, list[int]]]:
    """Every item validated, and every recipient looked up (one query for the usernames of all items, one for the
    ids), before anything is written. Raises BulkValidationError naming every bad item."""
    categories = categories_by_slug()
    by_name = _usernames_lookup(n for item in sends for n in _listed(item.get(USERNAMES_FIELD)) if isinstance(n, str))
    every_id = {
        r.pk if isinstance(r, AbstractBaseUser) else r
        for item in sends
        for r in _listed(item.get("recipients"))
        if isinstance(r, AbstractBaseUser) or (isinstance(r, int) and not isinstance(r, bool))
    }
    active = _active_ids(sorted(every_id | set(by_name.values())))
    prepared: list[tuple[SendSpec, list[int]]] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(sends):
        try:
            prepared.append(_bulk_item_check(item, categories=categories, active=active, by_name=by_name))
        except ValidationError as exc:
            errors[index] = exc.message_dict
        except TypeError as exc:  # a key that is no send field
            errors[index] = {"non_field_errors": [str(exc)]}
    if errors:
        raise BulkValidationError(errors)
    return prepared


def _bulk_in_one_statement(sends: Sequence[Mapping[str, Any]], *, actor: Any, producer: str) -> list[SendResult] | None:
    """A small bulk whose items all name recipients by id, written as notify() writes one send: one statement
    instead of the general path's recipients query, BEGIN, contents, seqs, rows and COMMIT (a busy producer
    flushing whatever is due sends many bulks of one, two or a few). None when an item is not that simple or the
    statement wrote nothing (an unknown or inactive recipient): the general path then checks every item again and
    names every problem as a bulk does."""
    prepared: list[tuple[SendSpec, list[int]]] = []
    for item in sends:
        if USERNAMES_FIELD in item or not isinstance(item.get("recipients"), list | tuple):
            return None
        fields = dict(item)
        recipients = fields.pop("recipients")
        try:
            prepared.append((send_validate(fields), recipient_ids_clean(recipients)))
        except (ValidationError, TypeError):
            return None
    return _sends_one_statement(prepared, actor=actor, producer=producer, key="", fingerprint="")


def notification_send_bulk(
    *, sends: Sequence[Mapping[str, Any]], actor: AbstractBaseUser | None = None, producer: str | None = None
) -> list[SendResult]:
    """Many sends in one transaction, all or nothing: one seq statement and one INSERT batch for all of them.

    Each item is a send's fields (SendFields) and its recipients: `recipients` (users or ids) or
    `recipient_usernames`. Nothing is written unless every item is valid; otherwise one BulkValidationError names
    every bad item.
    """
    producer = producer_of(actor, producer)
    if connection.vendor == "postgresql" and 0 < len(sends) <= ONE_STATEMENT_SENDS:
        sent = _bulk_in_one_statement(sends, actor=actor, producer=producer)
        if sent is not None:
            return sent
    prepared = _bulk_prepare(sends)
    with transaction.atomic():
        contents = [
            content_build(
                spec,
                actor=actor,
                producer=producer,
                idempotency_key="",
                fingerprint="",
                recipient_count=len(ids),
            )
            for spec, ids in prepared
        ]
        Content.objects.bulk_create(contents, batch_size=500)
        if any(c.pk is None for c in contents):
            # Backends that cannot return ids from a bulk insert (PostgreSQL and SQLite 3.35+ can).
            by_uuid = dict(Content.objects.filter(uuid__in=[c.uuid for c in contents]).values_list("uuid", "pk"))
            for c in contents:
                c.pk = by_uuid[c.uuid]
        per_send = rows_fan_out([(c, ids) for c, (_spec, ids) in zip(contents, prepared, strict=True)])
        rows_after_insert(list(zip(contents, per_send, strict=True)))
    return [
        SendResult(id=c.uuid, content=c, recipient_count=len(rows), notification_ids=[r.uuid for r in rows])
        for c, rows in zip(contents, per_send, strict=True)
    ]
