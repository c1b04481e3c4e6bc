"""R3 with real processes: a Celery worker (with embedded beat) on its own Redis, PostgreSQL, a real SMTP server
(and the loopback APNs and FCM servers for the push run).

- a worker SIGKILLed mid-delivery: after a restart every due email is sent, at most one of them twice, none lost;
- the broker stopped while sending (and notifications sent while it is down): everything goes out once it is back.
Each test starts its OWN redis-server on a free port and kills only that one and the workers it started.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from push_notifications.models import APNSDevice, GCMDevice

from bench.harness.servers import free_port, smtp_server_start
from notifications import tasks
from notifications.models import Delivery
from tests.conftest import service_missing
from tests.factories import make_user, send

pytestmark = pytest.mark.slow
ROOT = Path(settings.BASE_DIR)


class RedisProcess:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: _ping(self.url), 10, "redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _wait(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(message)


class Worker:
    """`celery worker -B` in its own process group, configured like production through the environment."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.log = workdir / f"{name}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "notifyproject",
                "worker",
                "-B",
                "--pool=solo",
                "-s",
                str(workdir / f"{name}-beat"),
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait(lambda: "ready." in self.log.read_text() or self.process.poll() is not None, 25, "worker not ready")
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@pytest.fixture
def rig(postgres, transactional_db, tmp_path, monkeypatch):
    """Own Redis + SMTP server + a publisher for the test process + a way to start workers. Cleans up all of it.

    Transactional: the worker is another process and must see committed rows."""
    if shutil.which("redis-server") is None:
        service_missing("needs the redis-server binary")
    broker = RedisProcess(tmp_path)
    broker.start()
    smtp = smtp_server_start()
    prefix = f"dlvtest{os.getpid()}"
    publisher = Celery("publisher", broker=broker.url)
    # Configured like the web process's app (same key prefix, same short publish retry), but on this broker.
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"{prefix}:"}
    publisher.conf.broker_transport_options = options
    publisher.conf.task_publish_retry_policy = settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    # The test process publishes (on commit, as a web process does) to this test's own broker (the last one listed:
    # a test may put another broker's publisher there).
    publishers = [publisher]
    monkeypatch.setattr(
        tasks.deliveries_dispatch_content,
        "delay",
        lambda content_id: publishers[-1].send_task(
            "notifications.tasks.deliveries_dispatch_content", args=[content_id]
        ),
    )
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "notifyproject.settings.base",
        "DJANGO_SECRET_KEY": "worker-test",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": broker.url,
        "REDIS_PREFIX": prefix,
        "EMAIL_URL": f"smtp://{smtp.host}:{smtp.port}",
        "DELIVERY_DISPATCH_INTERVAL": "0.5",
        "DELIVERY_LEASE_SECONDS": "1",
        "DELIVERY_SENDING_TIMEOUT": "3",
        "DELIVERY_SWEEP_INTERVAL": "1",
        "DELIVERY_RETRY_BASE": "0.5",
        "LOG_LEVEL": "INFO",
    }
    env.pop("REQUIRE_SERVICES", None)
    workers: list[Worker] = []

    def start_worker(name: str) -> Worker:
        worker = Worker(env, tmp_path, name)
        workers.append(worker)
        return worker

    # env: what workers started later get
    r = SimpleNamespace(
        broker=broker, smtp=smtp, workers=workers, env=env, start_worker=start_worker, publishers=publishers
    )
    yield r
    for worker in workers:
        worker.kill()
    smtp.stop()
    broker.kill()


def _subjects(smtp) -> Counter:
    with smtp.handler.lock:
        return Counter(m["Subject"] for m in smtp.messages)


def test_worker_killed_mid_delivery_sends_everything_after_restart_at_most_one_duplicate(rig):
    # given a worker and a slow mail server
    alice = make_user("alice")
    rig.smtp.handler.delay = 0.4
    worker = rig.start_worker("w1")
    # when 8 urgent notifications are sent (one task message each, published on commit)
    expected = {f"Alert {i}" for i in range(8)}
    for subject in sorted(expected):
        send([alice], title=subject, priority="urgent")
    assert Delivery.objects.filter(channel="email").count() == 8
    # and the worker is SIGKILLed in the middle of an SMTP transaction (the 3rd email's DATA is being processed)
    _wait(lambda: rig.smtp.handler.started >= 3, 20, "the worker never started delivering")
    worker.kill()
    assert Delivery.objects.filter(status="sending").count() == 1
    assert Delivery.objects.filter(status="sent").count() == 2
    # then after a restart every email arrives, at most one of them twice
    rig.start_worker("w2")
    _wait(lambda: set(_subjects(rig.smtp)) == expected, 25, f"not all sent: {_subjects(rig.smtp)}")
    _wait(lambda: not Delivery.objects.exclude(status="sent").exists(), 10, "rows not all marked sent")
    time.sleep(1.0)  # anything that would be sent twice has had the time to arrive
    counts = _subjects(rig.smtp)
    assert set(counts) == expected
    assert max(counts.values()) <= 2
    assert sum(counts.values()) <= len(expected) + 1


@pytest.fixture
def rabbitmq_vhost():
    """A vhost of this test's own on the machine's RabbitMQ (guest may use it), deleted afterwards."""
    if shutil.which("rabbitmqctl") is None:
        service_missing("needs RabbitMQ (rabbitmqctl)")
    vhost = f"notify-test-{os.getpid()}"

    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)

    ctl("delete_vhost", vhost)  # a leftover of a run that was killed
    created = ctl("add_vhost", vhost)
    if created.returncode != 0:
        service_missing(f"RabbitMQ does not answer: {created.stderr.strip()[:300]}")
    assert ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*").returncode == 0
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    ctl("delete_vhost", vhost)


