"""Coverage arithmetic and window planning (qtickets.coverage): pure, no warehouse."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from qtickets.coverage import CHUNK, LOOKBACK, OVERLAP, Coverage, holes, merge, plan_windows, subtract
from qtickets.datasets import Window

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
Q = timedelta(minutes=15)


def _spans(windows: list[Window]) -> list[tuple[datetime, datetime]]:
    return [(w.start, w.end) for w in windows]


def test_merge_joins_overlapping_and_touching_ranges_and_drops_empty_ones():
    ranges = [(T0 + 10 * M, T0 + 20 * M), (T0, T0 + 10 * M), (T0 + 30 * M, T0 + 30 * M), (T0 + 15 * M, T0 + 25 * M)]
    assert merge(ranges) == [(T0, T0 + 25 * M)]


def test_subtract_and_holes():
    assert subtract([(T0, T0 + 60 * M)], [(T0 + 10 * M, T0 + 20 * M), (T0 + 50 * M, T0 + 70 * M)]) == [
        (T0, T0 + 10 * M), (T0 + 20 * M, T0 + 50 * M)]
    assert holes([(T0, T0 + 10 * M), (T0 + 20 * M, T0 + 30 * M)], T0 - 5 * M, T0 + 40 * M) == [
        (T0 - 5 * M, T0), (T0 + 10 * M, T0 + 20 * M), (T0 + 30 * M, T0 + 40 * M)]


def test_first_run_loads_its_requested_window():
    requested = Window(T0 - Q - OVERLAP, T0)
    assert _spans(plan_windows(Coverage.of([]), requested, now=T0 + M)) == [(requested.start, requested.end)]


def test_a_window_never_reaches_past_now():
    requested = Window(T0 - Q, T0 + Q)
    assert _spans(plan_windows(Coverage.of([]), requested, now=T0 + 3 * M)) == [(T0 - Q, T0 + 3 * M)]


def test_after_an_outage_the_run_reads_from_where_coverage_ends():
    covered = Coverage.of([(T0 - 10 * Q, T0 - 8 * Q)])  # then the scheduler was down for 2 hours
    requested = Window(T0 - Q - OVERLAP, T0)
    assert _spans(plan_windows(covered, requested, now=T0)) == [(T0 - 8 * Q - OVERLAP, T0)]


def test_a_hole_between_two_good_runs_is_read_again_with_the_overlap():
    covered = Coverage.of([(T0 - 6 * Q, T0 - 4 * Q), (T0 - 3 * Q, T0 - Q)])
    requested = Window(T0 - Q - OVERLAP, T0)
    assert _spans(plan_windows(covered, requested, now=T0)) == [
        (T0 - 4 * Q - OVERLAP, T0 - 3 * Q), (T0 - Q - OVERLAP, T0)]


def test_holes_older_than_the_lookback_are_left_to_the_coverage_check():
    old = T0 - LOOKBACK - timedelta(days=2)
    covered = Coverage.of([(old, old + Q), (old + 2 * Q, T0 - Q)])
    requested = Window(T0 - Q - OVERLAP, T0)
    assert _spans(plan_windows(covered, requested, now=T0)) == [(requested.start, requested.end)]


def test_a_backfill_of_the_past_reads_its_interval_only():
    covered = Coverage.of([(T0 - timedelta(days=30), T0)])
    requested = Window(T0 - timedelta(days=40), T0 - timedelta(days=39))
    assert _spans(plan_windows(covered, requested, now=T0)) == [(requested.start, requested.end)]


def test_a_backfill_just_before_the_first_load_reads_through_to_it():
    """A new deployment's first run read only its own interval; a backfill of an interval an hour back
    must not leave the stretch between the two unread (a hole for the coverage check of another run)."""
    covered = Coverage.of([(T0 - 20 * M, T0)])
    requested = Window(T0 - 80 * M, T0 - 60 * M)
    windows = plan_windows(covered, requested, now=T0 + M)
    assert _spans(windows) == [(T0 - 80 * M, T0 - 20 * M)]
    assert holes([*covered.covered, *_spans(windows)], T0 - 80 * M, T0) == []


def test_a_task_retry_continues_where_its_earlier_attempt_stopped():
    requested = Window(T0 - 3 * CHUNK - timedelta(days=10), T0)
    first = plan_windows(Coverage.of([]), requested, now=T0)
    assert len(first) == 4
    done = [(w.start, w.end) for w in first[:2]]
    rest = plan_windows(Coverage.of(done), requested, now=T0, done=done)
    assert _spans(rest) == _spans(first[2:])
    assert plan_windows(Coverage.of(_spans(first)), requested, now=T0, done=_spans(first)) == []


def test_a_long_gap_is_read_in_contiguous_bounded_chunks():
    frontier = T0 - 3.5 * CHUNK
    covered = Coverage.of([(frontier - timedelta(days=1), frontier)])
    windows = plan_windows(covered, Window(T0 - Q, T0), now=T0)
    assert len(windows) == 4
    assert all(w.end - w.start <= CHUNK for w in windows)
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert (windows[0].start, windows[-1].end) == (frontier - OVERLAP, T0)


@pytest.mark.parametrize("seed", range(30))
def test_after_any_history_of_failed_and_skipped_runs_everything_since_the_first_load_gets_read(seed):
    """Simulate a scheduler with random downtime and failing runs; whatever happens, once a run
    succeeds the union of what was read covers the whole timeline since the first load (within the
    lookback), and no window ever reaches past its run's now."""
    rng = random.Random(seed)
    ledger: list[tuple[datetime, datetime]] = []
    start = T0 - timedelta(days=3)
    now = start
    for _ in range(200):
        now += Q * rng.choice([1, 1, 1, 2, 5, 20])  # downtime skips intervals
        interval_end = now - timedelta(seconds=rng.randint(0, 120))
        requested = Window(interval_end - Q - OVERLAP, interval_end)
        windows = plan_windows(Coverage.of(ledger), requested, now=now)
        assert all(w.end <= now for w in windows)
        for w in windows:
            if rng.random() < 0.25:
                break  # the run fails part-way: later chunks are not covered
            ledger.append((w.start, w.end))
    final = plan_windows(Coverage.of(ledger), Window(now - Q - OVERLAP, now), now=now)
    ledger += _spans(final)
    first = min(s for s, _ in ledger)
    assert holes(ledger, first, now) == []


def test_every_incremental_dataset_has_its_coverage_checked():
    from qtickets.datasets import DATASETS
    from qtickets.warehouse.checks import COVERAGE_CHECKED, FRESHNESS_CHECKS

    assert set(COVERAGE_CHECKED) == {name for name, ds in DATASETS.items() if ds.mode == "incremental"}
    assert {f"{name}_coverage" for name in COVERAGE_CHECKED} <= FRESHNESS_CHECKS
