"""The same code on several hosts (bench/harness/cluster.py): sends and sockets through HAProxy across two web
hosts, the channel layer sharded over two Redis servers, PostgreSQL behind PgBouncer in transaction mode, Celery
workers and beat on RabbitMQ; then a web host SIGKILLed mid-stream, PgBouncer restarted, a Redis shard stopped and
started again mid-stream, a worker SIGKILLed mid-delivery with the broker stopped, and both web hosts restarted one
after the other under a steady send rate. Real processes, a real SMTP server and real WebSocket clients only."""

import asyncio
import json
import signal
import threading
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
import requests
from channels_redis.utils import _consistent_hash

from bench.harness.cluster import WEB_HOSTS, Cluster, wait_for
from tests.notifications.realtime_helpers import async_test

from .clients import Socket, api, api_retrying, inbox, open_on_both, wait_until
from .conftest import USERS_PER_TEST

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEND = "/api/v1/notifications/send/"


def users(accounts: dict[str, dict[str, Any]], test: str) -> list[dict[str, Any]]:
    return [accounts[f"{test}{i}"] for i in range(USERS_PER_TEST)]


def send_body(recipients: list[dict[str, Any]], title: str) -> dict[str, Any]:
    return {"recipients": [u["id"] for u in recipients], "category": "comment", "title": title}


@async_test
async def test_a_send_through_lb_reaches_sockets_on_both_web_hosts_in_order_and_once(cluster, accounts):
    recipients = users(accounts, "fanout")
    sockets = [s for u in recipients for s in (await open_on_both(cluster, u["token"])).values()]
    assert Counter(s.host for s in sockets) == {"web1": USERS_PER_TEST, "web2": USERS_PER_TEST}

    producer = accounts["producer"]["token"]
    served: Counter[str] = Counter()
    for i in range(20):
        response = await asyncio.to_thread(api, cluster, "POST", SEND, producer, json=send_body(recipients, f"n{i}"))
        assert response.status_code == 201, response.text
        served[response.headers["X-Served-By"]] += 1
    assert set(served) == set(WEB_HOSTS)  # sends were written (and published) by both hosts

    assert await wait_until(lambda: all(len(s.arrivals) >= 20 for s in sockets))
    await asyncio.sleep(0.5)  # a duplicate would arrive right behind the last frame
    for s in sockets:
        assert [n["title"] for n in s.arrivals] == [f"n{i}" for i in range(20)], s.host
        seqs = [n["seq"] for n in s.arrivals]
        assert seqs == sorted(set(seqs)), s.host  # in order, none twice
    for user in recipients:
        truth = await asyncio.to_thread(inbox, cluster, user["id"])
        mine = [s for s in sockets if s.token == user["token"]]
        assert all(s.ids == set(truth) for s in mine)
    for s in sockets:
        await s.close()


@async_test
async def test_b_a_users_sockets_on_different_web_hosts_both_see_read_and_archive_sync(cluster, accounts):
    user = users(accounts, "sync")[0]
    placed = await open_on_both(cluster, user["token"])
    response = await asyncio.to_thread(
        api, cluster, "POST", SEND, accounts["producer"]["token"], json=send_body([user], "to read")
    )
    assert response.status_code == 201, response.text
    nid = response.json()["notification_ids"][0]
    assert await wait_until(lambda: all(nid in s.ids for s in placed.values()))
    for s in placed.values():  # the new notification's count
        assert await s.frame(lambda f: f["type"] == "unread_count") == {"type": "unread_count", "count": 1}

    # read on the web1 socket: the web2 socket learns it (and both get the new count)
    await placed["web1"].send({"type": "mark_read", "ids": [nid]})
    for s in placed.values():
        frame = await s.frame(lambda f: f["type"] == "notification_updated" and "read" in f)
        assert frame == {"type": "notification_updated", "ids": [nid], "read": True}
        # after a state change the count also says how many items (groups counted once) are unread
        assert await s.frame(lambda f: f["type"] == "unread_count") == {"type": "unread_count", "count": 0, "groups": 0}

    # archived through the API (whichever host answers): both sockets learn it
    patched = await asyncio.to_thread(
        api, cluster, "PATCH", f"/api/v1/notifications/{nid}/", user["token"], json={"archived": True}
    )
    assert patched.status_code == 200, patched.text
    for s in placed.values():
        frame = await s.frame(lambda f: f["type"] == "notification_updated" and "archived" in f)
        assert frame == {"type": "notification_updated", "ids": [nid], "archived": True}
    assert [f for s in placed.values() for f in s.frames if f["type"] == "notification_updated"] == []
    for s in placed.values():
        await s.close()


