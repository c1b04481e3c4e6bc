"""R5: schemathesis against a real daphne process on loopback with PostgreSQL behind it.

Two runs (a sender token, a plain user token), fuzzing + stateful phases (links: list -> detail -> patch, device
create -> retrieve -> update -> delete). Checks: no 5xx, documented status codes, content types, headers and
response bodies that match the schema. Bounded by max examples so it stays well under a minute.
"""

import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.authtoken.models import Token

from notifications.models import Category
from tests.factories import make_user, send

ROOT = Path(__file__).resolve().parents[3]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        # schema-invalid input must be refused (e.g. `device_id: false`). Its mirror, positive_data_acceptance,
        # cannot pass on data-dependent rules (unknown recipients, taken device tokens, datetime range).
        "negative_data_rejection",
    ]
)
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _seed_categories() -> None:
    """Transactional tests flush tables, data migrations included: put the seeded categories back."""
    if not Category.objects.exists():
        importlib.import_module("notifications.migrations.0002_seed_categories").seed(django_apps, None)


@pytest.fixture
def live_api(postgres, transactional_db, tmp_path):
    _seed_categories()
    sender = make_user("fuzz-sender", perms=["send_notification", "broadcast_notification"])
    user = make_user("fuzz-user")
    Group.objects.create(name="ops").user_set.add(user)
    for i in range(3):
        # two in one group: the grouped list and the group endpoints answer with a real group
        send([user], title=f"n{i}", data={"i": i}, actions=[{"label": "Open", "url": "/x"}], group_key="g" if i else "")
    tokens = {"sender": Token.objects.create(user=sender).key, "user": Token.objects.create(user=user).key}

    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(
        DJANGO_SETTINGS_MODULE="notifyproject.settings.test",
        DATABASE_URL=_database_url(),
        NOTIFICATIONS_SEND_RATE="off",
        PYTHONUNBUFFERED="1",
    )
    log = open(tmp_path / "daphne.log", "w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "--endpoint",
            "tcp:port=0:interface=127.0.0.1",
            "notifyproject.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            found = re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", (tmp_path / "daphne.log").read_text())
            port = int(found.group(1)) if found else None
        assert port is not None, (tmp_path / "daphne.log").read_text()[-2000:]
        yield f"http://127.0.0.1:{port}", tokens, tmp_path / "daphne.log"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _schemathesis(base: str, token: str, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{base}/api/v1/schema/",
            "-H",
            f"Authorization: Token {token}",
            "--checks",
            CHECKS,
            "--phases",
            "fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261124",
            "--request-timeout",
            "20",
            "--warnings",
            "off",
            "--no-color",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_fuzzed_api_never_5xx_and_matches_its_schema(live_api, tmp_path):
    base, tokens, daphne_log = live_api
    for role in ("sender", "user"):
        result = _schemathesis(base, tokens[role], tmp_path)
        report = result.stdout[-6000:] + result.stderr[-2000:]
        assert result.returncode == 0, (
            f"schemathesis as {role}:\n{report}\n--- server log ---\n{daphne_log.read_text()[-3000:]}"
        )
        assert "No issues found" in result.stdout, report
    assert "Traceback" not in daphne_log.read_text()
