"""The WebSocket protocol (contract.md) through WebsocketCommunicator, with the real routing and handshake guard.

Runs on the embedded default (in-memory layer) and, with REDIS_URL set, on the Redis pub/sub layer.
"""

import asyncio
from datetime import timedelta
from uuid import uuid4

import orjson
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.utils import timezone

from notifications import realtime
from notifications.handshake import credentials_from_session, socket_user
from notifications.models import Notification, WsTicket
from notifications.routing import websocket_application
from notifications.tickets import ws_ticket_create
from tests.factories import make_user, send
from tests.notifications.realtime_helpers import async_test

ORIGIN = (b"origin", b"http://testserver")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _thread_connections_closed(monkeypatch):
    # Consumers' database threads close their connections after each use, so the next flush is never blocked.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    yield
    # The consumers' database thread keeps its connection (CONN_MAX_AGE): close it before the next flush.
    asyncio.run(database_sync_to_async(connections.close_all)())


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(
    cookie: bytes | None = None, *, origin=ORIGIN, query: str = "", host: bytes = b"testserver"
) -> WebsocketCommunicator:
    headers = [h for h in ((b"host", host), origin, (b"cookie", cookie) if cookie else None) if h]
    return WebsocketCommunicator(websocket_application, "/ws/notifications/" + query, headers=headers)


async def connect(user, **kwargs) -> tuple[WebsocketCommunicator, dict]:
    cookie = await database_sync_to_async(session_cookie)(user)
    ws = communicator(cookie, **kwargs)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from()
    return ws, hello


async def frames(ws: WebsocketCommunicator, n: int) -> list[dict]:
    return [await ws.receive_json_from(timeout=3) for _ in range(n)]


adb = database_sync_to_async


# --- handshake ---------------------------------------------------------------------------------------------------


@async_test
async def test_hello_reports_unread_count_and_last_seq(alice):
    await adb(send)([alice])
    await adb(send)([alice])
    ws, hello = await connect(alice)
    assert hello["type"] == "hello"
    assert hello["unread_count"] == 2
    assert hello["last_seq"] == 2
    assert set(hello) == {"type", "unread_count", "last_seq", "server_time"}
    await ws.disconnect()


@async_test
async def test_handshake_without_session_is_rejected_and_subscribes_nothing(alice):
    ws = communicator(None)
    connected, _ = await ws.connect()
    assert connected is False
    assert realtime.user_group(alice.pk) not in _local_groups()


@async_test
async def test_cross_site_origin_is_rejected_even_with_a_session(alice):
    cookie = await adb(session_cookie)(alice)
    for origin in (b"https://evil.example.com", b"null", b"http://testserver.evil.com", b"http://evil.com:80@x"):
        connected, _ = await communicator(cookie, origin=(b"origin", origin)).connect()
        assert connected is False, origin
    assert realtime.user_group(alice.pk) not in _local_groups()
    # and the same session from an allowed origin is served
    allowed = communicator(cookie, origin=(b"origin", b"http://localhost:8000"), host=b"localhost:8000")
    assert (await allowed.connect())[0] is True
    await allowed.disconnect()


@pytest.mark.parametrize(
    "origin, host",
    [
        (b"http://testserver:8204", b"testserver"),  # another port of an allowed host
        (b"http://testserver", b"testserver:8201"),
        (b"https://testserver", b"testserver"),  # another scheme
        (b"chrome-extension://testserver", b"testserver"),
        (b"http://evil.com@testserver", b"testserver"),  # userinfo
        (b"http://testserver/path", b"testserver"),
        (b"http://evil.example.com", b"evil.example.com"),  # same origin, but the host is not allowed
    ],
)
@async_test
async def test_origin_must_be_this_servers_own_scheme_host_and_port(alice, origin, host):
    cookie = await adb(session_cookie)(alice)
    connected, _ = await communicator(cookie, origin=(b"origin", origin), host=host).connect()
    assert connected is False
    assert realtime.user_group(alice.pk) not in _local_groups()


