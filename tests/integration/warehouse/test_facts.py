"""Fact rebuilds on embedded ClickHouse: idempotent, overlap-safe, version-safe, refund-aware."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from qtickets.exceptions import ClickHouseQueryError
from qtickets.rows import barcodes as rows_barcodes
from qtickets.rows.orders import sales_dates
from qtickets.timeutil import MSK
from qtickets.warehouse import (
    months_out_of_sync,
    rebuild_dim_events,
    rebuild_inventory_latest,
    rebuild_sales_facts,
    stored_sales_months,
)
from qtickets.warehouse import sales_months as sales_months_module
from qtickets.warehouse.facts import replace_partitions
from tests.integration.warehouse.builders import basket, event, order
from tests.integration.warehouse.conftest import (
    ctx_at,
    insert_mapped,
    load_events,
    load_inventory,
    load_orders,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 10, tzinfo=UTC)


def facts(ch, table="fact_qtickets_sales_daily") -> list[tuple]:
    cols = [r[0] for r in ch.fetch_all(
        "SELECT name FROM system.columns WHERE database = %(d)s AND table = %(t)s AND name != '_built_at' "
        "ORDER BY position", {"d": ch.database, "t": table})]
    return ch.fetch_all(f"SELECT {', '.join(cols)} FROM {{{{ db }}}}.{table} ORDER BY {', '.join(cols)}")


def daily(ch) -> dict[tuple, tuple]:
    rows = ch.fetch_all(
        "SELECT sales_date, event_id, city, tickets_sold, revenue, refunds_amount, tickets_refunded, orders_count "
        "FROM {{ db }}.fact_qtickets_sales_daily"
    )
    return {(r[0], r[1], r[2]): r[3:] for r in rows}


def test_capture_end_to_end(ch, captures_dir):
    records = json.loads((captures_dir / "orders_page1.json").read_text())["data"]
    evs = json.loads((captures_dir / "events_page1.json").read_text())["data"]
    load_events(ch, evs)
    load_orders(ch, records)
    result = rebuild_sales_facts(ch, sales_dates(records))
    assert result["fact_qtickets_sales_daily"] > 0
    # Independent of the mapper: sold = paid, not deleted, not refunded, from the raw capture.
    expected_revenue = sum(
        Decimal(str(b["ticket_amount"])) for o in records if o["payed"] and not o["deleted_at"]
        for b in o["baskets"] if not b["deleted_at"] and not b["refunded_at"]
    )
    expected_tickets = sum(
        b["quantity"] for o in records if o["payed"] and not o["deleted_at"]
        for b in o["baskets"] if not b["deleted_at"] and not b["refunded_at"]
    )
    total = ch.fetch_all("SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily")[0]
    assert total == (expected_tickets, expected_revenue)
    utm_total = ch.fetch_all("SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_utm_daily")[0]
    assert utm_total == total
    cities = {r[0] for r in ch.fetch_all("SELECT DISTINCT city FROM {{ db }}.fact_qtickets_sales_daily")}
    event_city = {e["id"]: e["city"]["name"] for e in evs}
    assert cities == {event_city[o["event_id"]] for o in records if o["payed"] and o["event_id"] in event_city}


def test_same_window_loaded_twice_gives_identical_facts(ch):
    load_events(ch, [event()])
    records = [order(1), order(2, "2025-11-02T12:00:00+03:00")]
    load_orders(ch, records, T0)
    rebuild_sales_facts(ch, sales_dates(records))
    first = facts(ch), facts(ch, "fact_qtickets_sales_utm_daily")
    load_orders(ch, records, T0 + timedelta(hours=1))
    rebuild_sales_facts(ch, sales_dates(records))
    assert (facts(ch), facts(ch, "fact_qtickets_sales_utm_daily")) == first
    assert daily(ch)[(date(2025, 11, 1), 42, "Новосибирск")] == (2, Decimal("2000"), Decimal("0"), 0, 1)


def test_overlapping_windows_match_one_full_load(ch):
    load_events(ch, [event()])
    records = [order(i, f"2025-11-{i:02d}T12:00:00+03:00") for i in range(1, 9)]
    for chunk in (records[:5], records[3:]):  # overlap on orders 4 and 5
        load_orders(ch, chunk, T0)
        rebuild_sales_facts(ch, sales_dates(chunk))
    assert sum(v[0] for v in daily(ch).values()) == 16
    assert len(daily(ch)) == 8


def test_older_version_inserted_after_newer_loses(ch):
    load_events(ch, [event()])
    paid = order(1)
    refunded = order(1, updated_at="2025-11-05T09:00:00+03:00", baskets=[
        basket(10, refunded_at="2025-11-05T09:00:00+03:00", refunded_amount=1000), basket(11)])
    load_orders(ch, [refunded], T0)
    load_orders(ch, [paid], T0 + timedelta(days=1))  # re-read of an old window, fetched later
    rebuild_sales_facts(ch, [date(2025, 11, 1)])
    assert daily(ch)[(date(2025, 11, 1), 42, "Новосибирск")] == (1, Decimal("1000"), Decimal("1000"), 1, 1)


def test_refund_days_later_changes_the_payment_day(ch):
    load_events(ch, [event()])
    paid = order(1)
    load_orders(ch, [paid], T0)
    rebuild_sales_facts(ch, sales_dates([paid]))
    key = (date(2025, 11, 1), 42, "Новосибирск")
    assert daily(ch)[key] == (2, Decimal("2000"), Decimal("0"), 0, 1)
    refunded = order(1, updated_at="2025-11-05T09:00:00+03:00", baskets=[
        basket(10, refunded_at="2025-11-05T09:00:00+03:00", refunded_amount=900), basket(11)])
    load_orders(ch, [refunded], T0 + timedelta(days=5))
    rebuild_sales_facts(ch, sales_dates([refunded]))
    assert daily(ch) == {key: (1, Decimal("1000"), Decimal("900"), 1, 1)}


def test_stored_sales_months_remember_where_an_order_was_counted(ch):
    # Order 2 was paid late on 30 September in UTC, already 1 October in Moscow: October is its month.
    load_orders(ch, [order(1), order(2, "2025-09-30T22:30:00+00:00"), order(3, None)], T0)
    assert stored_sales_months(ch, [1, 2, 3, 99]) == {date(2025, 11, 1), date(2025, 10, 1)}
    assert stored_sales_months(ch, [3, 99]) == set()
    assert stored_sales_months(ch, []) == set()


def test_stored_sales_months_in_chunks(ch, monkeypatch):
    monkeypatch.setattr(sales_months_module, "STORED_MONTHS_CHUNK", 2)
    load_orders(ch, [order(i, f"2025-{i:02d}-15T12:00:00+03:00") for i in range(1, 6)], T0)
    assert stored_sales_months(ch, range(1, 6)) == {date(2025, m, 1) for m in range(1, 6)}


def test_months_out_of_sync_finds_loads_that_were_never_rebuilt(ch):
    load_events(ch, [event()])
    load_orders(ch, [order(1), order(2, "2025-09-10T10:00:00+03:00")], T0)
    assert months_out_of_sync(ch) == {date(2025, 11, 1), date(2025, 9, 1)}
    rebuild_sales_facts(ch, [date(2025, 11, 1), date(2025, 9, 1)])
    assert months_out_of_sync(ch) == set()
    # A run loads a refund, then dies before rebuilding: September is behind, November is not.
    load_orders(ch, [order(2, "2025-09-10T10:00:00+03:00", updated_at="2025-11-05T09:00:00+03:00",
                           baskets=[basket(20, refunded_at="2025-11-05T09:00:00+03:00"), basket(21)])], T0)
    assert months_out_of_sync(ch) == {date(2025, 9, 1)}


def test_month_that_lost_all_sales_is_emptied(ch):
    load_events(ch, [event()])
    load_orders(ch, [order(1)], T0)
    rebuild_sales_facts(ch, [date(2025, 11, 1)])
    assert daily(ch)
    cancelled = order(1, updated_at="2025-11-03T10:00:00+03:00", deleted_at="2025-11-03T10:00:00+03:00")
    load_orders(ch, [cancelled], T0 + timedelta(days=3))
    rebuild_sales_facts(ch, [date(2025, 11, 1)])
    assert daily(ch) == {}
    unpaid = order(1, None, updated_at="2025-11-04T10:00:00+03:00")
    load_orders(ch, [order(1)], T0)
    rebuild_sales_facts(ch, [date(2025, 11, 1)])
    assert daily(ch) == {}, "the cancelled version (newer) must still win over the older re-read"
    load_orders(ch, [unpaid], T0 + timedelta(days=4))
    rebuild_sales_facts(ch, [date(2025, 11, 1)])
    assert daily(ch) == {}


def test_other_months_untouched_and_city_from_event(ch):
    load_events(ch, [event(42), event(43, city="Томск", tz="Asia/Tomsk")])
    load_orders(ch, [order(1), order(2, "2025-10-15T12:00:00+03:00", event_id=43,
                                      created_at="2025-10-15T11:00:00+03:00", city="ignored")], T0)
    rebuild_sales_facts(ch, [date(2025, 10, 1), date(2025, 11, 30)])
    ch.execute("ALTER TABLE {{ db }}.stg_qtickets_api_tickets_raw DELETE WHERE event_id = 43 "
               "SETTINGS mutations_sync = 1")
    rebuild_sales_facts(ch, [date(2025, 11, 2)])  # November only: October keeps its rows
    assert set(daily(ch)) == {(date(2025, 11, 1), 42, "Новосибирск"), (date(2025, 10, 15), 43, "Томск")}


def test_views_do_not_double_count(ch):
    today = datetime.now(MSK).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    old = today - timedelta(days=30)
    load_events(ch, [event()])
    records = [order(i, ts.isoformat(), created_at=ts.isoformat()) for i, ts in
               ((1, today), (2, yesterday), (3, old))]
    for attempt in range(2):  # unmerged duplicate versions in staging
        load_orders(ch, records, T0 + timedelta(hours=attempt))
        rebuild_sales_facts(ch, sales_dates(records))
    rebuild_dim_events(ch)
    load_inventory(ch, [{"show_id": 420, "event_id": 42, "snapshot_ts": today.isoformat(),
                         "seats": {"a": {"max_quantity": 100, "free_quantity": 40, "payed_quantity": 60}}}])
    rebuild_inventory_latest(ch)
    assert ch.fetch_all("SELECT event_id, event_name, city, tickets_sold, revenue FROM {{ db }}.v_sales_14d") == [
        (42, "Событие 42", "Новосибирск", 4, Decimal("4000"))
    ]
    latest = ch.fetch_all("SELECT sales_date, tickets_sold, revenue, tickets_total, tickets_left, event_name "
                          "FROM {{ db }}.v_sales_latest ORDER BY sales_date")
    assert latest == [
        (yesterday.date(), 2, Decimal("2000"), 100, 40, "Событие 42"),
        (today.date(), 2, Decimal("2000"), 100, 40, "Событие 42"),
    ]


def test_current_barcodes_are_those_of_each_shows_latest_read(ch):
    def read(show_id: int, barcodes: list[str], fetched_at: datetime) -> None:
        records = [{"barcode": b, "show_id": show_id, "event_id": 42, "price": 1000} for b in barcodes]
        insert_mapped(ch, rows_barcodes, rows_barcodes.map_barcodes(records, ctx_at(fetched_at)))

    read(1, ["A", "B", "C"], T0)
    read(2, ["D"], T0)
    read(1, ["A", "C"], T0 + timedelta(hours=1))  # B's ticket was refunded: gone from the vendor's list
    hashes = {b: ctx_at(T0).pii.hash_barcode(b) for b in "ABCD"}
    current = set(ch.fetch_all("SELECT show_id, barcode_hash FROM {{ db }}.v_barcodes_current"))
    assert current == {(1, hashes["A"]), (1, hashes["C"]), (2, hashes["D"])}
    assert ch.fetch_all("SELECT count() FROM {{ db }}.stg_qtickets_api_barcodes_raw FINAL")[0][0] == 4


def test_dim_events_moscow_dates_and_deleted_shows(ch):
    ev = event(42)
    ev["shows"][1]["deleted_at"] = "2025-10-20T10:00:00+03:00"
    load_events(ch, [ev, event(43, deleted_at="2025-10-05T00:00:00+03:00", shows=[])])
    assert rebuild_dim_events(ch) == 2
    assert rebuild_dim_events(ch) == 2  # replace, not append
    rows = ch.fetch_all("SELECT event_id, city, city_timezone, is_deleted, start_date, end_date, shows_count "
                        "FROM {{ db }}.dim_events ORDER BY event_id")
    assert rows == [
        (42, "Новосибирск", "Asia/Novosibirsk", 0, date(2025, 12, 1), date(2025, 12, 2), 1),
        (43, "Новосибирск", "Asia/Novosibirsk", 1, None, None, 0),
    ]


def test_inventory_latest_picks_latest_snapshot(ch):
    load_events(ch, [event()])
    seats = {"a": {"max_quantity": 10, "free_quantity": 7, "payed_quantity": 3}}
    later = {"a": {"max_quantity": 10, "free_quantity": 2, "payed_quantity": 8}}
    load_inventory(ch, [{"show_id": 420, "event_id": 42, "snapshot_ts": "2025-11-07T12:00:00+03:00", "seats": later},
                        {"show_id": 420, "event_id": 42, "snapshot_ts": "2025-11-07T10:00:00+03:00", "seats": seats},
                        {"show_id": 421, "event_id": 0, "snapshot_ts": "2025-11-07T10:00:00+03:00", "seats": seats}])
    assert rebuild_inventory_latest(ch) == 2
    rows = ch.fetch_all("SELECT event_id, show_id, city, tickets_total, tickets_left, tickets_sold "
                        "FROM {{ db }}.fact_qtickets_inventory_latest ORDER BY show_id")
    assert rows == [(42, 420, "Новосибирск", 10, 2, 8), (42, 421, "Новосибирск", 10, 7, 3)]


def test_scratch_table_dropped_on_success_and_error(ch, tmp_path):
    rebuild_sales_facts(ch, [date(2025, 11, 1)])
    bad = tmp_path / "bad.sql"
    bad.write_text("INSERT INTO {{ db }}.{{ target }} SELECT no_such_column FROM {{ db }}.dim_events")
    with pytest.raises(ClickHouseQueryError):
        replace_partitions(ch, "fact_qtickets_sales_daily", bad, None, ["202511"])
    left = ch.fetch_all("SELECT name FROM system.tables WHERE database = %(d)s AND name LIKE '%%__build_%%'",
                        {"d": ch.database})
    assert left == []