@async_test
async def test_c_web1_killed_mid_stream_its_clients_resume_on_web2_and_nothing_is_lost(cluster, accounts):
    recipients = users(accounts, "kill")
    placed = {u["id"]: await open_on_both(cluster, u["token"]) for u in recipients}
    on_web1 = [p["web1"] for p in placed.values()]
    on_web2 = [p["web2"] for p in placed.values()]
    killed = asyncio.Event()
    producer = accounts["producer"]["token"]
    rounds, kill_at = 60, 20

    async def produce() -> None:
        for i in range(rounds):
            if i == kill_at:
                await asyncio.to_thread(cluster.kill, "web1", signal.SIGKILL)
                killed.set()
            # A producer's retry with its Idempotency-Key: a send in flight on web1 when it died is written once.
            response = await asyncio.to_thread(
                api_retrying, cluster, "POST", SEND, producer, json=send_body(recipients, f"k{i}")
            )
            assert response.status_code == 201, response.text
            await asyncio.sleep(0.03)

    async def recover(s: Socket) -> None:
        await killed.wait()
        await asyncio.wait_for(s.closed.wait(), 15)
        await s.reconnect()

    try:
        await asyncio.gather(produce(), *(recover(s) for s in on_web1))
        assert [s.hosts for s in on_web1] == [["web1", "web2"]] * USERS_PER_TEST  # back through lb, on web2
        assert [s.hosts for s in on_web2] == [["web2"]] * USERS_PER_TEST  # never dropped

        truths = {uid: await asyncio.to_thread(inbox, cluster, uid) for uid in placed}
        assert all(len(t) == rounds for t in truths.values())  # each send written once, retries included

        def complete() -> bool:
            return all(s.ids == set(truths[uid]) for uid, p in placed.items() for s in p.values())

        assert await wait_until(complete, timeout=30), {
            f"{uid}/{host}": sorted(set(truths[uid].values()) - {n["seq"] for n in s.arrivals})
            for uid, p in placed.items()
            for host, s in p.items()
        }
        for s in on_web2:  # a socket that never dropped saw every frame once, in order
            seqs = [n["seq"] for n in s.arrivals]
            assert seqs == sorted(set(seqs))
    finally:
        for p in placed.values():
            for s in p.values():
                await s.close()
        await asyncio.to_thread(web1_back, cluster)


@async_test
async def test_e_redis2_stopped_mid_stream_and_started_again_every_inbox_still_equals_the_database(cluster, accounts):
    recipients = users(accounts, "shard")
    prefix = cluster.app_env()["REDIS_PREFIX"]
    shards = Counter(_consistent_hash(f"{prefix}__group__user.{u['id']}", 2) for u in recipients)
    assert shards[0] and shards[1]  # some users' groups live on redis2, some on redis1
    placed = {u["id"]: await open_on_both(cluster, u["token"]) for u in recipients}
    producer = accounts["producer"]["token"]
    rounds, stop_at, start_at = 40, 10, 20
    try:
        for i in range(rounds):
            if i == stop_at:
                await asyncio.to_thread(cluster.kill, "redis2", signal.SIGKILL)
            if i == start_at:
                await asyncio.to_thread(cluster.redis_start, "redis2")
            # /healthz says the channel layer is down meanwhile, so lb may answer 503 for a moment: a producer retries
            response = await asyncio.to_thread(
                api_retrying, cluster, "POST", SEND, producer, json=send_body(recipients, f"s{i}")
            )
            assert response.status_code == 201, response.text
            await asyncio.sleep(0.03)
        truths = {uid: await asyncio.to_thread(inbox, cluster, uid) for uid in placed}
        assert all(len(t) == rounds for t in truths.values())

        def complete() -> bool:
            return all(s.ids == set(truths[uid]) for uid, p in placed.items() for s in p.values())

        # no client did anything: each web host's layer resubscribes to redis2 and its sockets refill by seq
        assert await wait_until(complete, timeout=30), {
            f"{uid}/{host}": sorted(set(truths[uid].values()) - {n["seq"] for n in s.arrivals})
            for uid, p in placed.items()
            for host, s in p.items()
        }
        assert all(len(s.hosts) == 1 for p in placed.values() for s in p.values())  # no socket dropped
    finally:
        for p in placed.values():
            for s in p.values():
                await s.close()
        if "redis2" not in cluster.procs:
            await asyncio.to_thread(cluster.redis_start, "redis2")
        await asyncio.to_thread(cluster.wait_lb_up)


def web1_back(cluster: Cluster) -> None:
    if "web1" not in cluster.procs:
        cluster.web_start("web1")
    cluster.wait_lb_up()