@async_test
async def test_subdomains_of_allowed_hosts_are_other_origins_unless_trusted(alice, settings):
    settings.ALLOWED_HOSTS = [".example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.apps.example.com", "https://portal.example.com"]
    cookie = await adb(session_cookie)(alice)
    refused = communicator(cookie, origin=(b"origin", b"https://evil.example.com"), host=b"app.example.com")
    assert (await refused.connect())[0] is False
    for origin in (b"https://portal.example.com", b"https://one.apps.example.com"):
        trusted = communicator(cookie, origin=(b"origin", origin), host=b"app.example.com")
        assert (await trusted.connect())[0] is True, origin
        await trusted.disconnect()
    wrong_scheme = communicator(cookie, origin=(b"origin", b"http://portal.example.com"), host=b"app.example.com")
    assert (await wrong_scheme.connect())[0] is False


@async_test
async def test_tls_behind_a_proxy_is_read_from_the_proxy_header(alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookie = await adb(session_cookie)(alice)
    ws = WebsocketCommunicator(
        websocket_application,
        "/ws/notifications/",
        headers=[
            (b"host", b"testserver"),
            (b"origin", b"https://testserver"),
            (b"x-forwarded-proto", b"https"),
            (b"cookie", cookie),
        ],
    )
    assert (await ws.connect())[0] is True
    await ws.disconnect()


@async_test
async def test_a_session_from_before_a_password_change_is_refused(alice):
    cookie = await adb(session_cookie)(alice)

    def change_password() -> None:
        alice.set_password("another-pass-456")
        alice.save()

    await adb(change_password)()
    connected, _ = await communicator(cookie).connect()
    assert connected is False
    assert realtime.user_group(alice.pk) not in _local_groups()


def test_the_handshake_reads_user_unread_count_and_last_seq_in_one_query(alice, django_assert_num_queries):
    send([alice])
    send([alice])
    cookie = session_cookie(alice).decode().split("=", 1)[1]
    credentials = credentials_from_session(cookie)  # from the cache
    assert credentials is not None and credentials.user_id == alice.pk
    with django_assert_num_queries(1):
        user = socket_user(credentials)
    assert (user.pk, user.socket_unread, user.socket_last_seq) == (alice.pk, 2, 2)


@async_test
async def test_session_cookie_without_origin_is_rejected(alice):
    cookie = await adb(session_cookie)(alice)
    connected, _ = await communicator(cookie, origin=None).connect()
    assert connected is False


@async_test
async def test_ticket_connects_once_without_origin(alice):
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    first = communicator(origin=None, query=f"?ticket={ticket}")
    connected, _ = await first.connect()
    assert connected
    assert (await first.receive_json_from())["type"] == "hello"
    # when the same ticket is presented again
    connected_again, _ = await communicator(origin=None, query=f"?ticket={ticket}").connect()
    # then it is refused: single use
    assert connected_again is False
    await first.disconnect()


@async_test
async def test_expired_unknown_or_cross_site_ticket_is_rejected(alice):
    expired = await adb(ws_ticket_create)(user_id=alice.pk)
    await adb(lambda: WsTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1)))()
    fresh = await adb(ws_ticket_create)(user_id=alice.pk)
    assert (await communicator(origin=None, query=f"?ticket={expired}").connect())[0] is False
    assert (await communicator(origin=None, query="?ticket=not-a-ticket").connect())[0] is False
    evil = (b"origin", b"https://evil.example.com")
    assert (await communicator(origin=evil, query=f"?ticket={fresh}").connect())[0] is False
    assert realtime.user_group(alice.pk) not in _local_groups()


@async_test
async def test_ticket_of_a_deactivated_user_is_rejected(alice):
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    alice.is_active = False
    await adb(alice.save)()
    assert (await communicator(origin=None, query=f"?ticket={ticket}").connect())[0] is False


