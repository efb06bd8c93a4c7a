"""Fault knobs and the request log of a sandbox server (thread-safe, mutable at runtime from tests)."""

from __future__ import annotations

import heapq
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


ECHO_PLACES = ("header", "json", "urlencoded", "base64")


@dataclass
class _Scheduled:
    kind: str  # "fail" | "rate_limit" | "truncate" | "html" | "echo_auth" | "bad_paging"
    remaining: int
    status: int = 503
    retry_after: int = 1
    match: str | None = None
    into: str = "header"  # echo_auth: where the Authorization value is echoed (ECHO_PLACES)


@dataclass
class Faults:
    """Failure injection. ``fail_next`` & co. affect the next matching requests in arrival order.

    ``sleep`` is injectable so tests can observe ``latency_ms`` without sleeping for real.

    ``latency_ms`` is added before the server works on a request; ``response_ms`` is the least time from a
    request's arrival to its answer, the server's own work included (:meth:`hold`), as a vendor that answers
    in that time. The benchmarks use the latter: the time this Python server takes to build a page (~18 ms
    for 50 orders, its threads sharing one GIL) then does not count against the loader.
    """

    latency_ms: float = 0.0
    response_ms: float = 0.0
    error_rate: float = 0.0
    ignore_filters: bool = False
    compat_post: bool = True
    seed: int = 0
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queue: list[_Scheduled] = field(default_factory=list, repr=False)
    _rng: random.Random = field(default=None, repr=False)  # type: ignore[assignment]
    #: Orders changed by the churn knob, in the order they were changed (see :meth:`churn_orders`).
    churned_ids: list[int] = field(default_factory=list)
    churn_every_pages: int = 0
    churn_per: int = 1
    churn_match: str = "/orders"
    _churn_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _churn_pages: int = field(default=0, repr=False)
    _churn_served: dict[str, list[int]] = field(default_factory=dict, repr=False)  # listing -> heap of ids

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

    def echo_auth_next(self, n: int, into: str = "header", status: int = 403, *, match: str | None = None) -> None:
        """The next ``n`` requests answer ``status`` and echo the request's ``Authorization`` value back,
        as a hostile vendor or proxy might: ``into="header"`` puts it in ``X-Request-ID``; ``"json"`` in a
        JSON error body written PHP-style (``/`` as ``\\/``); ``"urlencoded"`` in a form-encoded body
        (``quote_plus`` and ``quote``); ``"base64"`` base64-encoded in a JSON error body. On the Partners
        API the body is its ``{"status": "error", "code": "WRONG_AUTHORIZATION"}`` envelope with HTTP 200.
        """
        if into not in ECHO_PLACES:
            raise ValueError(f"echo_auth_next: into must be one of {ECHO_PLACES}, got {into!r}")
        self._schedule(_Scheduled("echo_auth", n, status=status, match=match, into=into))

    def bad_paging_next(self, n: int, *, match: str | None = None) -> None:
        """The next ``n`` list pages that hold records (HTTP 200 with ``paging``) carry the page's first
        record where ``paging.total`` belongs (buyers' personal data in the envelope: a client must not
        quote it). Empty pages are served as they are and do not count."""
        self._schedule(_Scheduled("bad_paging", n, status=200, match=match))

    def churn_orders(self, every_pages: int = 2, per_churn: int = 1, *, match: str = "/orders") -> None:
        """Change orders on pages already read, while a client pages through ``/orders``.

        After every ``every_pages``-th ``/orders`` list page served (path containing ``match``), the
        server sets ``updated_at`` to the sandbox's ``now`` on ``per_churn`` orders that were on pages it
        already served for the same listing (same ``where`` apart from ``id`` conditions, same
        ``orderBy``), lowest ids first. That moves them out of a window ending at or before ``now``, so
        every later record shifts up one place and one slides onto a page already read. The ids changed
        are appended to :attr:`churned_ids`. ``every_pages=0`` turns the knob off.
        """
        if every_pages < 0 or per_churn < 1:
            raise ValueError(f"churn_orders needs every_pages >= 0 and per_churn >= 1, "
                             f"got {every_pages} and {per_churn}")
        with self._churn_lock:
            self.churn_every_pages, self.churn_per, self.churn_match = every_pages, per_churn, match
            self._churn_pages = 0
            self._churn_served.clear()

    def churn_after_page(
        self, path: str, listing: str, served_ids: list[int],
        change: Callable[[list[int], int], list[int]],
    ) -> list[int]:
        """Note the ids a list page served; on every N-th page, change orders and return their ids.

        ``change(heap, n)`` (given by the server) pops up to ``n`` still-changeable ids, lowest first, from
        the heap of ids served for ``listing``, changes those orders and returns their ids.
        """
        with self._churn_lock:
            if self.churn_every_pages <= 0 or self.churn_match not in path:
                return []
            heap = self._churn_served.setdefault(listing, [])
            for order_id in served_ids:
                heapq.heappush(heap, order_id)
            self._churn_pages += 1
            if self._churn_pages % self.churn_every_pages:
                return []
            changed = change(heap, self.churn_per)
            self.churned_ids.extend(changed)
            return changed

    def clear(self) -> None:
        """Drop every scheduled fault and reset the knobs to a healthy server (``churned_ids`` is kept)."""
        with self._lock:
            self._queue.clear()
            self.latency_ms, self.error_rate, self.ignore_filters = 0.0, 0.0, False
            self.response_ms = 0.0
        with self._churn_lock:
            self.churn_every_pages, self._churn_pages = 0, 0
            self._churn_served.clear()

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

    def hold(self, arrived: float) -> None:
        """Wait until ``response_ms`` have passed since ``arrived`` (``time.monotonic()`` at arrival)."""
        if self.response_ms > 0:
            left = arrived + self.response_ms / 1000.0 - time.monotonic()
            if left > 0:
                self.sleep(left)


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
