"""The worker's consumer reconnects to a lost broker within seconds, not kombu's 2-30 s back-off."""

import logging
import re
import socket
from types import SimpleNamespace

import pytest
from kombu.exceptions import OperationalError

from notifyproject.celery import PromptReconnectConsumer, app


def closed_port() -> int:
    """A loopback port nothing listens on: every connection attempt is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def three_tries():
    """The app allows three tries to reach the broker (then the error is raised), for this test only."""
    before = app.conf.broker_connection_max_retries
    app.conf.broker_connection_max_retries = 3
    yield
    app.conf.broker_connection_max_retries = before


def test_a_worker_retries_an_unreachable_broker_at_short_bounded_intervals(caplog, three_tries):
    # given a worker's consumer and a broker that refuses connections
    # (the worker that owns it is not started: only what the consumer reads of it, its event-loop mode)
    worker = SimpleNamespace(use_eventloop=False)
    consumer = PromptReconnectConsumer(lambda request: None, app=app, hostname="test@localhost", controller=worker)
    conn = app.connection_for_read(f"amqp://guest:guest@127.0.0.1:{closed_port()}//")

    # when it tries to connect
    with caplog.at_level(logging.ERROR, logger="celery.worker.consumer.consumer"):
        with pytest.raises(OperationalError):
            consumer.ensure_connected(conn)

    # then it tried again after 0.5 s (which kombu announces as "now"), 1.0 s and 1.5 s; kombu's default waits
    # would be announced as 4 and 6 seconds, growing to 30
    waits = re.findall(r"Trying again (now|in [0-9.]+ seconds?)", caplog.text)
    assert waits == ["now", "in 1.00 second", "in 1.50 seconds"], caplog.text
    conn.release()


def test_the_worker_uses_the_prompt_consumer():
    assert app.conf.worker_consumer == "notifyproject.celery:PromptReconnectConsumer"
