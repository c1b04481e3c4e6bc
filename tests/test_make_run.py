"""`make run` boots the embedded default: migrate, seed, daphne; alice logs in and sees a CLI-sent notification."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def _login_page_wait(proc: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if requests.get(f"{base}/accounts/login/", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "make run did not serve the login page"
        time.sleep(0.5)


def test_make_run_boots_and_shows_a_cli_notification(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    # A throwaway SQLite file instead of the developer's db.sqlite3; still the embedded default.
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}", DJANGO_DEBUG="true")
    venv = Path(sys.prefix)
    proc = subprocess.Popen(
        ["make", "-s", "run", f"PORT={port}", f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _login_page_wait(proc, base)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "manage.py",
                "notify",
                "--to",
                "alice",
                "--category",
                "comment",
                "--title",
                "Hello from the shell",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        session = requests.Session()
        page = session.get(f"{base}/accounts/login/", timeout=5)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf is not None
        token = csrf.group(1)
        response = session.post(
            f"{base}/accounts/login/",
            data={"username": "alice", "password": "demo-pass-123", "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=5,
        )
        assert response.status_code == 200
        assert "Hello from the shell" in response.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