def test_on_rabbitmq_a_worker_killed_mid_delivery_sends_everything_at_most_one_duplicate(rig, rabbitmq_vhost):
    # given workers and the web side's publisher on RabbitMQ (CELERY_BROKER_URL=amqp://...), Redis for the rest
    publisher = Celery("publisher-amqp", broker=rabbitmq_vhost, set_as_current=False)
    publisher.conf.task_publish_retry_policy = settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    rig.publishers.append(publisher)
    rig.env["CELERY_BROKER_URL"] = rabbitmq_vhost
    alice = make_user("alice")
    rig.smtp.handler.delay = 0.4
    worker = rig.start_worker("w1")
    assert re.search(r"transport:\s+amqp://guest:\*\*@127\.0\.0\.1:5672/notify-test-", worker.log.read_text())
    expected = {f"Alert {i}" for i in range(8)}
    for subject in sorted(expected):
        send([alice], title=subject, priority="urgent")
    # when the worker is SIGKILLed in the middle of an SMTP transaction (its message unacknowledged)
    _wait(lambda: rig.smtp.handler.started >= 3, 20, "the worker never started delivering")
    worker.kill()
    # then RabbitMQ hands the message to the next worker: every email arrives, at most one of them twice
    rig.start_worker("w2")
    _wait(lambda: set(_subjects(rig.smtp)) == expected, 25, f"not all sent: {_subjects(rig.smtp)}")
    _wait(lambda: not Delivery.objects.exclude(status="sent").exists(), 10, "rows not all marked sent")
    time.sleep(1.0)  # anything that would be sent twice has had the time to arrive
    counts = _subjects(rig.smtp)
    assert set(counts) == expected
    assert max(counts.values()) <= 2
    assert sum(counts.values()) <= len(expected) + 1


def test_broker_down_while_sending_everything_goes_out_once_it_is_back(rig):
    alice = make_user("alice")
    rig.smtp.handler.delay = 0.2
    rig.start_worker("w1")
    first = {f"Before {i}" for i in range(6)}
    for subject in sorted(first):
        send([alice], title=subject, priority="urgent")
    _wait(lambda: rig.smtp.handler.count() >= 1, 20, "nothing delivered before the outage")
    # when the broker dies while the worker is sending (its queue is lost: no persistence)
    rig.broker.kill()
    # and more notifications are sent while it is down (publishing on commit fails; the sends must not)
    during = {f"During {i}" for i in range(4)}
    for subject in sorted(during):
        send([alice], title=subject, priority="urgent")
    time.sleep(1.0)
    # then once the broker is back, everything goes out
    rig.broker.start()
    expected = first | during
    _wait(lambda: set(_subjects(rig.smtp)) == expected, 25, f"not all sent: {_subjects(rig.smtp)}")
    _wait(lambda: not Delivery.objects.exclude(status="sent").exists(), 10, "rows not all marked sent")
    counts = _subjects(rig.smtp)
    assert set(counts) == expected
    assert max(counts.values()) <= 2


def test_a_worker_pushes_through_apns_and_fcm_on_the_wire(rig, apns_server, fcm_server):
    # given a worker configured like production, through the environment, with APNs and FCM at the loopback servers
    rig.env.update(
        {
            "APNS_KEY_PATH": settings.APNS_KEY_PATH,
            "APNS_KEY_ID": settings.APNS_KEY_ID,
            "APNS_TEAM_ID": settings.APNS_TEAM_ID,
            "APNS_TOPIC": settings.APNS_TOPIC,
            "APNS_USE_SANDBOX": "false",
            "APNS_HOST": settings.APNS_HOST,
            "APNS_PORT": str(settings.APNS_PORT),
            "APNS_CA_FILE": settings.APNS_CA_FILE,
            "FCM_CREDENTIALS": settings.FCM_CREDENTIALS,
            "FCM_API_URL": settings.FCM_API_URL,
        }
    )
    rig.start_worker("w1")
    # and alice with an iPhone, an uninstalled iPad and an Android phone
    alice = make_user("alice")
    iphone, ipad = (hashlib.sha256(name).hexdigest() for name in (b"iphone", b"ipad"))
    APNSDevice.objects.create(user=alice, registration_id=iphone)
    APNSDevice.objects.create(user=alice, registration_id=ipad)
    GCMDevice.objects.create(user=alice, registration_id="android-1", cloud_message_type="FCM")
    apns_server.answers[ipad] = (410, "Unregistered")
    # when an urgent notification is sent (planned and dispatched on commit, as from the API)
    result = send([alice], category="mention", title="Server down", priority="urgent", group_key="incident-7")
    # then the worker delivers it to APNs and FCM, and deactivates only the uninstalled device
    pushes = Delivery.objects.filter(notification__content=result.content, channel__in=["apns", "fcm"])
    assert pushes.count() == 3
    _wait(lambda: not pushes.exclude(status__in=["sent", "dead"]).exists(), 25, "push deliveries not all done")
    (ios,) = apns_server.sent(iphone)
    assert ios.payload["aps"]["alert"] == {"title": "Server down"} and ios.headers["apns-collapse-id"] == "incident-7"
    (android,) = fcm_server.sends("android-1")
    assert android.status == 200 and android.body["message"]["notification"] == {"title": "Server down"}
    assert sorted(pushes.values_list("status", flat=True)) == ["dead", "sent", "sent"]
    assert list(APNSDevice.objects.filter(active=False).values_list("registration_id", flat=True)) == [ipad]
    assert GCMDevice.objects.get(registration_id="android-1").active
