"""Shared fixtures. Service-backed fixtures skip on a laptop but fail in CI (REQUIRE_SERVICES=1)."""

import importlib
import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from bench.harness.live import Daphne, database_url
from notifications.categories import categories_cache_clear
from notifications.delivery.webhook_events import webhook_endpoints_cache_clear
from tests.factories import make_user

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")


def service_missing(reason: str) -> None:
    """A missing service fails the test in CI and skips it elsewhere."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _categories_cache_fresh():
    """Each test sees its own categories: flushes and rollbacks between tests bypass the cache's invalidation."""
    categories_cache_clear()
    yield
    categories_cache_clear()


@pytest.fixture(autouse=True)
def _webhook_endpoints_cache_fresh():
    """Each test sees its own webhook endpoints (a rollback bypasses the cache's invalidation)."""
    webhook_endpoints_cache_clear()
    yield
    webhook_endpoints_cache_clear()


@pytest.fixture(autouse=True)
def _categories_after_flush(request):
    """Transactional tests flush every table at teardown, the seeded categories too: put them back first."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    seed = importlib.import_module("notifications.migrations.0002_seed_categories").seed
    seed(apps, None)


@pytest.fixture
def postgres():
    """Tests whose point only exists on PostgreSQL (row locks, concurrent transactions). Ask for db access too."""
    if connection.vendor != "postgresql":
        service_missing("needs PostgreSQL (set DATABASE_URL)")
    return connection


def live_daphne(**extra_env: str) -> Daphne:
    """A real daphne process (the Procfile's command) on this run's PostgreSQL test database and Redis prefix."""
    if connection.vendor != "postgresql":
        service_missing("needs PostgreSQL (set DATABASE_URL)")
    if not settings.REDIS_URL:
        service_missing("needs Redis (set REDIS_URL)")
    return Daphne(
        database=database_url(connection.settings_dict),
        redis=settings.REDIS_URL,
        prefix=settings.REDIS_PREFIX,
        extra_env=extra_env or None,
    )


@pytest.fixture
def web() -> Iterator[Daphne]:
    """A live web process for tests that speak HTTP or WebSocket to a real server (ask for transactional db too)."""
    server = live_daphne()
    yield server
    server.stop()


@pytest.fixture
def redis_url() -> str:
    url = settings.REDIS_URL
    if not url:
        service_missing("needs Redis (set REDIS_URL)")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.fail(f"REDIS_URL is set but Redis does not answer: {exc}")
    return url


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def staff(db):
    return make_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def sender(db):
    return make_user("sender", perms=["send_notification"])


@pytest.fixture(autouse=True)
def _categories_seeded(request):
    """A transactional test flushes every table afterwards, the categories seeded by migration too: put them back
    before each transactional test, whatever ran before it."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker is not None and marker.kwargs.get("transaction")):
        import importlib

        from django.apps import apps

        request.getfixturevalue("transactional_db")
        importlib.import_module("notifications.migrations.0002_seed_categories").seed(apps, None)
