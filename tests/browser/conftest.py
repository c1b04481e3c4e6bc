"""Browser suite: Debian's Chromium (Playwright for Python) against a real daphne subprocess.

The live server gets its own database (a SQLite file, or `<DATABASE_URL's name>_browser` on PostgreSQL), migrated
and seeded once per session from tests/browser/dataset.py; with REDIS_URL it uses Redis under its own prefix.
Chromium missing: the tests skip on a laptop and fail in CI (REQUIRE_SERVICES=1).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.browser.dataset import PASSWORD
from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class LiveServer:
    url: str
    port: int
    users: dict[str, int]
    token: str
    log: Path
    process: subprocess.Popen[bytes]
    storage: dict[str, Any] = field(default_factory=dict)


def _postgres_browser_db(database_url: str) -> str:
    """A fresh database next to the test run's own, dropped and recreated each session."""
    import psycopg

    parts = urlsplit(database_url)
    name = f"{parts.path.lstrip('/') or 'notify'}_browser"
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _postgres_drop(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        service_missing("needs Debian's chromium (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots and measurements of this run: test-artifacts/browser-<timestamp>/ (git-ignored, kept by CI)."""
    path = ARTIFACTS / f"browser-{datetime.now():%Y%m%d-%H%M%S}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def daphne_server(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "notifyproject.settings.test"
    env["PYTHONUNBUFFERED"] = "1"
    database_url = env.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        env["DATABASE_URL"] = _postgres_browser_db(database_url)
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'browser.sqlite3'}"
    if env.get("REDIS_URL"):
        env["REDIS_PREFIX"] = f"{env.get('REDIS_PREFIX', 'notify')}-browser"
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run(
        [python, "-m", "tests.browser.seed"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    data = json.loads(seeded.stdout.strip().splitlines()[-1])

    log = workdir / "daphne.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                python,
                "-m",
                "notifyproject.serve",
                "-e",
                "tcp:port=0:interface=127.0.0.1",
                "notifyproject.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    port = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not port:
        match = re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if match:
            port = int(match.group(1))
        elif process.poll() is not None:
            break
        else:
            time.sleep(0.1)
    if not port:
        process.kill()
        pytest.fail(f"daphne did not start:\n{log.read_text(errors='replace')[-3000:]}")
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", port=port, users=data["users"], token=data["token"], log=log, process=process
    )
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if env["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        _postgres_drop(env["DATABASE_URL"])
    if os.environ.get("BROWSER_KEEP_LOG"):
        shutil.copy(log, ARTIFACTS / "daphne.log")


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Module scope: Playwright's sync API keeps an event loop in this thread while it runs, and Django refuses
    database calls from a thread with a running loop, so it must be gone before the next module's database tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def login(browser: Any, server: LiveServer, username: str, *, base_url: str | None = None, **options: Any) -> Any:
    """A browser context logged in as `username` (the login form once per user, then its saved cookies)."""
    base = base_url or server.url
    context = browser.new_context(base_url=base, **options)
    if username in server.storage:
        context.add_cookies(server.storage[username])
        return context
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/notifications/")
    page.close()
    server.storage[username] = context.cookies()
    return context


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    """Contexts a test opens are closed after it, whatever happens."""
    opened: list[Any] = []
    yield opened
    for context in opened:
        context.close()
