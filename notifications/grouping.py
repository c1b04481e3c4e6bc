"""Live grouping by group_key: the reads behind the grouped inbox, the grouped unread count and the group summary.

A group is (recipient, category, group_key) over the UNREAD rows (not read, not archived, not snoozed) with a
non-empty group_key: the grouped inbox shows it as one item, its newest member, with a summary ("Bob and 3 others ·
4 notifications"). Everything else (read rows, archived, snoozed, an empty group_key) is an item of its own. So a
group disappears once read: its members show flat again, as what they are, history.

Query shape: the grouped page is the flat page (same seq cursor, same filters) without the members that are not the
newest of their group, one query; the summaries of the page's groups are one more query (a window over their unread
members), never one per group. Both read the user's unread rows only, through the partial unread index.

The key is the row's own copy of its content's (Notification.group_key, written by every insert, never changed):
the counts are index-only scans of the partial unread index (recipient, category, group_key), no join to contents.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from .categories import category_slugs_by_id
from .models import Notification
from .payloads import notification_item
from .selectors import UNREAD

# Member ids a summary lists (newest first); `count` is always the exact number of members.
GROUP_MEMBERS_MAX = 100
# Actor names a summary carries (distinct, newest first); `actor_count` is how many distinct ones there are.
GROUP_ACTORS_MAX = 3

GroupIdentity = tuple[int, str]  # (category id, group_key); the recipient is always the user asking


def actor_display_name(*, first_name: str = "", last_name: str = "", username: str = "") -> str:
    """How a person is named in a summary: their full name, else their username."""
    return f"{first_name} {last_name}".strip() or username


def group_phrase(actors: Sequence[str], actor_count: int, count: int) -> str:
    """ "Bob and 3 others · 4 notifications": who (newest first), then how many. static/notifications/grouping.js
    writes exactly the same text for groups it updates live (tested)."""
    if not actors:
        who = ""
    elif actor_count == 1:
        who = actors[0]
    elif actor_count == 2 and len(actors) >= 2:
        who = f"{actors[0]} and {actors[1]}"
    else:
        others = actor_count - 1
        who = f"{actors[0]} and {others} other{'s' if others != 1 else ''}"
    how_many = f"{count} notification{'s' if count != 1 else ''}"
    return f"{who} · {how_many}" if who else how_many


@dataclass
class GroupSummary:
    """One group as clients see it (REST `group`, the center's item)."""

    key: str
    count: int = 0
    member_ids: list[UUID] = field(default_factory=list)  # newest first, at most GROUP_MEMBERS_MAX
    actors: list[str] = field(default_factory=list)  # distinct names, newest first, at most GROUP_ACTORS_MAX
    actor_count: int = 0
    actor_ids: list[int] = field(default_factory=list)  # every distinct actor (the page counts newcomers with it)
    unseen: bool = False  # a member was not seen yet (the bell's badge counts the group once)

    @property
    def summary(self) -> str:
        return group_phrase(self.actors, self.actor_count, self.count)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "member_ids": [str(i) for i in self.member_ids],
            "actors": self.actors,
            "actor_count": self.actor_count,
            "summary": self.summary,
        }


def is_groupable(notification: Notification) -> bool:
    """Whether the row belongs to a group now: unread (not archived, not snoozed) with a group_key."""
    return bool(
        notification.group_key
        and notification.read_at is None
        and notification.archived_at is None
        and notification.snoozed_until is None
    )


def _unread_grouped(user: AbstractBaseUser) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient_id=user.pk, **UNREAD).exclude(group_key="")


def notifications_grouped(qs: QuerySet[Notification], *, user: AbstractBaseUser) -> QuerySet[Notification]:
    """A list of the user's notifications (selectors.notification_list, any filters and order) with each group
    reduced to its newest member. The heads are one aggregate over the user's unread rows, evaluated once by the
    database (a hashed IN), so the page stays one query whatever the groups."""
    heads = _unread_grouped(user).values("category_id", "group_key").annotate(head=Max("seq")).values("head").order_by()
    return qs.filter(~Q(**UNREAD) | Q(group_key="") | Q(seq__in=heads))


def group_summaries(
    *, user: AbstractBaseUser, identities: Iterable[GroupIdentity]
) -> dict[GroupIdentity, GroupSummary]:
    """The summaries of these groups of the user in one query: their unread members newest first, ranked within
    each group, at most GROUP_MEMBERS_MAX each, with each group's total."""
    wanted = set(identities)
    if not wanted:
        return {}
    partition = [F("category_id"), F("group_key")]
    rows = (
        _unread_grouped(user)
        .filter(category_id__in={c for c, _k in wanted}, group_key__in={k for _c, k in wanted})
        .annotate(
            rank=Window(RowNumber(), partition_by=partition, order_by=F("seq").desc()),
            total=Window(Count("pk"), partition_by=partition),
        )
        .filter(rank__lte=GROUP_MEMBERS_MAX)
        .order_by("-seq")
        .values_list(
            "category_id",
            "group_key",
            "uuid",
            "seen_at",
            "total",
            "content__actor_id",
            "content__actor__first_name",
            "content__actor__last_name",
            "content__actor__username",
        )
    )
    summaries: dict[GroupIdentity, GroupSummary] = {}
    actor_ids: dict[GroupIdentity, list[int]] = {}
    for category_id, key, uuid, seen_at, total, actor_id, first, last, username in rows:
        identity = (category_id, key)
        if identity not in wanted:  # same category and key, each from another pair
            continue
        summary = summaries.setdefault(identity, GroupSummary(key=key, count=total))
        summary.member_ids.append(uuid)
        summary.unseen = summary.unseen or seen_at is None
        seen = actor_ids.setdefault(identity, [])
        if actor_id is not None and actor_id not in seen:
            seen.append(actor_id)
            if len(summary.actors) < GROUP_ACTORS_MAX:
                summary.actors.append(actor_display_name(first_name=first, last_name=last, username=username))
    for identity, summary in summaries.items():
        summary.actor_ids = actor_ids[identity]
        summary.actor_count = len(summary.actor_ids)
    return summaries


