"""Helpers shared by the WebSocket tests (unit and integration)."""

import asyncio
import functools
import importlib
from collections.abc import Callable, Coroutine
from typing import Any

from django.apps import apps


def categories_seed() -> None:
    """Transactional tests flush every table, seeded categories included: put them back."""
    importlib.import_module("notifications.migrations.0002_seed_categories").seed(apps, None)


def async_test(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
