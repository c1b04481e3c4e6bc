"""The write path (notifications.inserts): every way rows are inserted copies the content's group_key onto them."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import services
from notifications.models import Content, Notification
from preferences.services import group_mute_create
from tests.factories import make_user, send

# Characters an array literal or a CSV-like encoding would mangle: the key must arrive exactly as sent.
ODD_KEY = 'post:42,"quoted" {braced} \\back é'


def _keys(content: Content) -> dict[str, str]:
    """username -> group_key of each row of a send."""
    rows = Notification.objects.filter(content=content).values_list("recipient__username", "group_key")
    return dict(rows)


def _one_statement_ran(ctx: CaptureQueriesContext) -> bool:
    return any(q["sql"].startswith("WITH r AS (SELECT u.") for q in ctx.captured_queries)


def test_the_one_statement_send_writes_the_group_key_on_every_row_muted_or_not(postgres, alice, bob):
    # given bob muted the group
    group_mute_create(user=bob, group_key=ODD_KEY)
    # when a send with that key goes to both (PostgreSQL: the one-statement path)
    with CaptureQueriesContext(connection) as ctx:
        result = send([alice.pk, bob.pk], group_key=ODD_KEY, plan=False)
    # then both rows carry the key, bob's written muted
    assert _one_statement_ran(ctx)
    assert _keys(result.content) == {"alice": ODD_KEY, "bob": ODD_KEY}
    assert Notification.objects.get(content=result.content, recipient=bob).muted is True


def test_the_one_statement_send_without_a_key_writes_the_empty_key(postgres, alice):
    with CaptureQueriesContext(connection) as ctx:
        result = send([alice.pk], plan=False)
    assert _one_statement_ran(ctx)
    assert _keys(result.content) == {"alice": ""}


def test_the_general_send_path_writes_the_group_key(alice, bob):
    # given recipients as a queryset: the general path on every database
    recipients = type(alice).objects.filter(pk__in=[alice.pk, bob.pk])
    group_mute_create(user=bob, group_key=ODD_KEY)
    # when sent
    with CaptureQueriesContext(connection) as ctx:
        result = send(recipients, group_key=ODD_KEY, plan=False)
    # then every row (the muted one too) carries the key
    assert not _one_statement_ran(ctx)
    assert _keys(result.content) == {"alice": ODD_KEY, "bob": ODD_KEY}


def test_a_bulk_send_writes_each_sends_own_key(alice, bob):
    # when three sends with different keys (one without) are written in one bulk call
    results = services.notification_send_bulk(
        sends=[
            {"recipients": [alice.pk, bob.pk], "category": "comment", "title": "a", "group_key": ODD_KEY},
            {"recipients": [alice.pk], "category": "comment", "title": "b"},
            {"recipients": [bob.pk], "category": "mention", "title": "c", "group_key": "thread:7"},
        ]
    )
    # then each row has its own send's key
    assert [_keys(r.content) for r in results] == [
        {"alice": ODD_KEY, "bob": ODD_KEY},
        {"alice": ""},
        {"bob": "thread:7"},
    ]


def test_an_audience_broadcast_writes_the_key_in_every_batch(alice, bob):
    # given a third user and a broadcast to everyone with a key
    carol = make_user("carol")
    result = services.notification_broadcast(audience="all", category="comment", title="hi", group_key=ODD_KEY)
    # when the fan-out writes it one user per batch
    while services.notification_broadcast_batch(content_id=result.content.pk, audience="all", batch_size=1):
        pass
    # then every row carries the key
    assert _keys(result.content) == {"alice": ODD_KEY, "bob": ODD_KEY, carol.username: ODD_KEY}


def test_an_update_of_the_send_leaves_the_rows_key_as_it_is(alice):
    # given a sent notification with a key
    result = send([alice], group_key="post:1", plan=False)
    # when its producer updates it (the update cannot change the key) and snoozes and wakes it
    services.notification_update(send_id=result.id, title="changed")
    row = Notification.objects.get(content=result.content)
    assert services.notification_snooze(user=alice, ids=[row.uuid], until=timezone.now() + timedelta(hours=1))
    assert services.notification_snooze(user=alice, ids=[row.uuid], until=None)
    # then the row's key is still the content's
    row.refresh_from_db()
    assert row.group_key == "post:1" == Content.objects.get(pk=result.content.pk).group_key
