"""Django's Redis cache with one connection pool per process.

Under ASGI, Django builds a cache object per async context (`caches` is context-local), that is one per request
or WebSocket handshake, and each RedisCache opens its own connection pool: every session read paid a new Redis
connection (measured: a handshake storm spent most of its time connecting to Redis). The client, and with it the
pool, is shared by every cache object of the same configuration in the process.
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_clients: dict[str, RedisCacheClient] = {}
_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    # Set by RedisCache.__init__; declared for the type checker.
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]

    @property
    def _cache(self) -> Any:  # type: ignore[override]
        key = repr((self._servers, sorted(self._options.items())))
        client = _clients.get(key)
        if client is None:
            with _lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = self._class(self._servers, **self._options)
        return client
