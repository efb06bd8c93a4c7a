# Over 300 lines: the stop rules, the concurrent read-ahead and the gap re-reads share one walker state.
"""Page iteration over the QTickets list envelope ``{"data": [...], "paging": {perPage, currentPage, total}}``.

The iterator knows nothing about HTTP: it is handed a ``fetch(page_number) -> Page`` callable (and, for
listings ordered by ``id`` ascending, a ``fetch_between(after_id, before_id, n) -> Page`` keyset
callable). It owns the stop rules, the page-count bound, repeated-page detection, duplicate dropping,
the window guard, the concurrent read-ahead of pages 2..N and the re-read of records that moved.

Why records can move, and why the gap re-read finds every one of them
---------------------------------------------------------------------
Numbered pages are positions in a set that changes while we read: an order on a page already read whose
``updated_at`` moves past the window end leaves the filtered set, every later record moves up one place,
and the record that slides onto the page already read is never fetched. Each numbered page, as read, is
a contiguous id range ``[first_id, last_id]`` of the then-current ordered set, and that set always holds
every record that did not change. So a record that stayed in the window can only be missed when its id
lies strictly between the last id of one page and the first id of the next (or after the last page's
last id), and only when the set changed between the reads of those two pages, which shows as a
different ``paging.total``. After the numbered pages, each such gap is read keyset-style
(``id > last_id AND id < first_id``, then ``id > last id read`` until a short page): keyset reads cannot
be shifted by departures. A stable set costs no extra request.

Limit: a join and a departure between the same two reads leave ``paging.total`` unchanged. Windows
that end in the past (every scheduled window once its end has passed) only lose records while they are
read, so the totals always show the change there.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from qtickets.exceptions import QticketsFilterIgnoredError, QticketsPaginationError
from qtickets.timeutil import format_api_ts, parse_ts
from qtickets.window import Window

log = logging.getLogger(__name__)

#: Pages allowed past ``ceil(total / perPage)``: orders keep arriving while we read, shifting pages.
PAGE_MARGIN = 5
#: Bound when the envelope gives no ``total`` (sequential reading until a short page).
MAX_PAGES_WITHOUT_TOTAL = 100_000


@dataclass(frozen=True)
class WindowGuard:
    """Assert every record's ``column`` lies in the window: proof the API applied the ``where`` filter.

    The hook builds it from the same :class:`~qtickets.window.Window` it turns into the ``where``
    conditions (``QticketsHook.iter_pages(window=..., window_column=...)``).

    :param column: record field holding an ISO timestamp (``updated_at``, ``payed_at`` ...).
    :param window: ``[start, end)``, aware.
    :param replayed_from: the replay folder when the records are saved responses (changes the advice).
    """

    column: str
    window: Window
    replayed_from: str | None = None

    def where(self) -> list[dict[str, Any]]:
        """The vendor conditions selecting the window (``column >= start AND column < end``)."""
        return [
            {"column": self.column, "operator": ">=", "value": format_api_ts(self.window.start)},
            {"column": self.column, "operator": "<", "value": format_api_ts(self.window.end)},
        ]

    def first_outside(self, records: list[dict[str, Any]]) -> tuple[Any, Any] | None:
        """``(record, its raw column value)`` of the first record missing the column or outside the window."""
        start, end = self.window.start, self.window.end
        for record in records:
            raw = record.get(self.column) if isinstance(record, dict) else None
            try:
                value = parse_ts(raw) if isinstance(raw, str) else None
            except ValueError:
                value = None
            if value is None or not start <= value < end:
                return record, raw
        return None

    def check(self, records: list[dict[str, Any]], *, endpoint: str, page: int | str) -> None:
        """:raises QticketsFilterIgnoredError: a record's value is missing or outside the window."""
        outside = self.first_outside(records)
        if outside is None:
            return
        record, raw = outside
        record_id = record.get("id") if isinstance(record, dict) else None
        bounds = f"[{format_api_ts(self.window.start)}, {format_api_ts(self.window.end)})"
        if self.replayed_from is not None:
            raise QticketsFilterIgnoredError(
                f"replayed /{endpoint} from fixtures_dir {self.replayed_from}: page {page} holds record "
                f"id={record_id!r} with {self.column}={raw!r}, outside this run's window {bounds}. Replayed "
                "records get the same window check as live ones; nothing was loaded. Run with since_hours "
                "(or a data interval) covering them, or remove them from the fixture."
            )
        raise QticketsFilterIgnoredError(
            f"the API ignored the `where` filter on /{endpoint}: page {page} holds record id={record_id!r} with "
            f"{self.column}={raw!r}, outside the requested window {bounds}. Nothing was loaded. "
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


#: ``fetch_between(after_id, before_id, n)``: page ``n`` of a keyset read of the same listing restricted
#: to ``after_id < id`` (and ``id < before_id`` unless ``None``), ordered by id ascending. ``n`` only
#: labels the read; the keyset read itself always asks for the first page of its conditions.
FetchBetween = Callable[[int, int | None, int], Page]
#: ``count(name, n)``: counter sink (the hook passes ``RequestStats.add``).
Counter = Callable[[str, int], None]


def _ascending_ids(records: list[dict[str, Any]]) -> list[int] | None:
    """The records' integer ids when every record has one and they strictly ascend, else ``None``."""
    ids: list[int] = []
    for record in records:
        rid = record.get("id") if isinstance(record, dict) else None
        if not isinstance(rid, int | str) or not str(rid).isdigit():
            return None
        value = int(rid)
        if ids and value <= ids[-1]:
            return None
        ids.append(value)
    return ids


@dataclass(frozen=True)
class _Span:
    """What one numbered page showed of the ordered set when it was read (ids are 0 on an empty page)."""

    number: int
    total: int | None
    size: int
    first_id: int
    last_id: int


class _PageWalker:
    """State of one iteration: dedup set, previous page signature, guard, spans of the numbered pages."""

    def __init__(self, endpoint: str, guard: WindowGuard | None) -> None:
        self.endpoint = endpoint
        self.guard = guard
        self.seen: set[int] = set()
        self.prev_signature: tuple[Any, ...] | None = None
        self.max_total: int | None = None
        self.spans: list[_Span] = []
        #: Every numbered page so far had integer ids in ascending order (gap reads are sound).
        self.keyset_ok = True

    def accept(self, page: Page) -> list[dict[str, Any]]:
        """Validate a numbered page in order; return its records minus those already yielded."""
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
        ids = _ascending_ids(page.records)
        if ids is None:
            self.keyset_ok = False
        self.spans.append(_Span(page.number, page.total, len(page.records),
                                ids[0] if ids else 0, ids[-1] if ids else 0))
        return self.fresh(page.records, page.number)

    def fresh(self, records: list[dict[str, Any]], label: int | str) -> list[dict[str, Any]]:
        """``records`` minus those already yielded (keyset pages come here directly: already checked)."""
        fresh = []
        for record in records:
            rid = record.get("id") if isinstance(record, dict) else None
            if isinstance(rid, int | str) and str(rid).isdigit():
                key = int(rid)
                if key in self.seen:
                    continue
                self.seen.add(key)
            fresh.append(record)
        dropped = len(records) - len(fresh)
        if dropped:
            log.info("/%s page %s: dropped %s records already read on an earlier page",
                     self.endpoint, label, dropped)
        return fresh


def _is_last(page: Page, per_page: int) -> bool:
    return not page.records or len(page.records) < per_page


def iterate_pages(
    fetch: Callable[[int], Page],
    *,
    endpoint: str,
    concurrency: int = 1,
    guard: WindowGuard | None = None,
    fetch_between: FetchBetween | None = None,
    count: Counter | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's new records in page order, then the records found by gap re-reads.

    Page 1 is read first; once it reveals ``total``, pages 2..ceil(total/perPage) are fetched with up to
    ``concurrency`` requests in flight and at most ``2 * concurrency`` pages buffered. Reading stops at
    an empty or short page; a full last page is followed sequentially (orders arriving meanwhile shift
    pages) while a later ``paging.total`` says there is more, up to :data:`PAGE_MARGIN` extra pages.

    With ``fetch_between`` (only for listings ordered by ``id`` ascending) records that moved onto pages
    already read are re-read afterwards (see the module docstring): for every pair of adjacent pages
    whose ``paging.total`` differ, the ids strictly between them; and the ids after the last page read
    when its total is below the largest total seen or reading stopped on an empty or short page before
    the last page the largest total announces. Gaps are read concurrently, keyset-style, until a short
    page. Without ``total`` in the envelope, pages after the first are read keyset-style
    (``id > last id read``) instead of by number.

    :param count: counter sink, called with ``("gap_reads", 1)`` per gap re-read and
        ``("gap_records", n)`` per batch of new records a gap re-read found.
    :raises QticketsPaginationError: a page repeats the previous one, the page bound is exceeded, or a
        keyset read returns ids outside its conditions.
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
        if fetch_between is not None and walker.keyset_ok:
            for page, label in _keyset_pages(fetch_between, walker, per_page, after=walker.spans[-1].last_id,
                                             before=None, bound=MAX_PAGES_WITHOUT_TOTAL, first_number=2):
                yield walker.fresh(page.records, label)
        else:
            yield from _sequential(fetch, walker, per_page, start=2, bound=MAX_PAGES_WITHOUT_TOTAL)
        return
    last = max(1, math.ceil(first.total / per_page))
    tail_full = True
    if last >= 2:
        tail_full = yield from _concurrent(fetch, walker, per_page, last, concurrency)
    if tail_full:
        yield from _sequential(fetch, walker, per_page, start=last + 1, bound=last + PAGE_MARGIN)
    if fetch_between is None or not walker.keyset_ok:
        totals = [s.total for s in walker.spans]
        if len(set(totals)) > 1:
            log.warning(
                "/%s: paging.total changed while the pages were read (%s -> %s) and the listing is not "
                "read in ascending id order: records that moved between pages may have been missed",
                endpoint, totals[0], totals[-1],
            )
        return
    gaps = _gap_plan(walker.spans, per_page)
    if gaps:
        yield from _reread_gaps(fetch_between, walker, per_page, gaps, concurrency, count)


def _gap_plan(spans: list[_Span], per_page: int) -> list[tuple[int, int | None]]:
    """``(after_id, before_id)`` ranges that may hold a record that slid onto a page already read."""
    totals = [s.total for s in spans if s.total is not None]
    nonempty = [s for s in spans if s.size]
    if not totals or not nonempty:
        return []
    gaps: list[tuple[int, int | None]] = []
    for a, b in zip(nonempty, nonempty[1:], strict=False):
        changed = a.total != b.total or b.number != a.number + 1
        if changed and b.first_id - a.last_id > 1:  # else no id fits strictly between
            gaps.append((a.last_id, b.first_id))
    final, max_total = spans[-1], max(totals)
    stopped_early = final.size < per_page and final.number < math.ceil(max_total / per_page)
    if stopped_early or final.total is None or final.total < max_total:
        gaps.append((nonempty[-1].last_id, None))
    return gaps


def _describe(after: int, before: int | None) -> str:
    return f"id > {after}" + (f", id < {before}" if before is not None else "")


def _keyset_pages(
    fetch_between: FetchBetween, walker: _PageWalker, per_page: int, *, after: int, before: int | None,
    bound: int, first_number: int = 1,
) -> Iterator[tuple[Page, str]]:
    """Read ``after < id < before`` by keyset until a short page; yield each checked page and its label.

    Every page goes through the window guard and must hold ascending ids inside its conditions: an API
    that ignored them would otherwise repeat a page forever.
    """
    cursor = after
    for number in itertools.count(first_number):
        label = f"{number} (keyset: {_describe(cursor, before)})"
        if number - first_number >= bound:
            raise QticketsPaginationError(
                f"/{walker.endpoint}: still getting full pages at page {label}, past the bound of {bound} "
                "keyset pages; the API may be ignoring the `id` conditions"
            )
        page = fetch_between(cursor, before, number)
        if walker.guard is not None:
            walker.guard.check(page.records, endpoint=walker.endpoint, page=label)
        ids = _ascending_ids(page.records)
        if ids is None or (ids and (ids[0] <= cursor or (before is not None and ids[-1] >= before))):
            shown = [r.get("id") if isinstance(r, dict) else None for r in page.records[:3]]
            raise QticketsPaginationError(
                f"/{walker.endpoint}: page {label} returned ids {shown}... outside "
                f"`{_describe(cursor, before)}` or not in ascending order; the API does not apply `id` "
                "conditions or `orderBy id asc` with this filter transport. Change the connection extra "
                "`filter_transport` (get_body <-> get_query)."
            )
        yield page, label
        if len(page.records) < per_page:
            return
        cursor = ids[-1]


def _reread_gaps(
    fetch_between: FetchBetween, walker: _PageWalker, per_page: int, gaps: list[tuple[int, int | None]],
    concurrency: int, count: Counter | None,
) -> Iterator[list[dict[str, Any]]]:
    """Read every gap (concurrently, each keyset-style); yield, gap by gap, the records not yet yielded."""
    bound = math.ceil((walker.max_total or 0) / per_page) + PAGE_MARGIN

    def read(after: int, before: int | None) -> list[tuple[Page, str]]:
        return list(_keyset_pages(fetch_between, walker, per_page, after=after, before=before, bound=bound))

    requests = found = 0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="qtickets-gap") as pool:
        futures = [pool.submit(read, after, before) for after, before in gaps]
        try:
            for future in futures:
                pages = future.result()
                requests += len(pages)
                if count is not None:
                    count("gap_reads", 1)
                for page, label in pages:
                    fresh = walker.fresh(page.records, label)
                    if fresh:
                        found += len(fresh)
                        if count is not None:
                            count("gap_records", len(fresh))
                        yield fresh
        finally:
            for future in futures:
                future.cancel()
    log.info(
        "/%s: paging.total changed while the pages were read (between %s and %s); re-read %s gaps between "
        "pages by id (%s requests), found %s records that had moved onto pages already read",
        walker.endpoint, min(s.total or 0 for s in walker.spans), walker.max_total, len(gaps), requests,
        found,
    )


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
