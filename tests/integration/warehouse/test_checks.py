"""Data-quality checks: each fires on crafted bad data and passes on good data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from qtickets.datasets import Window
from qtickets.exceptions import DataQualityError, StaleDataError
from qtickets.rows.orders import COLUMNS, TICKETS_TABLE, map_orders, sales_dates
from qtickets.warehouse import (
    DatasetLoad,
    raise_for_failed,
    rebuild_sales_facts,
    record_dataset_load,
    run_checks,
)
from qtickets.warehouse.coverage import record_coverage
from tests.integration.warehouse.builders import basket, event, order
from tests.integration.warehouse.conftest import ctx_at, load_events, load_orders

pytestmark = pytest.mark.integration

NOW = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)


def good_state(ch) -> list[dict]:
    load_events(ch, [event()])
    records = [order(1), order(2, "2025-10-20T10:00:00+03:00", created_at="2025-10-20T09:00:00+03:00")]
    load_orders(ch, records, NOW)
    rebuild_sales_facts(ch, sales_dates(records))
    record_dataset_load(ch, DatasetLoad("orders", "run-1", "success", NOW - timedelta(minutes=5), NOW,
                                        window_start=NOW - timedelta(hours=2), window_end=NOW - timedelta(minutes=6)))
    record_coverage(ch, "orders", Window(NOW - timedelta(days=30), NOW - timedelta(minutes=6)), "run-1")
    return records


def failed(results) -> dict[str, list[tuple]]:
    return {r.name: r.violations for r in results if not r.passed}


def test_good_data_passes_every_check(ch):
    good_state(ch)
    results = run_checks(ch, now=datetime.now(UTC).replace(year=NOW.year, month=NOW.month, day=NOW.day,
                                                          hour=12, minute=1))
    raise_for_failed(results)
    assert [r.name for r in results] == [
        "negative_amounts", "duplicate_keys", "facts_reconcile", "facts_freshness", "orders_coverage"]
    assert all(r.passed for r in results)


def test_negative_amount_fires(ch):
    good_state(ch)
    load_orders(ch, [order(3, "2025-11-04T10:00:00+03:00", baskets=[basket(30, amount=-5)])], NOW)
    with pytest.raises(DataQualityError, match="sales_negative_amounts"):
        rebuild_sales_facts(ch, [date(2025, 11, 4)])  # the audit keeps it out of the published facts
    # A negative fact row that got published anyway (e.g. by an older version of the rebuild).
    ch.execute("ALTER TABLE {{ db }}.fact_qtickets_sales_daily UPDATE revenue = -5 "
               "WHERE sales_date = '2025-11-01' SETTINGS mutations_sync = 1")
    bad = failed(run_checks(ch, now=NOW, check_freshness=False))
    # November was not published: it disagrees with staging, so the next run rebuilds it again.
    assert list(bad) == ["negative_amounts", "facts_reconcile"]
    assert {row[0] for row in bad["negative_amounts"]} >= {"stg_qtickets_api_tickets_raw", "fact_qtickets_sales_daily"}
    assert ("stg_qtickets_api_tickets_raw", "30") in {row[:2] for row in bad["negative_amounts"]}
    with pytest.raises(DataQualityError, match=r"2 data-quality check\(s\) failed(.|\n)*negative_amounts(.|\n)*"
                                               r"facts_reconcile") as caught:
        raise_for_failed(run_checks(ch, now=NOW))
    assert isinstance(caught.value, AirflowFailException)


def test_duplicate_key_across_partitions_fires(ch):
    good_state(ch)
    # The same ticket under an order whose created_at moved to another month: two partitions.
    moved = map_orders([order(1, created_at="2025-09-30T10:00:00+03:00", updated_at="2025-11-09T10:00:00+03:00")],
                       ctx_at(NOW))[TICKETS_TABLE]
    ch.insert(TICKETS_TABLE, COLUMNS[TICKETS_TABLE], moved)
    ch.execute("INSERT INTO {{ db }}.fact_qtickets_sales_daily SELECT * FROM {{ db }}.fact_qtickets_sales_daily "
               "WHERE sales_date = '2025-11-01'")
    bad = failed(run_checks(ch, now=NOW, check_freshness=False))
    sources = {row[0] for row in bad["duplicate_keys"]}
    assert sources == {"stg_qtickets_api_tickets_raw", "fact_qtickets_sales_daily"}


def reconcile(ch):
    return next(r for r in run_checks(ch, now=NOW, check_freshness=False) if r.name == "facts_reconcile")


def test_facts_behind_staging_loaded_after_the_rebuild_are_pending_not_a_fault(ch):
    """Another run's load landing after this run's rebuild (overlapping runs) makes the facts lag staging;
    the next rebuild takes that month in, so the check reports it as pending and passes."""
    good_state(ch)
    load_orders(ch, [order(5, "2025-11-03T10:00:00+03:00")], NOW)  # loaded, facts not rebuilt
    result = reconcile(ch)
    assert result.passed and [row[:4] for row in result.pending] == [(202511, 4, 2, 2)]
    assert "1 month(s) pending a rebuild" in str(result)
    rebuild_sales_facts(ch, [date(2025, 11, 3)])
    result = reconcile(ch)
    assert result.passed and result.pending == []


def test_facts_that_disagree_with_unchanged_staging_fire_reconcile(ch):
    good_state(ch)
    # Both fact tables changed the same way behind the pipeline's back; staging did not change.
    for table in ("fact_qtickets_sales_daily", "fact_qtickets_sales_utm_daily"):
        ch.execute("ALTER TABLE {{ db }}.{{ t }} UPDATE tickets_sold = tickets_sold + 1 "
                   "WHERE sales_date = '2025-11-01' SETTINGS mutations_sync = 1", t=table)
    result = reconcile(ch)
    assert [row[:4] for row in result.violations] == [(202511, 2, 3, 3)] and result.pending == []
    with pytest.raises(DataQualityError, match="facts_reconcile"):
        raise_for_failed([result])


def test_daily_and_utm_facts_that_disagree_fire_even_while_staging_changes(ch):
    good_state(ch)
    ch.execute("ALTER TABLE {{ db }}.fact_qtickets_sales_daily UPDATE tickets_sold = tickets_sold + 1 "
               "WHERE sales_date = '2025-11-01' SETTINGS mutations_sync = 1")
    load_orders(ch, [order(6, "2025-10-21T10:00:00+03:00", created_at="2025-10-21T09:00:00+03:00")], NOW)
    result = reconcile(ch)
    assert [row[0] for row in result.violations] == [202511]  # daily != utm: a fault whatever staging did
    assert [row[0] for row in result.pending] == [202510]  # only behind staging: waits for the rebuild


def test_freshness_checks(ch):
    no_loads = failed(run_checks(ch, now=NOW))
    assert [row[1].split(":")[0] for row in no_loads["orders_coverage"]] == ["never loaded"]
    assert "facts_freshness" in no_loads
    good_state(ch)
    later = failed(run_checks(ch, now=datetime.now(UTC) + timedelta(hours=3)))
    assert set(later) == {"orders_coverage", "facts_freshness"}
    # A failed load after the successful one does not make the data fresher: only coverage does.
    record_dataset_load(ch, DatasetLoad("orders", "run-2", "failed", NOW, NOW + timedelta(hours=5),
                                        window_end=NOW + timedelta(hours=5)))
    stale = failed(run_checks(ch, now=NOW + timedelta(hours=3)))["orders_coverage"]
    assert len(stale) == 1 and "coverage ends at 2025-11-10 11:54:00 UTC" in stale[0][1], stale


def test_coverage_check_names_each_hole_within_the_lookback(ch):
    good_state(ch)
    record_coverage(ch, "orders", Window(NOW - timedelta(days=30), NOW - timedelta(days=3)), "run-a")
    record_coverage(ch, "orders", Window(NOW - timedelta(days=2), NOW), "run-b")
    # The ledger of good_state covers these days too; a hole appears only once it is gone:
    ch.execute("ALTER TABLE {{ db }}.meta_coverage DELETE WHERE run_id = 'run-1' SETTINGS mutations_sync = 2")
    assert not failed(run_checks(ch, now=NOW + timedelta(minutes=1), check_freshness=False)).get("orders_coverage")
    holes = failed(run_checks(ch, now=NOW + timedelta(minutes=1)))["orders_coverage"]
    assert [row[1].split(": ")[0] for row in holes] == ["hole 2025-11-07 12:00:00 UTC .. 2025-11-08 12:00:00 UTC"]
    # A run answers for the timeline up to its own window's end: a backfill ending before the hole
    # passes (the next run of the present reads the hole and checks it).
    backfill = run_checks(ch, now=NOW + timedelta(minutes=1), coverage_until=NOW - timedelta(days=3, hours=1))
    assert "orders_coverage" not in failed(backfill)


def test_quiet_rebuild_keeps_facts_fresh(ch):
    now = datetime.now(UTC)
    assert "facts_freshness" in failed(run_checks(ch, now=now))
    assert rebuild_sales_facts(ch, [])["months"] == []
    assert "facts_freshness" not in failed(run_checks(ch, now=now + timedelta(minutes=1)))
    assert "facts_freshness" in failed(run_checks(ch, now=now + timedelta(hours=2, minutes=1)))


def test_raise_lists_every_failed_check(ch):
    with pytest.raises(StaleDataError, match=r"2 data-quality check\(s\) failed(.|\n)*facts_freshness(.|\n)*orders_coverage"):
        raise_for_failed(run_checks(ch, now=NOW))
    with pytest.raises(ValueError, match="aware"):
        run_checks(ch, now=datetime(2025, 1, 1))
