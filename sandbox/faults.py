"""Fault knobs and the request log of a sandbox server (thread-safe, mutable at runtime from tests)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    """One request as the server saw it (never holds the Authorization header)."""

    method: str
    path: str
    query: dict[str, str]
    transport: str  # "body" (JSON body), "query" (JSON-encoded query params), "both" or "none"
    body: Any
    status: int = 0
    fault: str | None = None
    authorized: bool = False


@dataclass
class _Scheduled:
    kind: str  # "fail" | "rate_limit" | "truncate" | "html"
    remaining: int
    status: int = 503
    retry_after: int = 1
    match: str | None = None


@dataclass
class Faults:
    """Failure injection. ``fail_next`` & co. affect the next matching requests in arrival order.

    ``sleep`` is injectable so tests can observe ``latency_ms`` without sleeping for real.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    ignore_filters: bool = False
    compat_post: bool = True
    seed: int = 0
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queue: list[_Scheduled] = field(default_factory=list, repr=False)
    _rng: random.Random = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _schedule(self, item: _Scheduled) -> None:
        if item.remaining < 0:
            raise ValueError(f"fault count must be >= 0, got {item.remaining}")
        with self._lock:
            self._queue.append(item)

    def fail_next(self, n: int, status: int = 503, *, match: str | None = None) -> None:
        """The next ``n`` requests (whose path contains ``match``, if given) answer ``status``."""
        self._schedule(_Scheduled("fail", n, status=status, match=match))

    def rate_limit_next(self, n: int, retry_after: int = 1, *, match: str | None = None) -> None:
        """The next ``n`` requests answer 429 with ``Retry-After: retry_after``."""
        self._schedule(_Scheduled("rate_limit", n, status=429, retry_after=retry_after, match=match))

    def truncate_next(self, n: int, *, match: str | None = None) -> None:
        """The next ``n`` successful answers are HTTP 200 with a JSON body cut in half."""
        self._schedule(_Scheduled("truncate", n, status=200, match=match))

    def html_next(self, n: int, status: int = 200, *, match: str | None = None) -> None:
        """The next ``n`` requests get an HTML page (``text/html``) with ``status``."""
        self._schedule(_Scheduled("html", n, status=status, match=match))

    def clear(self) -> None:
        """Drop every scheduled fault and reset the knobs to a healthy server."""
        with self._lock:
            self._queue.clear()
            self.latency_ms, self.error_rate, self.ignore_filters = 0.0, 0.0, False

    def take(self, path: str, *, kinds: tuple[str, ...]) -> _Scheduled | None:
        """Consume one scheduled fault of one of ``kinds`` matching ``path`` (``None`` if none)."""
        with self._lock:
            for item in self._queue:
                if item.kind in kinds and item.remaining > 0 and (item.match is None or item.match in path):
                    item.remaining -= 1
                    return item
            return None

    def random_failure(self) -> bool:
        """True with probability ``error_rate`` (seeded, so a run is reproducible)."""
        with self._lock:
            return self.error_rate > 0 and self._rng.random() < self.error_rate

    def delay(self) -> None:
        if self.latency_ms > 0:
            self.sleep(self.latency_ms / 1000.0)


class RequestLog:
    """Thread-safe list of :class:`RequestRecord` with small counting helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RequestRecord] = []

    def add(self, rec: RequestRecord) -> None:
        with self._lock:
            self._items.append(rec)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def count(self, path_contains: str = "", *, status: int | None = None) -> int:
        return sum(1 for r in self.snapshot()
                   if path_contains in r.path and (status is None or r.status == status))
