"""Per-process cache of the categories: every send needs its category, and categories change only when staff edit them.

Any edit (admin, shell, migrations: the model's save/delete hooks call `categories_changed`) clears every process's
copy (process_cache.py); a copy also expires after CATEGORY_CACHE_SECONDS, and a slug the copy does not know is looked
up once (a category created a moment ago in another process).

Cached instances are shared by every thread of the process: read them, never modify them.
"""

import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from .models import Category
from .process_cache import ProcessCache

_cache: ProcessCache[dict[str, Category]] = ProcessCache("categories", ttl=lambda: settings.CATEGORY_CACHE_SECONDS)


def categories_by_slug() -> dict[str, Category]:
    """Every category, by slug, from this process's copy (loaded with one query when missing or expired)."""
    current = _cache.get("all")
    if current is not None:
        return current
    started = time.monotonic()
    loaded = {c.slug: c for c in Category.objects.all()}
    _cache.put("all", loaded, loaded_at=started)
    return loaded


def category_get(slug: str) -> Category | None:
    category = categories_by_slug().get(slug)
    if category is None and Category.objects.filter(slug=slug).exists():
        categories_cache_clear()  # created since this copy was loaded
        category = categories_by_slug().get(slug)
    return category


def category_slugs_by_id(ids: Iterable[int]) -> dict[int, str]:
    """Category id -> slug from this process's copy, covering `ids` when they exist: an id the copy does not know
    (a category created a moment ago in another process) reloads it once."""
    wanted = set(ids)
    slugs = {c.pk: slug for slug, c in categories_by_slug().items()}
    if not wanted <= slugs.keys():
        categories_cache_clear()
        slugs = {c.pk: slug for slug, c in categories_by_slug().items()}
    return slugs


def categories_cache_clear() -> None:
    """Forget this process's copy (the next send loads it again)."""
    _cache.clear()


def categories_changed() -> None:
    """A category was created, changed or deleted: every process forgets its copy (this one at once and after
    commit, the others when the commit is announced)."""
    _cache.changed()


def on_category_edited(sender: Any, **kwargs: Any) -> None:
    categories_changed()
