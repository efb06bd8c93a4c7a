"""Write → audit → publish: a rebuild that fails an audit of its scratch build never reaches the
published facts (embedded ClickHouse)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from qtickets.exceptions import DataQualityError
from qtickets.rows.orders import sales_dates
from qtickets.warehouse import facts as facts_module
from qtickets.warehouse import (
    last_dataset_load,
    months_out_of_sync,
    rebuild_dim_events,
    rebuild_inventory_latest,
    rebuild_sales_facts,
    run_audits,
)
from qtickets.warehouse.facts import (
    DIM_EVENTS,
    FACTS_DIR,
    INVENTORY_LATEST,
    SALES_AUDITS,
    SALES_DAILY,
    SALES_UTM_DAILY,
    Build,
)
from tests.integration.warehouse.builders import basket, event, order
from tests.integration.warehouse.conftest import load_events, load_inventory, load_orders

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 10, tzinfo=UTC)
NOV, OCT = date(2025, 11, 1), date(2025, 10, 1)
PARAMS = {"months": [202511], "max_month": 202511}


def published(ch, table: str) -> list[tuple]:
    """Every row of ``table`` with every column, ``_built_at`` included, in a stable order."""
    return ch.fetch_all("SELECT * FROM {{ db }}.{{ t }} ORDER BY tuple(*)", t=table)


def snapshot(ch, *tables: str) -> dict[str, list[tuple]]:
    return {t: published(ch, t) for t in tables}


def scratch_tables(ch) -> list[tuple]:
    return ch.fetch_all("SELECT name FROM system.tables WHERE database = %(d)s AND position(name, '__build_') > 0",
                        {"d": ch.database})


def loads(ch, dataset: str) -> list[tuple]:
    return ch.fetch_all("SELECT run_id, status, rows FROM {{ db }}.meta_dataset_loads FINAL "
                        "WHERE dataset = %(ds)s ORDER BY started_at, run_id", {"ds": dataset})


@pytest.fixture
def sales(ch):
    """Published sales facts for October and November 2025 (built at least a second ago)."""
    load_events(ch, [event()])
    records = [order(1), order(2, "2025-10-20T10:00:00+03:00", created_at="2025-10-20T09:00:00+03:00")]
    load_orders(ch, records, T0)
    rebuild_sales_facts(ch, sales_dates(records), run_id="good")
    time.sleep(1.1)  # a republish would now stamp a different _built_at
    return ch


def test_negative_amount_blocks_the_publish(sales):
    ch = sales
    before = snapshot(ch, SALES_DAILY, SALES_UTM_DAILY)
    assert before[SALES_DAILY] and before[SALES_UTM_DAILY]
    fresh_before = last_dataset_load(ch, SALES_DAILY)
    # The vendor sends a negative ticket_amount for a new ticket of November (already published).
    load_orders(ch, [order(3, "2025-11-04T10:00:00+03:00", baskets=[basket(30, amount=-10000), basket(31)])], T0)

    with pytest.raises(DataQualityError) as caught:
        rebuild_sales_facts(ch, [NOV, OCT], run_id="bad-run")

    err = caught.value
    assert isinstance(err, AirflowFailException), "a retry cannot change the data"
    message = str(err)
    assert "sales_negative_amounts" in message and err.failed == ("sales_negative_amounts",)
    assert "stg_qtickets_api_tickets_raw" in message and "fact_qtickets_sales_daily" in message
    assert "ticket ids: 30;" in message and "order ids: 3;" in message
    assert "ticket_amount=-10000" in message
    assert "vendor" in message and "re-run" in message and "NOT published" in message
    # Nothing published: same rows, same _built_at; no scratch left; the failure is on record.
    assert snapshot(ch, SALES_DAILY, SALES_UTM_DAILY) == before
    assert scratch_tables(ch) == []
    for table in (SALES_DAILY, SALES_UTM_DAILY):
        assert ("bad-run", "failed", 0) in loads(ch, table)
    assert last_dataset_load(ch, SALES_DAILY) == fresh_before, "a failed rebuild does not make facts fresh"
    # The month stays out of sync, so the next run retries it; once the vendor fixed it, it publishes.
    assert NOV in months_out_of_sync(ch)
    load_orders(ch, [order(3, "2025-11-04T10:00:00+03:00", updated_at="2025-11-05T10:00:00+03:00",
                           baskets=[basket(30, amount=500), basket(31)])], T0)
    result = rebuild_sales_facts(ch, [NOV], run_id="fixed")
    assert result[SALES_DAILY] == 2  # 1 and 4 November
    assert ch.fetch_all("SELECT tickets_sold, revenue FROM {{ db }}.fact_qtickets_sales_daily "
                        "WHERE sales_date = '2025-11-04'") == [(2, 1500)]
    assert months_out_of_sync(ch) == set()
    assert ("fixed", "success", 2) in loads(ch, SALES_DAILY)


def test_message_samples_at_most_ten_ids_and_counts_all(sales):
    ch = sales
    load_orders(ch, [order(3, "2025-11-04T10:00:00+03:00", baskets=[basket(300 + i, amount=-1) for i in range(12)]),
                     order(4, "2025-11-05T10:00:00+03:00", price=-5)], T0)
    with pytest.raises(DataQualityError) as caught:
        rebuild_sales_facts(ch, [NOV])
    message = str(caught.value)
    assert "on stg_qtickets_api_tickets_raw: 12 offending row(s)" in message
    assert "ticket ids: " + ", ".join(str(300 + i) for i in range(10)) + " (first 10)" in message
    assert "on stg_qtickets_api_orders_raw: 1 offending row(s); order ids: 4;" in message
    assert scratch_tables(ch) == []


def test_daily_is_summed_from_the_utm_scratch_not_the_published_table(sales, tmp_path, monkeypatch):
    ch = sales
    load_orders(ch, [order(5, "2025-11-03T10:00:00+03:00")], T0)  # staging moved on; published UTM did not
    # The old way: the daily fact summed from the *published* UTM table. The reconciliation audit
    # catches it (it disagrees with staging on every attempt) and nothing is published.
    old_way = tmp_path / "sales_daily_from_published.sql"
    old_way.write_text((FACTS_DIR / "sales_daily.sql").read_text().replace("{{ utm_scratch }}", SALES_UTM_DAILY))
    monkeypatch.setattr(facts_module, "SALES_BUILDS", (
        facts_module.SALES_BUILDS[0], Build(SALES_DAILY, old_way, "daily_scratch")))
    before = snapshot(ch, SALES_DAILY, SALES_UTM_DAILY)
    with pytest.raises(DataQualityError, match=r"(?s)sales_reconcile.*202511: staging tickets=4 .*"
                                               r"utm tickets=4 .*daily tickets=2 "):
        rebuild_sales_facts(ch, [NOV], run_id="broken")
    assert snapshot(ch, SALES_DAILY, SALES_UTM_DAILY) == before
    assert scratch_tables(ch) == []
    assert ("broken", "failed", 0) in loads(ch, SALES_UTM_DAILY)
    monkeypatch.undo()
    rebuild_sales_facts(ch, [NOV])  # the real build reads the UTM scratch: it passes
    assert ch.fetch_all("SELECT sum(tickets_sold) FROM {{ db }}.fact_qtickets_sales_daily "
                        "WHERE toYYYYMM(sales_date) = 202511") == [(4,)]


def test_audits_catch_hand_made_scratch_tables(sales):
    ch = sales
    names = {"utm_scratch": "utm_hand_made", "daily_scratch": "daily_hand_made"}
    for alias, table in (("utm_scratch", SALES_UTM_DAILY), ("daily_scratch", SALES_DAILY)):
        ch.execute("CREATE TABLE {{ db }}.{{ s }} AS {{ db }}.{{ t }}", s=names[alias], t=table)
        ch.execute("INSERT INTO {{ db }}.{{ s }} SELECT * FROM {{ db }}.{{ t }} WHERE toYYYYMM(sales_date) = 202511",
                   s=names[alias], t=table)
    assert run_audits(ch, SALES_AUDITS, PARAMS, names) == [], "a faithful copy of the published month passes"
    # Asked about October too, the same scratch lacks October's sale (staging has it).
    missing = run_audits(ch, SALES_AUDITS, {"months": [202510, 202511], "max_month": 202511}, names)
    assert [(f.audit.name, f.violations) for f in missing] == [("sales_reconcile", 1)]
    assert missing[0].examples[0].startswith("202510: staging tickets=2 ")

    # One more ticket in the daily scratch than staging has, and the same key twice.
    ch.execute("INSERT INTO {{ db }}.daily_hand_made SELECT * REPLACE (toUInt64(1) AS tickets_sold, "
               "toDecimal64(0, 2) AS revenue) FROM {{ db }}.daily_hand_made")
    found = {(f.audit.name, f.source): f for f in run_audits(ch, SALES_AUDITS, PARAMS, names)}
    assert set(found) == {("sales_duplicate_keys", SALES_DAILY),
                          ("sales_reconcile", f"{SALES_DAILY}, {SALES_UTM_DAILY}")}
    assert found["sales_duplicate_keys", SALES_DAILY].examples == ("2025-11-01/42/Новосибирск: 2 rows",)
    reconcile = found["sales_reconcile", f"{SALES_DAILY}, {SALES_UTM_DAILY}"]
    assert reconcile.violations == 1
    assert reconcile.examples[0].startswith("202511: staging tickets=2 revenue=2000")
    assert "; daily tickets=3 revenue=2000" in reconcile.examples[0]

    # A negative revenue in a scratch fact.
    ch.execute("TRUNCATE TABLE {{ db }}.daily_hand_made")
    ch.execute("INSERT INTO {{ db }}.daily_hand_made SELECT * REPLACE (toDecimal64(-1, 2) AS revenue) "
               "FROM {{ db }}.fact_qtickets_sales_daily WHERE toYYYYMM(sales_date) = 202511")
    found = {(f.audit.name, f.source): f for f in run_audits(ch, SALES_AUDITS, PARAMS, names)}
    assert set(found) == {("sales_negative_amounts", SALES_DAILY),
                          ("sales_reconcile", f"{SALES_DAILY}, {SALES_UTM_DAILY}")}
    assert found["sales_negative_amounts", SALES_DAILY].examples[0].startswith("2025-11-01/42/Новосибирск: revenue=-1")


def test_reconcile_failure_from_a_concurrent_load_builds_again(sales, monkeypatch, caplog):
    """A load of another run lands between the build and its audit: the audit disagrees once, the
    second build includes the new rows and is published."""
    ch = sales
    real = ch.run_sql_file
    landed = []

    def run_sql_file(path, params=None, **identifiers):
        if Path(path).name == "sales_reconcile.sql" and not landed:
            landed.append(True)
            load_orders(ch, [order(6, "2025-11-06T10:00:00+03:00")], T0)
        return real(path, params, **identifiers)

    monkeypatch.setattr(ch, "run_sql_file", run_sql_file)
    result = rebuild_sales_facts(ch, [NOV])
    assert landed and result[SALES_DAILY] == 2
    assert "building again" in caplog.text
    assert months_out_of_sync(ch) == set()
    assert scratch_tables(ch) == []


def _doubled(tmp_path: Path, name: str) -> Path:
    """``FACTS_DIR`` copy whose ``name`` inserts every row twice (a join that fans out)."""
    for sql in FACTS_DIR.glob("*.sql"):
        (tmp_path / sql.name).write_text(sql.read_text())
    text = (FACTS_DIR / name).read_text().rstrip().rstrip(";")
    (tmp_path / name).write_text(f"{text};\n{text}\n")
    return tmp_path


def test_dim_events_duplicate_keys_block_the_publish(ch, tmp_path, monkeypatch):
    load_events(ch, [event(42), event(43)])
    assert rebuild_dim_events(ch, run_id="good") == 2
    time.sleep(1.1)
    before = published(ch, DIM_EVENTS)
    monkeypatch.setattr(facts_module, "FACTS_DIR", _doubled(tmp_path, "dim_events.sql"))
    with pytest.raises(DataQualityError, match=r"(?s)dim_events_duplicate_keys.*event 42: 2 rows.*"
                                               r"dim_events_reconcile.*scratch has 4 rows / 2 events") as caught:
        rebuild_dim_events(ch, run_id="bad")
    assert isinstance(caught.value, AirflowFailException)
    assert published(ch, DIM_EVENTS) == before
    assert scratch_tables(ch) == []
    assert ("bad", "failed", 0) in loads(ch, DIM_EVENTS)


def test_inventory_audits_block_the_publish(ch, tmp_path, monkeypatch):
    load_events(ch, [event()])
    seats = {"a": {"max_quantity": 10, "free_quantity": 7, "payed_quantity": 3}}
    load_inventory(ch, [{"show_id": 420, "event_id": 42, "snapshot_ts": "2025-11-07T10:00:00+03:00", "seats": seats}])
    assert rebuild_inventory_latest(ch, run_id="good") == 1
    time.sleep(1.1)
    before = published(ch, INVENTORY_LATEST)
    monkeypatch.setattr(facts_module, "FACTS_DIR", _doubled(tmp_path, "inventory_latest.sql"))
    with pytest.raises(DataQualityError, match=r"(?s)inventory_duplicate_keys.*show 420: 2 rows.*inventory_reconcile"):
        rebuild_inventory_latest(ch, run_id="bad")
    assert published(ch, INVENTORY_LATEST) == before
    assert scratch_tables(ch) == []
    assert ("bad", "failed", 0) in loads(ch, INVENTORY_LATEST)
    monkeypatch.undo()
    assert rebuild_inventory_latest(ch) == 1


def test_empty_staging_passes_every_audit(ch):
    assert rebuild_dim_events(ch) == 0
    assert rebuild_inventory_latest(ch) == 0
    result = rebuild_sales_facts(ch, [NOV, OCT], run_id="empty")
    assert (result[SALES_DAILY], result[SALES_UTM_DAILY]) == (0, 0)
    assert ("empty", "success", 0) in loads(ch, SALES_DAILY)
    assert scratch_tables(ch) == []


def test_long_month_lists_are_summarised_in_the_message(ch):
    load_orders(ch, [order(3, "2025-11-04T10:00:00+03:00", baskets=[basket(30, amount=-1)])], T0)
    with pytest.raises(DataQualityError, match=r"^Sales facts for 11 months 2025-01\.\.2025-11 NOT published"):
        rebuild_sales_facts(ch, [date(2025, m, 1) for m in range(1, 12)])


def test_overlapping_rebuilds_with_a_refund_between_them_end_equal_to_staging(sales, monkeypatch):
    """Run A builds November; before A publishes, run B loads a refund of order 1 and rebuilds and
    publishes November itself. A's build predates the refund: A must not publish it over B's (the
    reconciliation audit against staging sees the difference and A builds again). The publishing pool
    keeps this from happening in Airflow; this is the second line for a deployment without it."""
    ch = sales
    real = ch.run_sql_file
    b_ran = []

    def run_sql_file(path, params=None, **identifiers):
        if Path(path).name == "sales_reconcile.sql" and not b_ran:
            b_ran.append(True)
            refunded = basket(10, refunded_at="2025-11-05T12:00:00+03:00", refunded_amount=1000,
                              updated_at="2025-11-05T12:00:00+03:00")
            load_orders(ch, [order(1, baskets=[refunded, basket(11)], updated_at="2025-11-05T12:00:00+03:00")],
                        T0 + timedelta(hours=1))
            rebuild_sales_facts(ch, [NOV], run_id="run-b")
        return real(path, params, **identifiers)

    monkeypatch.setattr(ch, "run_sql_file", run_sql_file)
    rebuild_sales_facts(ch, [NOV], run_id="run-a")

    assert b_ran
    assert months_out_of_sync(ch) == set()
    (tickets, revenue), = ch.fetch_all("SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily "
                                       "WHERE toYYYYMM(sales_date) = 202511")
    assert (tickets, revenue) == (1, 1000)
    assert scratch_tables(ch) == []
