"""Every long-lived process settles its heap once started (notifyproject.heap): web, Celery worker processes."""

import gc
import subprocess
import sys

import pytest
from celery.signals import worker_process_init

from notifyproject.heap import heap_settle


@pytest.fixture
def collector_restored():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settling_freezes_what_start_up_loaded_and_makes_full_collections_rare(collector_restored):
    # given the interpreter's defaults
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    # when a process settles
    heap_settle()
    # then start-up's objects are frozen (never re-scanned) and young garbage is still collected, less often
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold() == (20_000, 20, 20)


def test_a_celery_worker_process_settles_once_started(collector_restored):
    # given the defaults in this process
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    # when Celery says a worker process started (what prefork children receive after the fork)
    worker_process_init.send(sender=None)
    # then it settled like a web process
    assert gc.get_threshold() == (20_000, 20, 20)
    assert gc.get_freeze_count() > 0


def test_the_web_process_settles_when_the_asgi_application_loads():
    # given a fresh interpreter: importing the ASGI application (what daphne does) settles the heap
    code = "import gc, notifyproject.asgi; print(gc.get_threshold(), gc.get_freeze_count() > 10000)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "(20000, 20, 20) True"