def _local_groups() -> set[str]:
    layer = get_channel_layer()
    groups = getattr(layer, "groups", None)
    if groups is None:  # Redis pub/sub layer: the per-loop layer holds the local subscriptions
        groups = {g for loop_layer in layer._layers.values() for g in loop_layer.groups}
    return {g for g in groups if groups[g]} if isinstance(groups, dict) else set(groups)


# --- live notifications -------------------------------------------------------------------------------------------


@async_test
async def test_notification_reaches_every_tab_of_the_recipient_and_nobody_else(alice, bob):
    tab1, _ = await connect(alice)
    tab2, _ = await connect(alice)
    other, _ = await connect(bob)
    result = await adb(send)([alice], title="For Alice", body="b", data={"k": 1})
    for tab in (tab1, tab2):
        frame = await tab.receive_json_from(timeout=3)
        assert frame["type"] == "notification"
        assert frame["replay"] is False
        n = frame["notification"]
        assert n["id"] == str(result.notification_ids[0])
        assert n["seq"] == 1
        assert (n["title"], n["body"], n["data"], n["category"], n["is_read"]) == (
            "For Alice",
            "b",
            {"k": 1},
            "comment",
            False,
        )
    assert await other.receive_nothing(timeout=0.3)
    for ws in (tab1, tab2, other):
        await ws.disconnect()


@async_test
async def test_forwarding_a_frame_does_not_hop_to_the_thread_pool(alice, monkeypatch):
    ws, _ = await connect(alice)
    hops = []

    async def counting():
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting)
    await adb(send)([alice])
    assert (await ws.receive_json_from(timeout=3))["type"] == "notification"
    assert await ws.receive_json_from(timeout=3) == {"type": "unread_count", "count": 1}
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    assert hops == []
    await ws.disconnect()


# --- resume and replay --------------------------------------------------------------------------------------------


@async_test
async def test_resume_replays_what_was_missed_oldest_first_in_pages(alice, settings):
    settings.WS_REPLAY_PAGE = 2
    ids = [(await adb(send)([alice], title=f"n{i}")).notification_ids[0] for i in range(5)]
    ws, hello = await connect(alice)
    assert hello["last_seq"] == 5
    await ws.send_json_to({"type": "resume", "last_seq": 1})
    got = await frames(ws, 5)
    assert [f["notification"]["seq"] for f in got[:4]] == [2, 3, 4, 5]
    assert [f["notification"]["id"] for f in got[:4]] == [str(i) for i in ids[1:]]
    assert all(f["type"] == "notification" and f["replay"] is True for f in got[:4])
    assert got[4] == {"type": "replay_done", "last_seq": 5, "count": 4}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_resume_at_the_head_replays_nothing(alice):
    await adb(send)([alice])
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "resume", "last_seq": 1})
    assert await ws.receive_json_from() == {"type": "replay_done", "last_seq": 1, "count": 0}
    await ws.disconnect()


@async_test
async def test_unusable_cursor_asks_for_a_resync(alice):
    await adb(send)([alice])
    await adb(send)([alice])
    ws, _ = await connect(alice)
    cases = [
        ("3", "invalid_cursor"),
        (None, "invalid_cursor"),
        (True, "invalid_cursor"),
        (1.5, "invalid_cursor"),
        (-1, "invalid_cursor"),
        (3, "cursor_ahead"),
    ]
    for cursor, reason in cases:
        await ws.send_json_to({"type": "resume", "last_seq": cursor})
        assert await ws.receive_json_from() == {"type": "resync_required", "reason": reason}, cursor
    await ws.send_json_to({"type": "resume"})
    assert await ws.receive_json_from() == {"type": "resync_required", "reason": "invalid_cursor"}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_cursor_older_than_retention_asks_for_a_resync(alice):
    for _ in range(4):
        await adb(send)([alice])
    # given retention purged seq 1 and 2
    await adb(lambda: Notification.objects.filter(recipient=alice, seq__lte=2).delete())()
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "resume", "last_seq": 0})
    assert await ws.receive_json_from() == {"type": "resync_required", "reason": "cursor_expired"}
    # a cursor at the edge of what is kept still replays
    await ws.send_json_to({"type": "resume", "last_seq": 2})
    got = await frames(ws, 3)
    assert [f.get("notification", {}).get("seq") for f in got[:2]] == [3, 4]
    assert got[2] == {"type": "replay_done", "last_seq": 4, "count": 2}
    await ws.disconnect()


