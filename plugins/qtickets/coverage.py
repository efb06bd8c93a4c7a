"""Coverage of an incremental dataset's ``updated_at`` timeline, and the windows a run must load.

A *covered range* ``[start, end)`` is a span of the vendor's ``updated_at`` timeline whose records were
all read and are in staging. Runs record the ranges they finished (``qtickets.warehouse.coverage``);
this module holds only the arithmetic on them, so it is pure and unit-tested without a warehouse.

Why coverage, not the run's data interval: a run that fails, an interval the scheduler never ran
(downtime, ``catchup=False``, a paused DAG) and a manual run all leave the interval's changes unread
if a run only loads its own interval. Planning from coverage makes the next run read from where
coverage ends, whatever happened in between (ADR 0006).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from qtickets.datasets import Window

Range = tuple[datetime, datetime]

#: How far back each window starts before where coverage ends: records whose ``updated_at`` the
#: vendor stamped before our clock's window end but committed after we read (commit latency, clock
#: skew) are read by the next window. Staging deduplicates the records read twice.
OVERLAP = timedelta(minutes=5)
#: A gap is read in chunks of at most this span: a failure part-way keeps the chunks that finished
#: and memory stays flat. Each chunk costs one sequential round trip (its first page) and one flush,
#: so chunks are large: a 5-year history is 11 chunks (31-day chunks made a 20 000-order history load
#: 2.5x slower at 150 ms latency; bench/bench_catchup.py).
CHUNK = timedelta(days=180)
#: Holes this recent are read again by every run until they are gone, and fail the coverage check.
LOOKBACK = timedelta(days=7)


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Union of ``ranges`` as sorted, disjoint, non-touching ranges (empty ranges dropped)."""
    merged: list[list[datetime]] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def subtract(ranges: Sequence[Range], minus: Sequence[Range]) -> list[Range]:
    """``ranges`` minus ``minus`` (both any order); the result is merged."""
    result = merge(ranges)
    for m_start, m_end in merge(minus):
        pieces: list[Range] = []
        for start, end in result:
            if m_end <= start or end <= m_start:
                pieces.append((start, end))
                continue
            if start < m_start:
                pieces.append((start, m_start))
            if m_end < end:
                pieces.append((m_end, end))
        result = pieces
    return result


def holes(covered: Sequence[Range], since: datetime, until: datetime) -> list[Range]:
    """The parts of ``[since, until)`` that ``covered`` does not cover."""
    if since >= until:
        return []
    return subtract([(since, until)], covered)


@dataclass(frozen=True)
class Coverage:
    """What the ledger says about one dataset.

    :param covered: merged covered ranges (at least those ending after the lookback start).
    :param first_start: start of the oldest range ever covered (``None``: never loaded).
    """

    covered: tuple[Range, ...]
    first_start: datetime | None

    @classmethod
    def of(cls, ranges: Iterable[Range], first_start: datetime | None = None) -> Coverage:
        merged = merge(ranges)
        if first_start is None and merged:
            first_start = merged[0][0]
        return cls(tuple(merged), first_start)

    @property
    def frontier(self) -> datetime | None:
        """Where coverage ends: the end of the latest covered range."""
        return self.covered[-1][1] if self.covered else None

    def holes(self, since: datetime, until: datetime) -> list[Range]:
        """Uncovered parts of ``[since, until)`` after the first load (nothing before it is a hole)."""
        if self.first_start is None:
            return []
        return holes(self.covered, max(since, self.first_start), until)


def plan_windows(
    coverage: Coverage,
    requested: Window,
    *,
    now: datetime,
    done: Sequence[Range] = (),
    overlap: timedelta = OVERLAP,
    lookback: timedelta = LOOKBACK,
    chunk: timedelta = CHUNK,
) -> list[Window]:
    """The windows a run loads, oldest first.

    - the run's own ``requested`` window (its data interval, or ``since_hours``), never past ``now``;
    - everything after where coverage ends (scheduler downtime, failed runs, skipped intervals);
    - holes within ``lookback`` before that (a run that failed between two that succeeded), counting
      the run's own window as read: a backfill of an interval before the first load also reads the
      stretch between the two when it lies within ``lookback`` -- left unread it would be a hole the
      coverage check names (failing another run's checks) until the next run reads it;

    each uncovered stretch widened ``overlap`` backwards, minus what this same run already covered
    (``done``: a task retry continues instead of starting over), split into ``chunk``-sized windows.
    """
    end = min(requested.end, _whole_second_ceiling(now))
    wanted: list[Range] = [(requested.start, end)] if requested.start < end else []
    frontier = coverage.frontier
    if frontier is not None and frontier < end:
        wanted.append((frontier - overlap, end))
    own = wanted[:1]  # the requested window, when it is not empty
    first_start = min((s for s in (coverage.first_start, *(start for start, _ in own)) if s is not None), default=None)
    after_this_run = Coverage.of([*coverage.covered, *own], first_start)
    for start, stop in after_this_run.holes(now - lookback, frontier or end):
        wanted.append((start - overlap, stop))
    windows: list[Window] = []
    for start, stop in subtract(merge(wanted), done):
        start = start.replace(microsecond=0)
        while start < stop:
            piece_end = min(start + chunk, stop)
            windows.append(Window(start, piece_end))
            start = piece_end
    return windows


def _whole_second_ceiling(value: datetime) -> datetime:
    return value.replace(microsecond=0) + timedelta(seconds=1) if value.microsecond else value
