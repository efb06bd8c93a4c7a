"""Which sales months a load affects, in one place (facts are rebuilt by whole month, ADR 0003).

A load affects the months its records are paid in (:attr:`qtickets.datasets.Sales.dates`), the months
staging held for the same orders before it (a payment date that moved, or a refund, leaves the sale in
the old month until that month is rebuilt too), and — found at rebuild time — every month whose facts
already disagree with staging (a run that loaded but never rebuilt leaves those behind).

A disagreement found *after* a rebuild is only a fault when staging has not changed since that rebuild:
runs overlap (a backfill beside the schedule, the history DAG beside the main one), so another run's load
may land between this run's rebuild and its checks. The staging change mark (:func:`staging_mark`,
recorded with every published sales rebuild) tells the two apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from qtickets.warehouse.paths import CHECKS_DIR, QUERIES_DIR

if TYPE_CHECKING:
    from qtickets.datasets import Dataset, Page


class AffectedMonths:
    """Collects the sales months one load of ``ds`` affects (nothing for datasets without sales).

    Feed it every page (:meth:`add_page`) and hand :meth:`before_insert` to the row buffer.
    """

    def __init__(self, ds: Dataset, ch: Any) -> None:
        self.sales = ds.sales
        self.ch = ch
        self.dates: set[date] = set()
        self._key_at = ds.columns[ds.sales.table].index(ds.sales.key) if ds.sales else None

    def add_page(self, records: Page) -> None:
        if self.sales is not None:
            self.dates |= self.sales.dates(records)

    def before_insert(self, table: str, rows: list[tuple]) -> None:
        """Before new versions of some orders land: add the months staging holds for them."""
        if self.sales is not None and table == self.sales.table:
            self.dates.update(stored_sales_months(self.ch, (row[self._key_at] for row in rows)))

    def months(self) -> list[str]:
        """``YYYY-MM`` of every affected month, sorted (small in XCom even for a whole history)."""
        return sorted({d.strftime("%Y-%m") for d in self.dates})


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


def months_out_of_sync(ch: Any) -> set[date]:
    """First days of the payment months whose sales facts disagree with deduplicated staging (the
    ``facts_reconcile`` check's violations, at most 100): what a run that loaded data but never rebuilt
    the facts (it failed, was killed, or its build failed an audit) leaves behind."""
    rows = ch.run_sql_file(CHECKS_DIR / "facts_reconcile.sql")
    return {date(month // 100, month % 100, 1) for (month, *_rest) in rows if month}


def staging_mark(ch: Any) -> int:
    """The change mark of the sales facts' staging table (``queries/staging_mark.sql``): it moves when
    rows are inserted or mutated, not when parts merge. Take it *before* reading staging for a rebuild."""
    return _mark(ch, "staging_mark.sql")


def staging_changed_since_publish(ch: Any) -> bool:
    """Whether staging changed after the latest published sales rebuild read it (True when none
    recorded its mark): facts that disagree with it then wait for the next rebuild."""
    published = _mark(ch, "published_staging_mark.sql")
    return published == 0 or staging_mark(ch) != published


def _mark(ch: Any, query: str) -> int:
    """The one number ``queries/<query>`` returns (0 when none)."""
    rows = ch.run_sql_file(QUERIES_DIR / query)
    return int(rows[0][0] or 0) if rows else 0
