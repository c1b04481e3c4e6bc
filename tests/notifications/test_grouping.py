"""Live grouping by group_key: the grouped inbox, its summaries, the grouped counts, reading a group (REST too)."""

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import grouping, selectors, services
from notifications.models import Delivery, DeliveryStatus, Notification
from preferences.services import group_mute_create
from tests.factories import make_user, send
from tests.notifications.api.conftest import client_for

LIST = "/api/v1/notifications/"


@pytest.fixture
def carol(db):
    return make_user("carol", first_name="Carol", last_name="Jones")


def _comments(user, actors, key="post:42"):
    """One send per actor, oldest first, in one group; returns their notification ids, oldest first."""
    return [
        send([user], title=f"{a.username} commented on Fix login", group_key=key, actor=a).notification_ids[0]
        for a in actors
    ]


def test_the_phrase_names_actors_newest_first_and_counts_members():
    assert grouping.group_phrase([], 0, 1) == "1 notification"
    assert grouping.group_phrase(["Bob"], 1, 3) == "Bob · 3 notifications"
    assert grouping.group_phrase(["Bob", "Carol"], 2, 2) == "Bob and Carol · 2 notifications"
    assert grouping.group_phrase(["Dan", "Carol", "Bob"], 4, 4) == "Dan and 3 others · 4 notifications"
    assert grouping.group_phrase(["Dan", "Carol", "Bob"], 3, 5) == "Dan and 2 others · 5 notifications"


def test_a_group_is_one_item_its_newest_member_with_actors_newest_first_and_the_count(alice, bob, carol):
    # given four comments in one group (bob twice) and one notification without a key
    ids = _comments(alice, [bob, carol, bob, carol])
    solo = send([alice], title="Solo").notification_ids[0]
    # when the grouped list is read
    page = list(grouping.notifications_grouped(selectors.notification_list(user=alice), user=alice))
    summaries = grouping.page_group_summaries(user=alice, page=page)
    # then the group shows once, as its newest member, and the solo one on its own
    assert [n.uuid for n in page] == [solo, ids[-1]]
    summary = summaries[page[1].pk]
    assert summary.count == 4 and summary.member_ids == ids[::-1]
    assert summary.actors == ["Carol Jones", "bob"] and summary.actor_count == 2
    assert summary.summary == "Carol Jones and bob · 4 notifications"
    assert page[0].pk not in summaries  # no group for the one without a key
    # and the counts: four rows, two items
    assert selectors.notification_unread_count(user=alice) == 5
    assert grouping.notification_unread_groups(user=alice) == 2
    assert grouping.notification_unseen_groups(user=alice) == 2


def test_same_key_in_another_category_or_for_another_user_is_another_group(alice, bob):
    send([alice], title="c1", group_key="k")
    send([alice], title="m1", group_key="k", category="mention")
    send([alice, bob], title="c2", group_key="k")
    page = list(grouping.notifications_grouped(selectors.notification_list(user=alice), user=alice))
    assert [n.content.title for n in page] == ["c2", "m1"]
    summaries = grouping.page_group_summaries(user=alice, page=page)
    assert [summaries[n.pk].count for n in page] == [2, 1]
    assert grouping.notification_unread_groups(user=alice) == 2
    assert grouping.notification_unread_groups(user=bob) == 1


def test_read_archived_and_snoozed_members_are_not_in_the_group_and_show_on_their_own(alice, bob):
    first, second, third = _comments(alice, [bob, bob, bob])
    services.notification_mark_read(user=alice, ids=[first])
    page = list(grouping.notifications_grouped(selectors.notification_list(user=alice), user=alice))
    assert [n.uuid for n in page] == [third, first]
    assert grouping.page_group_summaries(user=alice, page=page)[page[0].pk].member_ids == [third, second]
    assert grouping.notification_unread_groups(user=alice) == 1


def _counts_through_contents(user) -> dict:
    """The counts as they were defined before the rows carried group_key: each unread row joined to its content."""
    unread = Notification.objects.filter(recipient=user, **selectors.UNREAD)
    keyed = unread.exclude(content__group_key="")
    pairs = set(keyed.values_list("category_id", "content__group_key"))
    by_category: dict[str, int] = {}
    for slug in unread.values_list("category__slug", flat=True):
        by_category[slug] = by_category.get(slug, 0) + 1
    return {
        "count": unread.count(),
        "by_category": by_category,
        "groups": unread.filter(content__group_key="").count() + len(pairs),
        "unseen_groups": unread.filter(seen_at__isnull=True, content__group_key="").count()
        + len(set(keyed.filter(seen_at__isnull=True).values_list("category_id", "content__group_key"))),
    }


