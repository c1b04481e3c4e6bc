"""The one time-zone fallback: a user's zone by name, UTC when the name is unusable.

Writes refuse unknown names (preferences.services), but a row may hold one stored before, or a zone the system's
tz database has since dropped: planning, pages and do-not-disturb must then still work, all in the same zone.
"""

import zoneinfo
from functools import lru_cache

UTC_NAME = "UTC"


@lru_cache(maxsize=512)
def zone_or_utc(name: str) -> zoneinfo.ZoneInfo:
    """The zone called `name`, or UTC. Cached: the delivery planner asks once per recipient."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return zoneinfo.ZoneInfo(UTC_NAME)