def page_group_summaries(*, user: AbstractBaseUser, page: Sequence[Notification]) -> dict[int, GroupSummary]:
    """The summary of each grouped item of a page, by row pk (one query for the page)."""
    identities = {n.pk: (n.category_id, n.group_key) for n in page if is_groupable(n)}
    summaries = group_summaries(user=user, identities=identities.values())
    return {pk: summaries[identity] for pk, identity in identities.items() if identity in summaries}


def notification_items_grouped(*, user: AbstractBaseUser, page: Sequence[Notification]) -> list[dict[str, Any]]:
    """What templates render for a grouped page: each item (payloads.notification_item) with `group` when it stands
    for a group, carrying what the live module needs to merge newcomers into it (data-group-* attributes)."""
    summaries = page_group_summaries(user=user, page=page)
    items = []
    for n in page:
        item = notification_item(n)
        summary = summaries.get(n.pk)
        if summary is not None:
            item["group"] = {
                **summary.as_dict(),
                "unseen": summary.unseen,
                "members_attr": " ".join(str(i) for i in summary.member_ids),
                "actors_json": json.dumps(summary.actors),
                "actor_ids_attr": " ".join(str(i) for i in summary.actor_ids),
            }
        items.append(item)
    return items


def group_members(*, user: AbstractBaseUser, notification: Notification) -> QuerySet[Notification]:
    """The unread members of the notification's group up to it (newest first): what reading it reads. A member
    that arrived after it is not included: the person has not seen it yet. Not groupable: just itself."""
    if not is_groupable(notification):
        return Notification.objects.filter(pk=notification.pk)
    return _unread_grouped(user).filter(
        category_id=notification.category_id,
        group_key=notification.group_key,
        seq__lte=notification.seq,
    )


def _by_category(qs: QuerySet[Notification]) -> QuerySet[Notification, tuple[int, int, int, int]]:
    """(category id, rows, rows without a group_key, distinct group_keys among the others) of these rows, one
    aggregate grouped by category. Reads only (recipient, category, group_key): over unread rows, an index-only scan
    of the partial unread index (tests/notifications/test_grouping.py checks the plan on PostgreSQL)."""
    return (
        qs.values("category_id")
        .annotate(
            rows=Count("*"),
            solo=Count("group_key", filter=Q(group_key="")),  # never null; Django allows no filter on COUNT(*)
            keys=Count("group_key", filter=~Q(group_key=""), distinct=True),
        )
        .order_by()
        .values_list("category_id", "rows", "solo", "keys")
    )


def notification_unread_rows(*, user_id: int) -> QuerySet[Notification]:
    """A user's unread rows, with exactly the conditions of the partial unread index (every unread count starts
    here)."""
    return Notification.objects.filter(recipient_id=user_id, **UNREAD)


def _count_by_category(qs: QuerySet[Notification]) -> list[tuple[int, int, int]]:
    """(category id, rows, items) of these rows: items are the rows without a group_key, each on its own, plus the
    distinct group_keys among the others (the same key in two categories is two groups)."""
    return [(category_id, int(n), int(solo) + int(keys)) for category_id, n, solo, keys in _by_category(qs)]


def _count_grouped(qs: QuerySet[Notification]) -> dict[str, int]:
    """Rows, and items with each group once, in one query."""
    counts = _count_by_category(qs)
    return {"rows": sum(n for _c, n, _i in counts), "groups": sum(items for _c, _n, items in counts)}


def notification_unread_counts(*, user: AbstractBaseUser) -> dict[str, int]:
    """{"rows": the unread count (contract), "groups": with each group counted once (the bell)}: one index-only
    query."""
    return _count_grouped(notification_unread_rows(user_id=user.pk))


def notification_unread_totals(*, user: AbstractBaseUser) -> dict[str, Any]:
    """What GET unread-count/ answers, in ONE index-only query: {"count": unread rows, "by_category": category slug
    -> unread rows (only categories with some), "groups": unread with each group counted once}. The slugs come
    from the process's category cache, not from a query."""
    counts = _count_by_category(notification_unread_rows(user_id=user.pk))
    slugs = category_slugs_by_id(c for c, _n, _i in counts)
    return {
        "count": sum(n for _c, n, _i in counts),
        "by_category": {slugs[c]: n for c, n, _i in counts if c in slugs},
        "groups": sum(items for _c, _n, items in counts),
    }


def notification_unread_groups(*, user: AbstractBaseUser) -> int:
    """The unread count with each group counted once (the bell)."""
    return notification_unread_counts(user=user)["groups"]


def notification_unseen_groups(*, user: AbstractBaseUser) -> int:
    """Unread and unseen, each group counted once (the badge: new since the bell was last opened)."""
    return _count_grouped(Notification.objects.filter(recipient_id=user.pk, **UNREAD, seen_at__isnull=True))["groups"]