def test_the_counts_from_the_rows_key_equal_the_counts_through_the_contents(alice, bob):
    # given unread groups (one key in two categories), rows without a key, and read, archived, snoozed and muted rows
    group_mute_create(user=alice, group_key="muted:1")
    for _ in range(3):
        send([alice, bob], category="comment", group_key="post:1")
    send([alice], category="mention", group_key="post:1")
    send([alice], category="mention", group_key="post:2")
    solo = [send([alice], category="comment").notification_ids[0] for _ in range(2)]
    read = send([alice], category="comment", group_key="post:3").notification_ids[0]
    archived = send([alice], category="security", group_key="post:4").notification_ids[0]
    snoozed = send([alice], category="mention", group_key="post:5").notification_ids[0]
    send([alice], category="comment", group_key="muted:1")  # written read: out of every count
    services.notification_mark_read(user=alice, ids=[read])
    services.notification_update_state(user=alice, ids=[archived, solo[0]], archived=True)
    services.notification_snooze(user=alice, ids=[snoozed], until=timezone.now() + timedelta(hours=1))
    services.notification_mark_seen(user=alice, up_to_seq=4)  # both post:1 groups seen, post:2 and the solo not
    # when the counts are read from the rows alone
    totals = grouping.notification_unread_totals(user=alice)
    counts = grouping.notification_unread_counts(user=alice)
    unseen = grouping.notification_unseen_groups(user=alice)
    hello = selectors.user_socket_state(user_id=alice.pk)
    # then they are what they were through the contents, and what the data says
    old = _counts_through_contents(alice)
    assert totals == {"count": 6, "by_category": {"comment": 4, "mention": 2}, "groups": 4}
    assert totals == {k: old[k] for k in ("count", "by_category", "groups")}
    assert counts == {"rows": 6, "groups": 4}
    assert unseen == old["unseen_groups"] == 2
    assert (hello.socket_unread, hello.socket_unread_groups) == (6, 4)
    assert grouping.notification_unread_totals(user=bob) == {"count": 3, "by_category": {"comment": 3}, "groups": 1}


def _plan_nodes(plan: dict) -> list[tuple[str, str]]:
    """(node type, index or relation) of every node of an EXPLAIN (FORMAT JSON) plan."""
    node = (plan["Node Type"], plan.get("Index Name") or plan.get("Relation Name") or "")
    return [node] + [n for child in plan.get("Plans", []) for n in _plan_nodes(child)]


@pytest.mark.django_db(transaction=True)
def test_every_unread_count_is_an_index_only_scan_of_the_partial_unread_index(postgres, alice, bob):
    # given unread rows with and without groups in two categories, read ones, for two users, and a vacuumed table
    # (an index-only scan needs the visibility map)
    for i in range(60):
        key = f"post:{i % 7}" if i % 3 else ""
        send([alice, bob], plan=False, category=("comment", "mention")[i % 2], group_key=key)
    services.notification_mark_all_read(user=bob)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Notification._meta.db_table}")
    # when the counts' one query is planned where the planner may not fall back to reading the table
    query = grouping._by_category(grouping.notification_unread_rows(user_id=alice.pk))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = json.loads(query.explain(format="json"))[0]["Plan"]
    # then every scan of the rows is an index-only scan of the unread index (one per partition), none reads rows
    scans = [(kind, name) for kind, name in _plan_nodes(plan) if "Scan" in kind]
    assert scans and all(kind == "Index Only Scan" for kind, _name in scans), scans
    assert all(name.startswith("notification_unread_idx") for _kind, name in scans), scans
    # and it counts what the rows say
    groups = 20 + len({(i % 2, i % 7) for i in range(60) if i % 3})  # rows without a key, distinct (category, key)
    assert grouping.notification_unread_counts(user=alice) == {"rows": 60, "groups": groups}


def test_the_grouped_page_is_two_queries_whatever_the_groups(alice, bob, carol):
    for key in ("a", "b", "c", "d"):
        _comments(alice, [bob, carol], key=key)
    with CaptureQueriesContext(connection) as ctx:
        page = list(grouping.notifications_grouped(selectors.notification_list(user=alice), user=alice)[:25])
        summaries = grouping.page_group_summaries(user=alice, page=page)
    assert len(page) == 4 and {s.count for s in summaries.values()} == {2}
    assert len(ctx.captured_queries) == 2


def test_reading_a_group_reads_its_members_up_to_it_and_cancels_their_pending_deliveries(alice, bob, carol):
    # given three members with pending email, and a member in another group
    ids = _comments(alice, [bob, carol, bob])
    other = _comments(alice, [bob], key="other")[0]
    assert Delivery.objects.filter(notification__uuid__in=ids, status=DeliveryStatus.PENDING).count() == 3
    # when the second (what the person saw as the group's newest) is read as a group
    changed = services.notification_group_mark_read(user=alice, id=ids[1])
    # then it and the older member are read, the newer one and the other group are not
    assert sorted(changed) == sorted(ids[:2])
    read = dict(Notification.objects.filter(recipient=alice).values_list("uuid", "read_at"))
    assert read[ids[0]] and read[ids[1]] and read[ids[2]] is None and read[other] is None
    assert Delivery.objects.filter(notification__uuid__in=ids[:2], status=DeliveryStatus.PENDING).count() == 0
    assert Delivery.objects.filter(notification__uuid=ids[2], status=DeliveryStatus.PENDING).count() == 1