def _poll(url: str, token: str) -> tuple[int | str, dict[str, Any] | None]:
    try:
        response = requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=10)
    except requests.ConnectionError as exc:
        return f"connection error: {exc.__class__.__name__}", None
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    return response.status_code, body


@async_test
async def test_d_pgbouncer_restart_answers_503_json_then_recovers_by_itself(cluster, accounts):
    token = users(accounts, "pgbouncer")[0]["token"]
    path = "/api/v1/notifications/unread-count/"
    targets = {"lb": f"{cluster.lb}{path}", "web1": f"{cluster.web('web1')}{path}"}
    for url in targets.values():
        assert (await asyncio.to_thread(_poll, url, token))[0] == 200
    seen: dict[str, list[tuple[int | str, dict[str, Any] | None]]] = {name: [] for name in targets}
    stop = asyncio.Event()

    async def poll(name: str) -> None:
        while not stop.is_set():
            seen[name].append(await asyncio.to_thread(_poll, targets[name], token))
            await asyncio.sleep(0.05)

    def last_is(name: str, status: int) -> bool:
        return bool(seen[name]) and seen[name][-1][0] == status

    pollers = [asyncio.ensure_future(poll(name)) for name in targets]
    try:
        await asyncio.to_thread(cluster.kill, "pgbouncer", signal.SIGTERM)
        assert await wait_until(lambda: last_is("lb", 503) and last_is("web1", 503), timeout=20), seen
        await asyncio.to_thread(cluster.pgbouncer_start)
        assert await wait_until(lambda: last_is("lb", 200) and last_is("web1", 200), timeout=30), seen
    finally:
        stop.set()
        await asyncio.gather(*pollers)
        if "pgbouncer" not in cluster.procs:
            await asyncio.to_thread(cluster.pgbouncer_start)
        await asyncio.to_thread(cluster.wait_lb_up)

    statuses = {name: Counter(status for status, _ in answers) for name, answers in seen.items()}
    assert set(statuses["web1"]) == {200, 503}, statuses  # the app itself: never a 500, never a dropped request
    assert set(statuses["lb"]) == {200, 503}, statuses
    codes = {
        name: {body["code"] for status, body in answers if status == 503 and body} for name, answers in seen.items()
    }
    assert codes["web1"] == {"database_unavailable"}
    # through lb: the app's 503, or HAProxy's own (JSON too) once its checks took both hosts out
    assert codes["lb"] <= {"database_unavailable", "no_web_host"} and codes["lb"]
    assert all(body is not None for answers in seen.values() for status, body in answers if status == 503)
    # and everything works again, sends included
    response = await asyncio.to_thread(
        api, cluster, "POST", SEND, accounts["producer"]["token"], json=send_body(users(accounts, "pgbouncer"), "back")
    )
    assert response.status_code == 201, response.text


def mails(cluster: Cluster, prefix: str) -> Counter[tuple[str, str]]:
    """(recipient, subject) -> how many times the mail sink received it, for this test's subjects."""
    with cluster.mail.handler.lock:
        messages = list(cluster.mail.messages)
    return Counter((str(m["To"]), str(m["Subject"])) for m in messages if str(m["Subject"]).startswith(prefix))


def deliveries(cluster: Cluster, user_ids: list[int]) -> Counter[str]:
    """The truth about email: the recipients' Delivery rows by status."""
    with psycopg.connect(cluster.database_direct_url) as conn:
        rows = conn.execute(
            "SELECT d.status FROM notifications_delivery d JOIN notifications_notification n"
            " ON n.id = d.notification_id WHERE d.channel = 'email' AND n.recipient_id = ANY(%s)",
            [user_ids],
        ).fetchall()
    return Counter(status for (status,) in rows)


