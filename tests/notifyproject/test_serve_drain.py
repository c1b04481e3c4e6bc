"""SIGTERM drains HTTP: the web process stops listening at once and answers the requests in flight before it exits,
so a rolling restart behind a load balancer costs no request (the cluster's test 7 does it through HAProxy).

A live process whose database is a socket of the test's own that accepts and stays silent: a request waits on it,
in flight, for as long as the test wants (no service needed, so this runs on the embedded pass too)."""

import os
import signal
import socket
import threading
import time

import pytest
import requests

from bench.harness.live import Daphne

pytestmark = [pytest.mark.slow]

TOKEN = {"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"}


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_sigterm_stops_listening_at_once_and_still_answers_the_request_in_flight():
    # given a web process whose database accepts connections and never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    web = Daphne(
        database=f"postgres://postgres@127.0.0.1:{silent.getsockname()[1]}/silent",
        redis="",
        prefix="drain",
        extra_env={"DATABASE_POOL": "0"},
    )
    answers: list[requests.Response] = []
    errors: list[Exception] = []

    def call() -> None:
        try:
            answers.append(requests.get(f"{web.base}/api/v1/notifications/unread-count/", headers=TOKEN, timeout=60))
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    try:
        # and a request in flight: its database connection accepted, waiting for the server's first word
        caller.start()
        database_side, _ = silent.accept()
        # when the process gets SIGTERM
        os.kill(web.proc.pid, signal.SIGTERM)
        # then it stops listening at once, while it is still alive and the request still waits
        _until(lambda: not _listening(web.port), "still listening after SIGTERM")
        assert web.proc.poll() is None
        assert caller.is_alive() and answers == [] and errors == []
        # and once the database hangs up, the request gets its answer (the documented 503), then the process exits
        database_side.close()
        caller.join(30)
        assert errors == []
        assert [a.status_code for a in answers] == [503]
        assert answers[0].json()["code"] == "database_unavailable"
        assert web.proc.wait(30) == 0
    finally:
        web.kill()
        silent.close()