@async_test
async def test_live_frames_already_replayed_are_not_sent_twice(alice, monkeypatch):
    held = []
    monkeypatch.setattr(realtime, "publish", held.append)
    for _ in range(3):
        await adb(send)([alice])
    monkeypatch.undo()
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "resume", "last_seq": 0})
    assert [f["type"] for f in await frames(ws, 4)] == ["notification"] * 3 + ["replay_done"]
    # when the live frames of the same rows arrive late
    for messages in held:
        await adb(realtime.publish)(messages)
    # then they are dropped: the socket already sent those seqs
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


@async_test
async def test_a_lost_frame_is_refilled_from_the_database_at_the_next_one(alice, monkeypatch):
    ws, _ = await connect(alice)
    monkeypatch.setattr(realtime, "publish", lambda messages: None)
    lost = (await adb(send)([alice], title="lost")).notification_ids[0]
    monkeypatch.undo()
    await adb(send)([alice], title="next")
    got = await frames(ws, 3)
    assert [(f["notification"]["seq"], f["notification"]["title"]) for f in got[:2]] == [(1, "lost"), (2, "next")]
    assert got[0]["notification"]["id"] == str(lost)
    assert got[2] == {"type": "unread_count", "count": 2}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_layer_reconnect_refills_frames_published_meanwhile(alice, monkeypatch):
    ws, _ = await connect(alice)
    monkeypatch.setattr(realtime, "publish", lambda messages: None)
    await adb(send)([alice], title="during outage")
    monkeypatch.undo()
    assert await ws.receive_nothing(timeout=0.2)
    # when the layer tells local consumers it reconnected
    await get_channel_layer().group_send(realtime.user_group(alice.pk), {"type": realtime.LAYER_RECOVERED})
    frame = await ws.receive_json_from(timeout=3)
    assert (frame["type"], frame["replay"], frame["notification"]["title"]) == ("notification", False, "during outage")
    await ws.disconnect()


# --- read state ---------------------------------------------------------------------------------------------------


@async_test
async def test_mark_read_and_unread_update_every_tab(alice):
    a = (await adb(send)([alice])).notification_ids[0]
    b = (await adb(send)([alice])).notification_ids[0]
    tab1, _ = await connect(alice)
    tab2, _ = await connect(alice)
    await tab1.send_json_to({"type": "mark_read", "ids": [str(a), str(b)]})
    for tab in (tab1, tab2):
        updated, count = await frames(tab, 2)
        assert updated["type"] == "notification_updated"
        assert sorted(updated["ids"]) == sorted([str(a), str(b)])
        assert updated["read"] is True
        assert "archived" not in updated
        assert count == {"type": "unread_count", "count": 0}
    await tab2.send_json_to({"type": "mark_unread", "ids": [str(a)]})
    for tab in (tab1, tab2):
        assert await frames(tab, 2) == [
            {"type": "notification_updated", "ids": [str(a)], "read": False},
            {"type": "unread_count", "count": 1},
        ]
    await tab1.disconnect()
    await tab2.disconnect()


