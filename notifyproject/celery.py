"""Celery application. Settings live in Django settings under the CELERY_ namespace."""

import functools
import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from celery.worker.consumer import Consumer

from notifyproject.heap import heap_settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifyproject.settings.base")

# How long a worker waits between tries to reach its broker again after losing it (seconds): kombu's default
# (2, 4, 6 ... up to 30 s) leaves a worker idle for up to half a minute after the broker came back, while due email
# and push wait, or a worker started meanwhile takes all of it. Short and bounded: every worker is back within
# about two seconds of the broker (a reconnect is one TCP connection per worker: no load worth backing off from).
BROKER_RECONNECT = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 2.0}


class PromptReconnectConsumer(Consumer):
    """The worker's consumer, reconnecting with BROKER_RECONNECT's intervals (CELERY_WORKER_CONSUMER)."""

    def ensure_connected(self, conn: Any) -> Any:
        # Celery passes no intervals to kombu's ensure_connection, so kombu's defaults apply; give it ours.
        conn.ensure_connection = functools.partial(conn.ensure_connection, **BROKER_RECONNECT)
        return super().ensure_connected(conn)


app = Celery("notifyproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _heap_settle(**_: Any) -> None:
    """Each worker process, once started: the web processes' collector settings (notifyproject.heap)."""
    heap_settle()