def test_another_users_notification_cannot_be_read_as_a_group(alice, bob):
    ids = _comments(alice, [bob, bob])
    with pytest.raises(Notification.DoesNotExist):
        services.notification_group_mark_read(user=bob, id=ids[0])
    assert Notification.objects.filter(uuid__in=ids, read_at__isnull=True).count() == 2


# --- REST -----------------------------------------------------------------------------------------------------------


def test_the_inbox_stays_flat_by_default_and_groups_with_view_grouped(alice, bob, carol):
    ids = _comments(alice, [bob, carol, bob])
    client = client_for(alice)
    flat = client.get(LIST).json()["results"]
    assert [n["id"] for n in flat] == [str(i) for i in ids[::-1]]
    assert all("group" not in n for n in flat)
    assert flat[0]["actor_name"] == "bob"
    grouped = client.get(LIST, {"view": "grouped"}).json()["results"]
    assert [n["id"] for n in grouped] == [str(ids[-1])]
    assert grouped[0]["group"] == {
        "key": "post:42",
        "count": 3,
        "member_ids": [str(i) for i in ids[::-1]],
        "actors": ["bob", "Carol Jones"],
        "actor_count": 2,
        "summary": "bob and Carol Jones · 3 notifications",
    }


def test_a_grouped_item_without_a_group_has_group_null_and_unknown_views_are_a_400(alice):
    send([alice], title="Solo")
    client = client_for(alice)
    assert client.get(LIST, {"view": "grouped"}).json()["results"][0]["group"] is None
    response = client.get(LIST, {"view": "stacked"})
    assert response.status_code == 400 and "view" in response.json()


def test_unread_count_adds_groups(alice, bob):
    _comments(alice, [bob, bob, bob])
    send([alice], title="Solo")
    body = client_for(alice).get(f"{LIST}unread-count/").json()
    assert body == {"count": 4, "by_category": {"comment": 4}, "groups": 2}


def test_the_group_endpoint_lists_members_and_its_read_endpoint_reads_them(alice, bob):
    ids = _comments(alice, [bob, bob])
    client = client_for(alice)
    body = client.get(f"{LIST}{ids[0]}/group/").json()
    assert body["count"] == 2 and [m["id"] for m in body["members"]] == [str(i) for i in ids[::-1]]
    assert client.post(f"{LIST}{ids[1]}/group/read/").json() == {"updated": 2}
    assert Notification.objects.filter(uuid__in=ids, read_at__isnull=True).count() == 0
    # read now, each is on its own again
    alone = client.get(f"{LIST}{ids[0]}/group/").json()
    assert alone["count"] == 1 and [m["id"] for m in alone["members"]] == [str(ids[0])]
    assert client.post(f"{LIST}{ids[1]}/group/read/").json() == {"updated": 0}


def test_the_group_endpoints_answer_404_for_another_users_or_a_bad_id(alice, bob):
    ids = _comments(alice, [bob])
    client = client_for(bob)
    assert client.get(f"{LIST}{ids[0]}/group/").status_code == 404
    assert client.post(f"{LIST}{ids[0]}/group/read/").status_code == 404
    assert client.get(f"{LIST}not-a-uuid/group/").status_code == 404
    assert Notification.objects.get(uuid=ids[0]).read_at is None


# --- The server-rendered center ---------------------------------------------------------------------------------


def test_the_center_renders_a_group_as_one_item_with_its_summary_and_the_bell_counts_it_once(client, alice, bob, carol):
    ids = _comments(alice, [bob, carol, bob])
    send([alice], title="Solo")
    client.force_login(alice)
    html = client.get("/notifications/").content.decode()
    assert html.count('class="n-item') == 2
    assert f'id="n-{ids[-1]}"' in html and f'id="n-{ids[0]}"' not in html
    assert "bob and Carol Jones · 3 notifications" in html
    assert f'data-group-members="{ids[2]} {ids[1]} {ids[0]}"' in html
    assert 'aria-label="Notifications, 2 unread"' in html
    # the flat view and the other tabs list every row
    assert client.get("/notifications/?view=flat").content.decode().count('class="n-item') == 4
    assert client.get("/notifications/?status=all").content.decode().count('class="n-item') == 4


def test_the_centers_read_button_on_a_group_reads_the_group_without_javascript(client, alice, bob):
    ids = _comments(alice, [bob, bob])
    client.force_login(alice)
    response = client.post(f"/notifications/{ids[-1]}/state/", {"action": "read", "group": "1"})
    assert response.status_code == 302
    assert Notification.objects.filter(uuid__in=ids, read_at__isnull=True).count() == 0
    # and without the flag, one row only (as before)
    more = _comments(alice, [bob, bob], key="again")
    answer = client.post(f"/notifications/{more[-1]}/state/", {"action": "read"}, HTTP_ACCEPT="application/json")
    assert answer.json() == {"changed": [str(more[-1])], "read": True, "unread_count": 1, "unread_groups": 1}
