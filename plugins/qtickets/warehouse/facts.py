"""Fact and dimension rebuilds: build into a scratch table, swap partitions in atomically.

Why: the original aggregated only the rows of one load window and overwrote whole days with them
(partial-day overwrite), and its views summed ReplacingMergeTree rows without FINAL (double
counting). Here every affected month is recomputed from the *deduplicated* staging tables into a
per-call scratch table, then ``ALTER TABLE ... REPLACE PARTITION`` swaps each month in at once, so
readers see either the old month or the new one. Loading a window twice, overlapping windows and a
refund days after payment all end in the same facts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qtickets.timeutil import MSK, utcnow
from qtickets.warehouse.paths import CHECKS_DIR, FACTS_DIR, QUERIES_DIR
from qtickets.warehouse.runs import DatasetLoad, record_dataset_load

log = logging.getLogger(__name__)

SALES_DAILY = "fact_qtickets_sales_daily"
SALES_UTM_DAILY = "fact_qtickets_sales_utm_daily"
DIM_EVENTS = "dim_events"
INVENTORY_LATEST = "fact_qtickets_inventory_latest"


def _month_of(value: date) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass dates or aware datetimes")
        value = value.astimezone(MSK).date()
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__} {value!r}")
    return value.year * 100 + value.month


def replace_partitions(
    ch: Any, table: str, sql_path: Path, params: dict[str, Any] | None, partition_ids: Sequence[str] | None
) -> int:
    """Build ``table``'s rows with ``sql_path`` into a scratch copy and swap partitions in.

    :param partition_ids: partitions to replace (``"202511"``); ``None`` for an unpartitioned table
        (``REPLACE PARTITION tuple()``). A listed partition the build left empty is dropped.
    :returns: rows built.
    """
    scratch = f"{table}__build_{uuid.uuid4().hex[:12]}"
    ch.execute("CREATE TABLE {{ db }}.{{ scratch }} AS {{ db }}.{{ target }}", scratch=scratch, target=table)
    try:
        ch.run_sql_file(sql_path, params, target=scratch)
        built = {
            str(pid): int(n)
            for pid, n in ch.fetch_all(
                "SELECT _partition_id, count() FROM {{ db }}.{{ scratch }} GROUP BY _partition_id", scratch=scratch
            )
        }
        if partition_ids is None:
            # Newer servers refuse to replace from an empty source; an empty build empties the table.
            if built:
                ch.execute("ALTER TABLE {{ db }}.{{ target }} REPLACE PARTITION tuple() FROM {{ db }}.{{ scratch }}",
                           target=table, scratch=scratch)
            else:
                ch.execute("TRUNCATE TABLE {{ db }}.{{ target }}", target=table)
        else:
            for pid in partition_ids:
                if built.get(pid):
                    ch.execute(
                        "ALTER TABLE {{ db }}.{{ target }} REPLACE PARTITION ID %(pid)s FROM {{ db }}.{{ scratch }}",
                        {"pid": pid}, target=table, scratch=scratch,
                    )
                else:
                    ch.execute("ALTER TABLE {{ db }}.{{ target }} DROP PARTITION ID %(pid)s", {"pid": pid},
                               target=table)
        return sum(built.values())
    finally:
        try:
            ch.execute("DROP TABLE IF EXISTS {{ db }}.{{ scratch }}", scratch=scratch)
        except Exception:  # noqa: BLE001 - never mask the build error; the scratch name is unique anyway
            log.warning("Could not drop scratch table %s; drop it by hand", scratch, exc_info=True)


def _record(ch: Any, table: str, rows: int, started: datetime, run_id: str | None) -> None:
    record_dataset_load(
        ch,
        DatasetLoad(dataset=table, run_id=run_id or uuid.uuid4().hex, status="success", started_at=started,
                    finished_at=utcnow(), rows=rows),
    )


#: Order ids per lookup in :func:`stored_sales_months` (keeps each query well under max_query_size).
STORED_MONTHS_CHUNK = 5_000


def stored_sales_months(ch: Any, order_ids: Iterable[int]) -> set[date]:
    """First days of the Moscow payment months staging holds for ``order_ids`` (any stored version).

    Call it before inserting new versions of these orders: a payment date that moved, or an order that
    is no longer paid, leaves its sale counted in the old month until that month is rebuilt as well.
    """
    ids = sorted(set(order_ids))
    months: set[date] = set()
    for start in range(0, len(ids), STORED_MONTHS_CHUNK):
        rows = ch.run_sql_file(QUERIES_DIR / "stored_sales_months.sql",
                               {"order_ids": tuple(ids[start:start + STORED_MONTHS_CHUNK])})
        months.update(month for (month,) in rows)
    return months


def _rebuild(ch: Any, table: str, file: str, params: dict[str, Any] | None, partitions: Sequence[str] | None,
             run_id: str | None) -> int:
    """Rebuild ``table`` with ``facts/<file>`` (see :func:`replace_partitions`) and record the load."""
    started = utcnow()
    rows = replace_partitions(ch, table, FACTS_DIR / file, params, partitions)
    _record(ch, table, rows, started, run_id)
    return rows


def months_out_of_sync(ch: Any) -> set[date]:
    """First days of the payment months whose sales facts disagree with deduplicated staging (the
    ``facts_reconcile`` check's violations, at most 100): what a run that loaded data but never rebuilt
    the facts (it failed, or was killed) leaves behind."""
    rows = ch.run_sql_file(CHECKS_DIR / "facts_reconcile.sql")
    return {date(month // 100, month % 100, 1) for (month, *_rest) in rows if month}


def rebuild_sales_facts(ch: Any, dates: Iterable[date], *, run_id: str | None = None) -> dict[str, Any]:
    """Rebuild the daily and daily-UTM sales facts for every month that contains one of ``dates``.

    :param dates: Moscow payment dates the load touched (see ``qtickets.rows.orders.sales_dates``);
        whole months are rebuilt, which also covers late refunds within a month.
    :param run_id: recorded in ``meta_dataset_loads`` (facts freshness); a fresh id when omitted.
    :returns: ``{"months": [...], "fact_qtickets_sales_daily": rows, "fact_qtickets_sales_utm_daily": rows}``.
    """
    months = sorted({_month_of(d) for d in dates})
    result: dict[str, Any] = {"months": [str(m) for m in months], SALES_DAILY: 0, SALES_UTM_DAILY: 0}
    if not months:
        # Nothing to recompute, but the facts are as current as staging: record that (freshness).
        log.info("No sales dates to rebuild")
        now = utcnow()
        for table in (SALES_DAILY, SALES_UTM_DAILY):
            _record(ch, table, 0, now, run_id)
        return result
    params = {"months": months, "max_month": months[-1]}
    # The UTM fact first: the daily fact is summed from it (one place for the revenue rule).
    for table, file in ((SALES_UTM_DAILY, "sales_utm_daily.sql"), (SALES_DAILY, "sales_daily.sql")):
        result[table] = _rebuild(ch, table, file, params, result["months"], run_id)
    log.info("Rebuilt sales facts for months %s: %s", result["months"], result)
    return result


def rebuild_dim_events(ch: Any, *, run_id: str | None = None) -> int:
    """Rebuild ``dim_events`` whole from the latest event and show versions; returns its row count."""
    return _rebuild(ch, DIM_EVENTS, "dim_events.sql", None, None, run_id)


def rebuild_inventory_latest(ch: Any, *, run_id: str | None = None) -> int:
    """Rebuild ``fact_qtickets_inventory_latest`` (latest snapshot per show); returns its row count."""
    return _rebuild(ch, INVENTORY_LATEST, "inventory_latest.sql", None, None, run_id)
