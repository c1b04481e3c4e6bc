"""Work for Celery workers, enqueued by task name (Zulip's queue-by-name): services never import tasks, the layer
above them. Enqueuing happens after commit and never fails the caller: whatever it hands out is also recorded in the
database (an outbox or a due row) that a periodic sweep picks up if the message is lost.

Embedded mode (no broker, CELERY_TASK_ALWAYS_EAGER) runs the task right here, in the calling thread.
"""

import logging
import os
import threading
import time
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(name: str, *args: Any) -> None:
    """Hand a task to a worker now (or run it here in embedded mode). Failures are logged, never raised."""
    app = current_app
    try:
        if app.conf.task_always_eager:
            if name not in app.tasks:
                app.loader.import_default_modules()  # registers the project's tasks (autodiscovery), by name
            result = app.tasks[name].apply(args=args)
            if result.failed():
                logger.error("task %s failed in process\n%s", name, result.traceback)
            return
        app.send_task(name, args=args)
    except Exception as exc:  # the broker is down: the sweep finds the work in the database
        logger.warning("could not enqueue %s (%s: %s); a periodic sweep will pick it up", name, type(exc).__name__, exc)


def enqueue_on_commit(name: str, *args: Any) -> None:
    """Enqueue once the current transaction commits (never for work that was rolled back)."""
    transaction.on_commit(lambda: enqueue(name, *args))


class _Waker:
    """Wakes a task that takes no arguments and works through whatever the database says is pending.

    A broker message costs about a millisecond of the sender's CPU, more than the rest of a one-recipient send, so
    a process sends at most one such message per JOBS_WAKE_WINDOW and name, from its own thread: the first wake-up
    goes out at once, later ones within the window ride on the next. At 1,000 sends/s that is ~50 messages, not 1,000.
    """

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._pid: int | None = None
        self._busy = False

    def wake(self, name: str) -> None:
        with self._cond:
            self._pending.add(name)
            if self._pid != os.getpid():  # first use in this process (or a fork of it): start its thread
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="jobs-waker", daemon=True).start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while not self._pending:
                    self._cond.wait()
                names, self._pending, self._busy = self._pending, set(), True
            for name in sorted(names):
                enqueue(name)
            time.sleep(settings.JOBS_WAKE_WINDOW)

    def flush(self, timeout: float) -> bool:
        """Wait until every wake-up asked for so far went out (tests; a clean shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)


_waker = _Waker()


def wakes_flush(timeout: float = 5.0) -> bool:
    return _waker.flush(timeout)


def wake_on_commit(name: str) -> None:
    """After commit, make sure a worker soon runs task `name` (no arguments). Embedded mode runs it right here."""
    if current_app.conf.task_always_eager:
        transaction.on_commit(lambda: enqueue(name))
    else:
        transaction.on_commit(lambda: _waker.wake(name))


def wake_worker_on_commit(name: str) -> None:
    """After commit, make sure a worker soon runs task `name` (no arguments), for work that does network I/O and so
    must not run in the request that asked for it. Embedded mode has no worker: the embedded scheduler's periodic
    run of the same task (CELERY_BEAT_SCHEDULE) picks the work up from the database within its interval."""
    if not current_app.conf.task_always_eager:
        transaction.on_commit(lambda: _waker.wake(name))