@async_test
async def test_other_tabs_learn_a_save_by_notification_updated(alice):
    from notifications.services import notification_save

    n = (await adb(send)([alice])).notification_ids[0]
    tab, _ = await connect(alice)
    await adb(notification_save)(user=alice, ids=[n])
    assert await frames(tab, 2) == [
        {"type": "notification_updated", "ids": [str(n)], "saved": True},
        {"type": "unread_count", "count": 1},
    ]
    await adb(notification_save)(user=alice, ids=[n], saved=False)
    assert (await frames(tab, 2))[0] == {"type": "notification_updated", "ids": [str(n)], "saved": False}
    await tab.disconnect()


@async_test
async def test_a_snoozed_notification_leaves_every_tab_and_comes_back_live_at_its_time(alice):
    from notifications.services import notification_snooze, notifications_wake_due

    a = (await adb(send)([alice], title="later")).notification_ids[0]
    await adb(send)([alice], title="other")
    tab1, hello = await connect(alice)
    tab2, _ = await connect(alice)
    assert hello["unread_count"] == 2
    until = timezone.now() + timedelta(hours=1)
    # when it is snoozed (from anywhere), every tab learns it and the count drops at once
    await adb(notification_snooze)(user=alice, ids=[a], until=until)
    for tab in (tab1, tab2):
        assert await frames(tab, 2) == [
            {"type": "notification_updated", "ids": [str(a)], "snoozed_until": until.isoformat()},
            {"type": "unread_count", "count": 1},
        ]
    # nothing before its time
    assert await adb(notifications_wake_due)(now=until - timedelta(seconds=1)) == 0
    assert await tab1.receive_nothing(timeout=0.2)
    # when its time comes, it arrives live with the next seq, unread, then the count includes it
    assert await adb(notifications_wake_due)(now=until) == 1
    for tab in (tab1, tab2):
        woken, count = await frames(tab, 2)
        assert woken["type"] == "notification" and woken["replay"] is False
        n = woken["notification"]
        assert (n["id"], n["seq"], n["title"], n["is_read"], n["snoozed_until"]) == (str(a), 3, "later", False, None)
        assert count == {"type": "unread_count", "count": 2}
    await tab1.disconnect()
    await tab2.disconnect()


@async_test
async def test_a_notification_that_woke_while_offline_is_replayed_by_resume(alice):
    from notifications.services import notification_snooze, notifications_wake_due

    a = (await adb(send)([alice], title="later")).notification_ids[0]
    await adb(send)([alice], title="other")
    until = timezone.now() + timedelta(hours=3)
    await adb(notification_snooze)(user=alice, ids=[a], until=until)
    # given a client that had everything up to seq 2 and then went offline
    ws, hello = await connect(alice)
    assert (hello["unread_count"], hello["last_seq"]) == (1, 2)
    await ws.disconnect()
    # when the snooze ends while it is away
    assert await adb(notifications_wake_due)(now=until) == 1
    # then on reconnect hello counts it, and resuming from its cursor replays it (a newer seq), once
    ws, hello = await connect(alice)
    assert (hello["unread_count"], hello["last_seq"]) == (2, 3)
    await ws.send_json_to({"type": "resume", "last_seq": 2})
    replayed, done = await frames(ws, 2)
    assert replayed["replay"] is True
    assert (replayed["notification"]["id"], replayed["notification"]["seq"]) == (str(a), 3)
    assert replayed["notification"]["snoozed_until"] is None
    assert done == {"type": "replay_done", "last_seq": 3, "count": 1}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_mark_all_read_up_to_a_seq(alice):
    for _ in range(3):
        await adb(send)([alice])
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "mark_all_read", "up_to_seq": 2})
    updated, count = await frames(ws, 2)
    assert len(updated["ids"]) == 2 and updated["read"] is True
    assert count == {"type": "unread_count", "count": 1}
    unread = await adb(lambda: list(Notification.objects.filter(read_at__isnull=True).values_list("seq", flat=True)))()
    assert unread == [3]
    await ws.send_json_to({"type": "mark_all_read"})
    assert (await frames(ws, 2))[1] == {"type": "unread_count", "count": 0}
    await ws.disconnect()


