"""Run params are validated with clear errors, and every run type gets the window it should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qtickets.exceptions import QticketsConfigError
from qtickets.params import MANUAL_SINCE_HOURS, WINDOW_OVERLAP, RunParams, resolve_window

T = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
Q = timedelta(minutes=15)


def test_defaults():
    assert RunParams.from_mapping({}) == RunParams(False, None, (), None)


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param({"dry_run": "true"}, RunParams(dry_run=True), id="dry_run as text"),
    pytest.param({"since_hours": "48"}, RunParams(since_hours=48), id="since_hours as text"),
    pytest.param({"datasets": "orders, events"}, RunParams(datasets=("orders", "events")), id="datasets as csv"),
    pytest.param({"datasets": ["clients"], "fixtures_dir": "/tmp/x"},
                 RunParams(datasets=("clients",), fixtures_dir="/tmp/x"), id="list and folder"),
])
def test_values_are_normalised(raw, expected):
    assert RunParams.from_mapping(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    pytest.param({"since_hours": "two"}, "whole number", id="not a number"),
    pytest.param({"since_hours": 0}, "between 1 and", id="zero"),
    pytest.param({"datasets": ["orderz"]}, "unknown dataset", id="typo in dataset"),
])
def test_bad_values_say_what_is_wrong(raw, message):
    with pytest.raises(QticketsConfigError, match=message):
        RunParams.from_mapping(raw)


def test_scheduled_run_loads_its_interval_with_overlap():
    w = resolve_window(RunParams(), data_interval_start=T - Q, data_interval_end=T)
    assert (w.start, w.end) == (T - Q - WINDOW_OVERLAP, T)


def test_since_hours_wins_for_any_run_type():
    w = resolve_window(RunParams(since_hours=3), data_interval_start=T - Q, data_interval_end=T)
    assert (w.start, w.end) == (T - timedelta(hours=3), T)


@pytest.mark.parametrize("interval", [(None, None), (T, T)], ids=["manual: no interval", "zero-length interval"])
def test_manual_run_reads_the_last_hours(interval):
    w = resolve_window(RunParams(), data_interval_start=interval[0], data_interval_end=interval[1], run_after=T)
    assert (w.start, w.end) == (T - timedelta(hours=MANUAL_SINCE_HOURS), T)


def test_window_is_widened_to_whole_seconds():
    # The vendor filter has second precision; a fractional end would lose the records of its last second.
    run_after = T + timedelta(microseconds=547_518)
    w = resolve_window(RunParams(since_hours=1), data_interval_start=None, data_interval_end=None,
                       run_after=run_after)
    assert w.end == T + timedelta(seconds=1)
    assert w.start == T - timedelta(hours=1)
    assert w.start.microsecond == w.end.microsecond == 0


def test_manual_run_with_a_logical_date_ends_when_it_was_triggered():
    # The UI sends a logical date; at 12:07 the inferred interval is 11:45-12:00.
    run_after = T + timedelta(minutes=7)
    w = resolve_window(RunParams(), data_interval_start=T - Q, data_interval_end=T, run_after=run_after, manual=True)
    assert (w.start, w.end) == (T - Q - WINDOW_OVERLAP, run_after)
    w = resolve_window(RunParams(since_hours=3), data_interval_start=T - Q, data_interval_end=T,
                       run_after=run_after, manual=True)
    assert (w.start, w.end) == (run_after - timedelta(hours=3), run_after)


def test_manual_run_without_a_logical_date_reads_the_last_hours_up_to_when_it_was_triggered():
    w = resolve_window(RunParams(), data_interval_start=None, data_interval_end=None, run_after=T, manual=True)
    assert (w.start, w.end) == (T - timedelta(hours=MANUAL_SINCE_HOURS), T)


def test_scheduled_run_ends_at_its_interval_end_even_when_it_starts_later():
    w = resolve_window(RunParams(), data_interval_start=T - Q, data_interval_end=T,
                       run_after=T + timedelta(minutes=3), manual=False)
    assert (w.start, w.end) == (T - Q - WINDOW_OVERLAP, T)
