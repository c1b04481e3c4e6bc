"""The browser suite's data, shared by the seed script (which writes it) and the tests (which expect it)."""

from dataclasses import dataclass

PASSWORD = "browser-pass-123"
# One user per test so tests sharing one live server never see each other's notifications.
USERS = [
    "alice",
    "carol",
    "dave",
    "erin",
    "frank",
    "gina",
    "hank",
    "ivan",
    "jack",
    "kate",
    "liam",
    "mia",
    "judy",
    "nora",
    "omar",
    "pia",
    "rita",  # producer update and retract, live
    "sara",  # the service worker closes a retracted push
    "quinn",
    "rosa",
    "tess",  # live grouping (nothing seeded)
    "uma",  # retract and update while the socket is cut, caught up on resume (nothing seeded)
]
SENDER = "bob"
STAFF = "sam"  # a superuser for the admin pages


@dataclass(frozen=True)
class Item:
    title: str
    category: str
    priority: str
    days_ago: int
    read: bool = False
    archived: bool = False
    url: str = ""
    group_key: str = ""


CATEGORIES = ["comment", "mention", "follow", "system", "announcement"]
PRIORITIES = ["normal", "high", "low", "urgent"]


def carol_items() -> list[Item]:
    """28 notifications, oldest first: five from last month (35-39 days ago), every third read, #27 archived."""
    items = []
    for i in range(1, 29):
        items.append(
            Item(
                title=f"Carol item {i:02d}",
                category=CATEGORIES[i % len(CATEGORIES)],
                priority=PRIORITIES[i % len(PRIORITIES)],
                days_ago=40 - i if i <= 5 else (28 - i) // 3,
                read=i % 3 == 0,
                archived=i == 27,
            )
        )
    return items


# Small inboxes for the other users: (user, items), oldest first.
INBOXES: dict[str, list[Item]] = {
    "carol": carol_items(),
    "erin": [Item("Erin first", "comment", "normal", 1), Item("Erin second", "mention", "high", 0)],
    "hank": [
        Item("Hank keep", "comment", "normal", 2),
        Item("Hank archive me", "follow", "low", 1),
        Item("Hank also keep", "system", "normal", 0),
    ],
    "ivan": [Item("Ivan readable", "comment", "normal", 1), Item("Ivan older", "mention", "high", 3)],
    "alice": [Item("Welcome, Alice", "system", "normal", 0, read=True)],
    "gina": [Item("Gina hello", "announcement", "normal", 0)],
    # the unseen badge
    "mia": [Item("Mia one", "comment", "normal", 1), Item("Mia two", "mention", "normal", 0)],
    # keyboard walkthrough
    "jack": [Item(f"Jack {n}", "comment", "normal", 0) for n in ("four", "three", "two", "one")],
    # offline queue
    "kate": [Item(f"Kate {n}", "comment", "normal", 0) for n in ("three", "two", "one")],
    # saved (starred)
    "nora": [Item("Nora plain", "comment", "normal", 1), Item("Nora keep", "mention", "normal", 0)],
    "pia": [Item("Pia why", "comment", "normal", 0)],
    "quinn": [Item("Quinn thread", "comment", "normal", 0, group_key="post:9")],
    # snooze
    "omar": [Item("Omar plain", "comment", "normal", 1), Item("Omar later", "mention", "normal", 0)],
    # opening marks read: one item with a link to another page, one without a link
    "liam": [
        Item("Liam no link", "comment", "normal", 1),
        Item("Liam to preferences", "mention", "normal", 0, url="/preferences/"),
    ],
}