def test_f_worker1_killed_mid_delivery_and_the_broker_stopped_every_email_is_sent_at_most_one_twice(cluster, accounts):
    recipients = users(accounts, "mail")[:2]
    producer = accounts["producer"]["token"]
    handler = cluster.mail.handler
    handler.delay = 0.3  # each SMTP transaction lasts long enough to be killed in
    retried: list[tuple[int | str, str]] = []
    titles: list[str] = []

    def send(title: str) -> None:
        body = {**send_body(recipients, title), "priority": "urgent"}  # urgent: email at once
        response = api_retrying(cluster, "POST", SEND, producer, json=body, seen=retried)
        assert response.status_code == 201, response.text
        titles.append(title)

    # given sends whose emails both workers are delivering
    worker1 = cluster.addr("worker1")
    killed = threading.Event()

    def kill_worker1_mid_transaction() -> None:
        # the moment the mail sink sees worker1 start a message (its DATA is held for 0.3 s), SIGKILL worker1
        wait_for(lambda: worker1 in handler.peers, "worker1 delivering", 60)
        cluster.kill("worker1", signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_worker1_mid_transaction)
    killer.start()
    started = time.monotonic()
    while not killed.is_set() and time.monotonic() - started < 60:
        send(f"mail-{len(titles)}")
        time.sleep(0.1)
    killer.join()
    # when, worker1 dead, the broker is stopped while worker2 may still be delivering, and sends go on meanwhile
    for _ in range(3):
        send(f"mail-{len(titles)}")
    cluster.kill("broker", signal.SIGTERM)
    for _ in range(4):
        send(f"mail-{len(titles)}")  # written and streamed; their tasks cannot be published
    cluster.broker_start()
    cluster.app_start("worker1")
    for _ in range(3):
        send(f"mail-{len(titles)}")

    # then every send was written once (the producer never retried, so no key was replayed)
    assert [len(inbox(cluster, u["id"])) for u in recipients] == [len(titles)] * len(recipients)
    # and every due email is sent, none more than twice, and at most one twice in all
    expected = {(f"mail{i}@example.com", title) for i in range(len(recipients)) for title in titles}
    wait_for(lambda: set(mails(cluster, "mail-")) == expected, "every email sent", 90)
    ids = [u["id"] for u in recipients]
    wait_for(lambda: deliveries(cluster, ids) == {"sent": len(expected)}, "every email Delivery row sent", 30)
    time.sleep(1.0)  # a second copy would arrive right behind
    counts = mails(cluster, "mail-")
    assert set(counts) == expected
    assert max(counts.values()) <= 2, counts
    assert sum(counts.values()) <= len(expected) + 1, [k for k, n in counts.items() if n > 1]
    # both worker hosts delivered
    assert {worker1, cluster.addr("worker2")} <= set(handler.peers)
    # and no producer ever got anything but 201: a broker outage is not a web outage
    assert retried == []


def rolling_restart(cluster: Cluster) -> None:
    """One web host after the other: SIGTERM, wait for it to exit, start it, wait until lb sends it traffic again."""
    for host in WEB_HOSTS:
        cluster.kill(host, signal.SIGTERM)
        cluster.web_start(host)
        cluster.wait_lb_up()


@async_test
async def test_g_rolling_restart_of_both_web_hosts_under_a_steady_send_rate_loses_nothing(cluster, accounts):
    recipients = users(accounts, "rolling")
    placed = {u["id"]: await open_on_both(cluster, u["token"]) for u in recipients}
    sockets = [s for p in placed.values() for s in p.values()]
    producer = accounts["producer"]["token"]
    retried: list[tuple[int | str, str]] = []
    done = asyncio.Event()
    sent = 0

    async def produce() -> None:
        # a steady rate through lb (one send to all six every 50 ms) for the whole restart
        nonlocal sent
        while not done.is_set():
            body = send_body(recipients, f"r{sent}")
            response = await asyncio.to_thread(api_retrying, cluster, "POST", SEND, producer, json=body, seen=retried)
            assert response.status_code == 201, response.text
            sent += 1
            await asyncio.sleep(0.05)

    async def stay_connected(s: Socket) -> None:
        # what the browser module does: on a drop, reconnect through lb and resume from the last seq
        while True:
            closed = asyncio.ensure_future(s.closed.wait())
            finished = asyncio.ensure_future(done.wait())
            await asyncio.wait([closed, finished], return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            finished.cancel()
            if s.closed.is_set():
                await s.reconnect()
            elif done.is_set():
                return

    async def restart() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(rolling_restart, cluster)
        await asyncio.sleep(1.0)
        done.set()

    try:
        await asyncio.gather(produce(), restart(), *(stay_connected(s) for s in sockets))
        truths = {uid: await asyncio.to_thread(inbox, cluster, uid) for uid in placed}
        assert sent > 20 and all(len(t) == sent for t in truths.values())  # each send written once

        def complete() -> bool:
            return all(s.ids == set(truths[uid]) for uid, p in placed.items() for s in p.values())

        assert await wait_until(complete, timeout=30), {
            f"{uid}/{host}": sorted(set(truths[uid].values()) - {n["seq"] for n in s.arrivals})
            for uid, p in placed.items()
            for host, s in p.items()
        }
        assert all(len(s.hosts) >= 2 for s in sockets)  # every socket was dropped by a restart and came back
        # SIGTERM closes a host's listening socket first: lb retries what the host refused on the other one
        assert retried == []
    finally:
        for s in sockets:
            await s.close()
        await asyncio.to_thread(cluster.wait_lb_up)