@async_test
async def test_another_users_ids_are_ignored_and_never_revealed(alice, bob):
    theirs = (await adb(send)([bob])).notification_ids[0]
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "mark_read", "ids": [str(theirs), str(uuid4())]})
    assert await ws.receive_nothing(timeout=0.3)
    assert await adb(lambda: Notification.objects.get(uuid=theirs).read_at)() is None
    await ws.disconnect()


BAD_FRAMES = [
    ({"type": "mark_read", "ids": ["not-a-uuid"]}, "bad_ids"),
    ({"type": "mark_read", "ids": [1]}, "bad_ids"),
    ({"type": "mark_read", "ids": "abc"}, "bad_ids"),
    ({"type": "mark_unread"}, "bad_ids"),
    ({"type": "mark_read", "ids": []}, "bad_ids"),
    ({"type": "mark_read", "ids": [str(uuid4()) for _ in range(501)]}, "bad_ids"),
    ({"type": "mark_all_read", "up_to_seq": "5"}, "bad_request"),
    ({"type": "mark_all_read", "up_to_seq": -1}, "bad_request"),
    ({"type": "subscribe", "group": "user.1"}, "unknown_type"),
    ({"type": 5}, "bad_frame"),
    ([1, 2], "bad_frame"),
    ("just a string", "bad_frame"),
]


@async_test
async def test_bad_frames_get_an_error_and_the_socket_stays_open(alice):
    a = (await adb(send)([alice])).notification_ids[0]
    ws, _ = await connect(alice)
    for frame, code in BAD_FRAMES:
        await ws.send_to(text_data=orjson.dumps(frame).decode())
        error = await ws.receive_json_from()
        assert error["type"] == "error" and error["code"] == code and error["message"], frame
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    assert await adb(lambda: Notification.objects.get(uuid=a).read_at)() is None
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_garbage_and_binary_frames_get_errors(alice):
    ws, _ = await connect(alice)
    await ws.send_to(text_data="{not json")
    assert (await ws.receive_json_from())["code"] == "bad_json"
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await ws.receive_json_from())["code"] == "bad_frame"
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@async_test
async def test_an_oversized_frame_gets_an_error_then_4009_from_the_consumer(alice):
    ws, _ = await connect(alice)
    await ws.send_to(text_data=orjson.dumps({"type": "ping", "pad": "x" * (64 * 1024)}).decode())
    assert (await ws.receive_json_from(timeout=2))["code"] == "frame_too_big"
    assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": 4009}


@async_test
async def test_a_frame_just_under_the_limit_is_processed(alice):
    ws, _ = await connect(alice)
    text = orjson.dumps({"type": "ping", "pad": ""}).decode()
    await ws.send_to(text_data=text[:-2] + "x" * (64 * 1024 - len(text)) + '"}')
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@async_test
async def test_flood_gets_an_error_then_4429_and_other_users_are_unaffected(alice, bob, settings):
    settings.WS_RATE_BURST = 10
    settings.WS_RATE_PER_SECOND = 1
    flooder, _ = await connect(alice)
    calm, _ = await connect(bob)
    for _ in range(30):
        await flooder.send_json_to({"type": "ping"})
    replies = []
    while True:
        out = await flooder.receive_output(timeout=2)
        replies.append(orjson.loads(out["text"]) if out["type"] == "websocket.send" else out)
        if out["type"] == "websocket.close":
            break
    assert replies[:10] == [{"type": "pong"}] * 10
    assert replies[10] == {"type": "error", "code": "rate_limited", "message": "Too many frames."}
    assert replies[11:] == [{"type": "websocket.close", "code": 4429}]
    await calm.send_json_to({"type": "ping"})
    assert await calm.receive_json_from() == {"type": "pong"}
    await calm.disconnect()


# --- session end --------------------------------------------------------------------------------------------------


