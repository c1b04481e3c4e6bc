"""`python -m bench.delivery`: deliveries per second of one worker, for email and for Web Push.

One worker process = what `celery worker --pool=solo` runs per task: the state machine claims a batch
(DELIVERY_BATCH_SIZE rows, SKIP LOCKED), re-checks it, sends through the delivery channel and records each outcome.
Email goes to a real SMTP server on loopback (aiosmtpd), Web Push to a real push service on loopback (VAPID-signed,
aes128gcm-encrypted requests). The broker hop is not included: it is one small message per batch.

PostgreSQL by default (BENCH_PG / BENCH_DB_PREFIX as for `make bench`; database `<prefix>delivery`);
`--sqlite` uses a temporary SQLite file instead. Prints the median of --runs runs.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import env


def _setup(sqlite: bool) -> None:
    config = env.Config()
    if sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    else:
        env.db_create(config, "delivery", fresh=True)
        os.environ["DATABASE_URL"] = config.db_url("delivery")
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="notifyproject.settings.base",
        DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-use-0123456789",
        DJANGO_DEBUG="false",
        EMBEDDED_SCHEDULER="false",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


def _serve(smtp_port: int, ready) -> None:
    """The SMTP server and the push service, in their own process (so they do not share the worker's GIL)."""
    import logging

    logging.disable(logging.CRITICAL)
    from bench.harness.servers import push_service_start, smtp_server_start

    smtp_server_start(smtp_port)
    push = push_service_start()
    ready.send(push.port)
    while True:
        time.sleep(3600)


def _run(channel: str, count: int, push_origin: str) -> float:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from push_notifications.models import WebPushDevice

    from bench.harness.servers import Subscription
    from notifications.delivery.machine import deliveries_send
    from notifications.delivery.planner import deliveries_plan_pending
    from notifications.models import Delivery, Notification
    from notifications.services import notify

    User = get_user_model()
    tag = f"u{time.monotonic_ns()}"
    User.objects.bulk_create([User(username=f"{tag}-{i}", email=f"{tag}-{i}@example.com") for i in range(count)])
    users = list(User.objects.filter(username__startswith=f"{tag}-"))
    if channel == "webpush":
        subs = [Subscription.create(f"{push_origin}/push/{tag}-{u.pk}") for u in users]
        WebPushDevice.objects.bulk_create(
            [
                WebPushDevice(user=u, registration_id=s.endpoint, p256dh=s.p256dh, auth=s.auth_b64)
                for u, s in zip(users, subs, strict=True)
            ]
        )
    with transaction.atomic():
        result = notify(recipients=users, category="comment", title="Bench", body="Delivery bench", priority="urgent")
    deliveries_plan_pending()
    ids = list(
        Delivery.objects.filter(notification__content=result.content, channel=channel).values_list("pk", flat=True)
    )
    assert len(ids) == count, (channel, len(ids))
    Delivery.objects.filter(pk__in=ids).update(due_at=timezone.now())
    from django.conf import settings

    size = settings.DELIVERY_BATCH_SIZE
    started = time.perf_counter()
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    for i in range(0, len(ids), size):
        deliveries_send(delivery_ids=ids[i : i + size])
    elapsed = time.perf_counter() - started
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"] + f".{channel}")
    sent = Delivery.objects.filter(pk__in=ids, status="sent").count()
    assert sent == count, f"{channel}: only {sent}/{count} sent"
    Notification.objects.filter(content=result.content).delete()
    return count / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="deliveries per run and channel")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="SQLite file instead of PostgreSQL")
    args = parser.parse_args(argv)
    _setup(args.sqlite)

    import multiprocessing

    from bench.harness.servers import free_port
    from notifications import jobs
    from notifications.delivery.vapid import vapid_keys_generate

    # The bench drives the worker side itself: _run plans, then times the sending alone.
    jobs.wake_on_commit = lambda name: None  # type: ignore[assignment]
    jobs.enqueue_on_commit = lambda name, *args: None  # type: ignore[assignment]
    keys = vapid_keys_generate()
    from django.conf import settings

    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = keys.public_key, keys.private_key
    smtp_port = free_port()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    servers = multiprocessing.get_context("fork").Process(target=_serve, args=(smtp_port, sender), daemon=True)
    servers.start()
    push_origin = f"http://127.0.0.1:{receiver.recv()}"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_port
    settings.EMAIL_USE_TLS = False
    database = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"deliveries/s of one worker process ({database}, batch {settings.DELIVERY_BATCH_SIZE}, {args.count}/run)")
    try:
        for channel in ("email", "webpush"):
            rates = [_run(channel, args.count, push_origin) for _ in range(args.runs)]
            print(
                f"  {channel:8} median {statistics.median(rates):7.0f}/s   runs: {', '.join(f'{r:.0f}' for r in rates)}"
            )
    finally:
        servers.terminate()
        servers.join(5)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
