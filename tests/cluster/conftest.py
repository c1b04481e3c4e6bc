"""The cluster, started once for the tests of a module and removed after them (also when one fails).

Skipped on the embedded default (no PostgreSQL); with REQUIRE_SERVICES=1 (CI's PostgreSQL pass) a missing tool
(ip, haproxy, pgbouncer, redis-server, rabbitmq-server) or missing root fails the
tests instead."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from bench.harness.cluster import Cluster, tools_missing
from bench.harness.live import database_url
from tests.conftest import service_missing

# Per test, its own users (tickets and sends are rate-limited per user; inboxes stay separate).
USERS_PER_TEST = 6
TESTS = ("fanout", "sync", "kill", "pgbouncer", "shard", "mail", "rolling")

USERS_CODE = """
import json
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
out = {}
def make(name):
    user = User.objects.create_user(name, f"{name}@example.com")
    out[name] = {"id": user.pk, "token": Token.objects.create(user=user).key}
    return user
make("producer").user_permissions.add(Permission.objects.get(codename="send_notification"))
for test in %r:
    for i in range(%d):
        make(f"{test}{i}")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    config = settings.DATABASES["default"]
    if not config["ENGINE"].endswith("postgresql"):
        service_missing("the cluster needs PostgreSQL (set DATABASE_URL)")
    missing = tools_missing()
    if missing:
        service_missing(f"the cluster needs {', '.join(missing)}")
    admin = database_url({**config, "NAME": "postgres"})
    with Cluster(postgres=admin) as running:
        yield running


@pytest.fixture(scope="module")
def accounts(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """name -> {"id", "token"}: `producer` may send; `<test><i>` are recipients."""
    return cluster.manage(USERS_CODE % (TESTS, USERS_PER_TEST))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed cluster test reports the tail of every host's log: the only view of what a worker or web host did."""
    report = yield
    if report.when == "call" and report.failed:
        running = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
        if isinstance(running, Cluster):
            for path in sorted(running.workdir.glob("*.log")):
                tail = path.read_text(errors="replace").splitlines()[-60:]
                report.sections.append((f"{path.stem} log (last {len(tail)} lines)", "\n".join(tail)))
    return report