@async_test
async def test_logout_closes_that_sessions_sockets_with_4401(alice):
    def login() -> Client:
        client = Client()
        client.force_login(alice)
        return client

    browser = await adb(login)()
    phone_cookie = await adb(session_cookie)(alice)
    ws = communicator(f"sessionid={browser.cookies['sessionid'].value}".encode())
    assert (await ws.connect())[0]
    await ws.receive_json_from()
    phone, _ = await connect(alice)
    await adb(lambda: browser.post("/accounts/logout/"))()
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    # the other session's socket is still served
    await adb(send)([alice])
    assert (await phone.receive_json_from(timeout=3))["type"] == "notification"
    assert phone_cookie  # a second, independent session
    await phone.disconnect()


@async_test
async def test_deactivation_closes_every_socket_of_the_user_with_4401(alice, bob):
    tab1, _ = await connect(alice)
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    tab2 = communicator(origin=None, query=f"?ticket={ticket}")
    assert (await tab2.connect())[0]
    await tab2.receive_json_from()
    other, _ = await connect(bob)
    alice.is_active = False
    await adb(alice.save)()
    for tab in (tab1, tab2):
        assert await tab.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    assert await other.receive_nothing(timeout=0.3)
    await other.disconnect()


# --- ticket endpoint ----------------------------------------------------------------------------------------------


def test_ticket_endpoint_issues_a_hashed_single_use_ticket(alice):
    client = Client()
    assert client.post("/api/v1/ws-tickets/").status_code in (401, 403)
    assert WsTicket.objects.count() == 0
    client.force_login(alice)
    response = client.post("/api/v1/ws-tickets/")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 60
    row = WsTicket.objects.get()
    assert row.user_id == alice.pk and body["ticket"] not in row.digest


def test_ticket_endpoint_accepts_a_drf_token(alice):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=alice)
    response = Client().post("/api/v1/ws-tickets/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 201


# --- publishing ---------------------------------------------------------------------------------------------------


def test_publish_happens_only_after_commit(alice, monkeypatch):
    published = []
    monkeypatch.setattr(realtime, "publish", published.append)
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        send([alice])
        raise RuntimeError("rolled back")
    assert published == []
    send([alice])
    assert len(published) == 1 and published[0][0][1]["seq"] == 1


def test_embedded_watcher_nudges_only_for_rows_from_other_processes(alice, bob, monkeypatch):
    if realtime.settings.REDIS_URL:
        pytest.skip("embedded mode only")
    monkeypatch.setattr(realtime, "_published_high", {})
    send([alice])  # published by this process
    monkeypatch.setattr(realtime, "publish", lambda messages: None)
    monkeypatch.setattr(realtime, "_embedded_note_published", lambda messages: None)
    send([bob])  # as if from `manage.py notify`
    nudged = []

    class Layer:
        async def group_send(self, group, message):
            nudged.append((group, message))

    async def one_tick():
        monkeypatch.setattr(realtime, "WATCH_INTERVAL", 0.01)
        task = asyncio.ensure_future(realtime._embedded_watch(Layer()))
        await asyncio.sleep(0.3)
        task.cancel()

    monkeypatch.setattr("notifications.selectors.notification_max_id", lambda: 0)
    asyncio.run(one_tick())
    assert nudged == [(realtime.user_group(bob.pk), {"type": realtime.LAYER_RECOVERED})]


@async_test
async def test_unread_count_follows_new_notifications_and_state_changes(alice):
    # given two unread notifications before the socket connects
    first = (await adb(send)([alice])).notification_ids[0]
    await adb(send)([alice])
    ws, hello = await connect(alice)
    assert hello["unread_count"] == 2
    # when a new one arrives, the count that follows it includes it
    await adb(send)([alice])
    got = await frames(ws, 2)
    assert got[0]["type"] == "notification"
    assert got[1] == {"type": "unread_count", "count": 3}
    # when one is read elsewhere, the counted value replaces the socket's own
    from notifications.services import notification_mark_read

    await adb(notification_mark_read)(user=alice, ids=[first])
    assert [f["type"] for f in await frames(ws, 2)] == ["notification_updated", "unread_count"]
    await adb(send)([alice])
    got = await frames(ws, 2)
    assert got[1] == {"type": "unread_count", "count": 3}
    # and a resume that replays older rows does not count them again
    await ws.send_json_to({"type": "resume", "last_seq": 0})
    replayed = await frames(ws, 5)
    assert [f["type"] for f in replayed] == ["notification"] * 4 + ["replay_done"]
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


# --- sockets end with their credentials ---------------------------------------------------------------------------


def _session_rehash(session_key: str, user) -> None:
    """What update_session_auth_hash() does for the session that changed the password."""
    from importlib import import_module

    from django.conf import settings as django_settings
    from django.contrib.auth import HASH_SESSION_KEY

    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key)
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()


