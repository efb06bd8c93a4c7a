"""Page iteration over the QTickets list envelope ``{"data": [...], "paging": {perPage, currentPage, total}}``.

The iterator knows nothing about HTTP: it is handed a ``fetch(page_number) -> Page`` callable. It owns
the stop rules, the page-count bound, repeated-page detection, duplicate dropping, the window guard and
the concurrent read-ahead of pages 2..N.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qtickets.exceptions import QticketsFilterIgnoredError, QticketsPaginationError
from qtickets.timeutil import format_api_ts, parse_ts

log = logging.getLogger(__name__)

#: Pages allowed past ``ceil(total / perPage)``: orders keep arriving while we read, shifting pages.
PAGE_MARGIN = 5
#: Bound when the envelope gives no ``total`` (sequential reading until a short page).
MAX_PAGES_WITHOUT_TOTAL = 100_000


@dataclass(frozen=True)
class WindowGuard:
    """Assert every record's ``column`` lies in ``[start, end)``: proof the API applied the ``where`` filter.

    :param column: record field holding an ISO timestamp (``updated_at``, ``payed_at`` ...).
    :param start: window start, aware, inclusive.
    :param end: window end, aware, exclusive.
    """

    column: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("WindowGuard needs aware datetimes (attach a time zone)")
        if self.end <= self.start:
            raise ValueError(f"WindowGuard window is empty: start {self.start} >= end {self.end}")

    def check(self, records: list[dict[str, Any]], *, endpoint: str, page: int) -> None:
        """:raises QticketsFilterIgnoredError: a record's value is missing or outside the window."""
        for record in records:
            raw = record.get(self.column) if isinstance(record, dict) else None
            try:
                value = parse_ts(raw) if isinstance(raw, str) else None
            except ValueError:
                value = None
            if value is None or not self.start <= value < self.end:
                raise QticketsFilterIgnoredError(
                    f"the API ignored the `where` filter on /{endpoint}: page {page} holds record "
                    f"id={record.get('id') if isinstance(record, dict) else None!r} with "
                    f"{self.column}={raw!r}, outside the requested window "
                    f"[{format_api_ts(self.start)}, {format_api_ts(self.end)}). Nothing was loaded. "
                    "Change the connection extra `filter_transport` (get_body <-> get_query) and re-run."
                )


@dataclass(frozen=True)
class Page:
    """One decoded list response."""

    number: int
    records: list[dict[str, Any]]
    per_page: int | None = None
    total: int | None = None
    has_paging: bool = True


def _signature(records: list[dict[str, Any]]) -> tuple[Any, ...]:
    """Cheap identity of a page's content (ids when every record has one)."""
    ids = tuple(r.get("id") if isinstance(r, dict) else None for r in records)
    if records and None not in ids:
        return ids
    return tuple(repr(r) for r in records)


class _PageWalker:
    """State of one iteration: dedup set, previous page signature, guard."""

    def __init__(self, endpoint: str, guard: WindowGuard | None) -> None:
        self.endpoint = endpoint
        self.guard = guard
        self.seen: set[int] = set()
        self.prev_signature: tuple[Any, ...] | None = None
        self.max_total: int | None = None

    def accept(self, page: Page) -> list[dict[str, Any]]:
        """Validate a page in order; return its records minus those already yielded."""
        signature = _signature(page.records)
        if page.records and signature == self.prev_signature:
            raise QticketsPaginationError(
                f"/{self.endpoint}: page {page.number} returned exactly the records of page "
                f"{page.number - 1}; the API ignores the `page` parameter with this filter transport. "
                "Change the connection extra `filter_transport` (get_body <-> get_query)."
            )
        self.prev_signature = signature
        if page.total is not None:
            self.max_total = max(page.total, self.max_total or 0)
        if self.guard is not None:
            self.guard.check(page.records, endpoint=self.endpoint, page=page.number)
        fresh = []
        for record in page.records:
            rid = record.get("id") if isinstance(record, dict) else None
            if isinstance(rid, int | str) and str(rid).isdigit():
                key = int(rid)
                if key in self.seen:
                    continue
                self.seen.add(key)
            fresh.append(record)
        dropped = len(page.records) - len(fresh)
        if dropped:
            log.info("/%s page %s: dropped %s records already read on an earlier page",
                     self.endpoint, page.number, dropped)
        return fresh


def _is_last(page: Page, per_page: int) -> bool:
    return not page.records or len(page.records) < per_page


def iterate_pages(
    fetch: Callable[[int], Page],
    *,
    endpoint: str,
    concurrency: int = 1,
    guard: WindowGuard | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's new records in page order.

    Page 1 is read first; once it reveals ``total``, pages 2..ceil(total/perPage) are fetched with up to
    ``concurrency`` requests in flight and at most ``2 * concurrency`` pages buffered. Reading stops at
    an empty or short page; a full last page is followed sequentially (orders arriving meanwhile shift
    pages) while a later ``paging.total`` says there is more, up to :data:`PAGE_MARGIN` extra pages.

    :raises QticketsPaginationError: a page repeats the previous one, or the page bound is exceeded.
    """
    walker = _PageWalker(endpoint, guard)
    first = fetch(1)
    yield walker.accept(first)
    if not first.has_paging or not first.records:
        return
    per_page = first.per_page or len(first.records)
    if len(first.records) < per_page:
        return
    if first.total is None:
        yield from _sequential(fetch, walker, per_page, start=2, bound=MAX_PAGES_WITHOUT_TOTAL)
        return
    last = max(1, math.ceil(first.total / per_page))
    if last >= 2:
        tail_full = yield from _concurrent(fetch, walker, per_page, last, concurrency)
        if not tail_full:
            return
    yield from _sequential(fetch, walker, per_page, start=last + 1, bound=last + PAGE_MARGIN)


def _sequential(
    fetch: Callable[[int], Page], walker: _PageWalker, per_page: int, *, start: int, bound: int
) -> Iterator[list[dict[str, Any]]]:
    """Read pages one by one until a short page, or past the last page ``paging.total`` announces."""
    number = start
    while True:
        if walker.max_total is not None and number > math.ceil(walker.max_total / per_page):
            return
        if number > bound:
            raise QticketsPaginationError(
                f"/{walker.endpoint}: still getting full pages at page {number}, past the bound of {bound} "
                "pages derived from paging.total; the API may be ignoring `page`"
            )
        page = fetch(number)
        yield walker.accept(page)
        if _is_last(page, per_page):
            return
        number += 1


def _concurrent(
    fetch: Callable[[int], Page], walker: _PageWalker, per_page: int, last: int, concurrency: int
) -> Iterator[list[dict[str, Any]]]:
    """Fetch pages 2..last with bounded read-ahead; return True when page ``last`` was full."""
    read_ahead = 2 * concurrency
    pending: deque[Future[Page]] = deque()
    next_number = 2
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="qtickets-page") as pool:
        try:
            while True:
                while next_number <= last and len(pending) < read_ahead:
                    pending.append(pool.submit(fetch, next_number))
                    next_number += 1
                if not pending:
                    return True
                page = pending.popleft().result()
                yield walker.accept(page)
                if _is_last(page, per_page):
                    return False
        finally:
            # Stop queued pages on early exit (error, short page, consumer closed the generator).
            for future in pending:
                future.cancel()
