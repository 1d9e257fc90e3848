"""An in-process stand-in for memcached, for the test Swift proxy (a paste filter).

A production proxy keeps account and container info in memcached; without one, every object
request costs two extra backend requests and the tests run about three times slower. The fixture
copies this file next to the server configs and names it in the proxy pipeline as
``paste.filter_factory = swift_memcache:filter_factory``. It is not imported by the tests.

With one proxy process the cache stays coherent (the proxy clears what it changes), exactly as a
single proxy with memcached does. Tokens do not live here: tempauth uses fernet tokens.
"""

from __future__ import annotations

import time
from typing import Any, Callable


class DictCache:
    """The subset of ``swift.common.memcached.MemcacheRing`` the proxy uses, on a dict."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[Any, float]] = {}

    def get(self, key: str, raise_on_error: bool = False) -> Any:
        value, expires = self._data.get(key, (None, 0.0))
        if expires and expires < time.time():
            self._data.pop(key, None)
            return None
        return value

    def set(self, key: str, value: Any, serialize: bool = True, time: float = 0,
            min_compress_len: int = 0, raise_on_error: bool = False) -> bool:
        self._data[key] = (value, _now() + time if time else 0.0)
        return True

    def incr(self, key: str, delta: int = 1, time: float = 0) -> int:
        value = int(self.get(key) or 0) + delta
        self.set(key, value, time=time)
        return value

    def decr(self, key: str, delta: int = 1, time: float = 0) -> int:
        return self.incr(key, -delta, time)

    def delete(self, key: str, server_key: str | None = None) -> None:
        self._data.pop(key, None)

    def get_multi(self, keys: list[str], server_key: str) -> list[Any]:
        return [self.get(key) for key in keys]

    def set_multi(self, mapping: dict[str, Any], server_key: str, serialize: bool = True,
                  time: float = 0, min_compress_len: int = 0) -> None:
        for key, value in mapping.items():
            self.set(key, value, time=time)


def _now() -> float:
    return time.time()


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[..., Any]:
    """The paste filter factory: puts one shared :class:`DictCache` in ``env['swift.cache']``."""
    cache = DictCache()

    def make_filter(app: Callable[..., Any]) -> Callable[..., Any]:
        def middleware(env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            env["swift.cache"] = cache
            return app(env, start_response)

        return middleware

    return make_filter