@async_test
async def test_a_password_change_closes_other_sessions_sockets_and_keeps_the_changing_one(alice, settings):
    settings.WS_CREDENTIALS_RECHECK_DELAY = 0.3
    browser_cookie = await adb(session_cookie)(alice)
    browser = communicator(browser_cookie)
    assert (await browser.connect())[0]
    await browser.receive_json_from()
    phone, _ = await connect(alice)

    def change_password() -> None:
        alice.set_password("a-new-pass-789")
        alice.save()
        _session_rehash(browser_cookie.decode().split("=", 1)[1], alice)

    await adb(change_password)()
    assert await phone.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    await adb(send)([alice])
    assert (await browser.receive_json_from(timeout=3))["type"] == "notification"
    await browser.disconnect()


@async_test
async def test_revoking_the_api_token_closes_ticket_sockets_only(alice):
    from rest_framework.authtoken.models import Token

    token = await adb(Token.objects.create)(user=alice)
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    app = communicator(origin=None, query=f"?ticket={ticket}")
    assert (await app.connect())[0]
    await app.receive_json_from()
    tab, _ = await connect(alice)
    await adb(token.delete)()
    assert await app.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    await adb(send)([alice])
    assert (await tab.receive_json_from(timeout=3))["type"] == "notification"
    await tab.disconnect()


@async_test
async def test_a_socket_whose_session_disappeared_closes_at_its_next_check(alice, settings):
    from django.contrib.sessions.models import Session
    from django.core.cache import caches

    settings.WS_REVALIDATE_SECONDS = 0.2
    ws, _ = await connect(alice)

    def sessions_gone() -> None:  # expired and purged, or deleted by another app: no logout signal
        Session.objects.all().delete()
        caches[settings.SESSION_CACHE_ALIAS].clear()

    await adb(sessions_gone)()
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


@async_test
async def test_a_socket_reconnects_after_its_lifetime_cap(alice, settings):
    settings.WS_MAX_LIFETIME_SECONDS = 0.3
    ws, _ = await connect(alice)
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 1000}


@async_test
async def test_sockets_per_user_are_capped_and_a_closed_one_frees_its_place(alice, bob, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 2
    first, _ = await connect(alice)
    second, _ = await connect(alice)
    cookie = await adb(session_cookie)(alice)
    assert (await communicator(cookie).connect())[0] is False
    other, _ = await connect(bob)  # another user is not affected
    await first.disconnect()
    third, _ = await connect(alice)
    for ws in (second, third, other):
        await ws.disconnect()


@async_test
async def test_the_open_sockets_gauge_follows_accepted_sockets_only(alice):
    from notifications import metrics

    def gauge() -> float:
        return metrics.WEBSOCKET_CONNECTIONS._value.get()

    before = gauge()
    # an accepted socket counts while it is open
    ws, _hello = await connect(alice)
    assert gauge() == before + 1
    # a refused handshake never counts
    refused = communicator(None)
    connected, _ = await refused.connect()
    assert not connected and gauge() == before + 1
    await ws.disconnect()
    assert gauge() == before
