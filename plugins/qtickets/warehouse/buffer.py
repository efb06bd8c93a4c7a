"""The row buffer of a load: mapped rows collected per table and inserted in batches bounded by rows and bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Rows per insert: parts of thousands of rows (ClickHouse's advice), and a task's memory that is the same
#: for a day and for a whole history (ADR 0011: at 20 000 rows / 8 MB the peak of a 126 000-order load was
#: 20 % above a 20 000-order one, at 10 000 / 4 MB within 10 %).
INSERT_BATCH_ROWS = 10_000
#: Approximate bytes of values per insert (text lengths + 8 per other value): a table with large rows
#: (payloads) is flushed before ``INSERT_BATCH_ROWS`` rows pile up.
INSERT_BATCH_BYTES = 4 * 2**20


def approx_bytes(rows: list[tuple]) -> int:
    """Estimated value bytes of ``rows``: the middle row's text lengths (+ 8 per other value) times the
    row count. Rows of one page are alike, and one row per page keeps the estimate cheap."""
    if not rows:
        return 0
    sample = rows[len(rows) // 2]
    return len(rows) * sum(len(v) if type(v) is str else 8 for v in sample)


@dataclass
class RowBuffer:
    """Collects mapped rows per table and inserts a table's rows once ``batch_rows`` rows or about
    ``batch_bytes`` bytes are pending; each insert hands its rows over and keeps no reference to them.

    :param ch: the ClickHouse hook (``insert(table, columns, rows)``).
    :param columns: table -> column order of the row tuples.
    :param before_insert: called with ``(table, rows)`` just before they are inserted.
    """

    ch: Any
    columns: dict[str, tuple[str, ...]]
    batch_rows: int = INSERT_BATCH_ROWS
    batch_bytes: int = INSERT_BATCH_BYTES
    before_insert: Callable[[str, list[tuple]], None] | None = None
    pending: dict[str, list[tuple]] = field(default_factory=dict)
    pending_bytes: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)

    def add(self, rows_by_table: dict[str, list[tuple]]) -> None:
        for table, rows in rows_by_table.items():
            if not rows:
                continue
            bucket = self.pending.setdefault(table, [])
            bucket.extend(rows)
            size = self.pending_bytes[table] = self.pending_bytes.get(table, 0) + approx_bytes(rows)
            if len(bucket) >= self.batch_rows or size >= self.batch_bytes:
                self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self.pending.pop(table, [])
        self.pending_bytes.pop(table, None)
        if rows:
            if self.before_insert is not None:
                self.before_insert(table, rows)
            self.ch.insert(table, self.columns[table], rows)
            self.written[table] = self.written.get(table, 0) + len(rows)

    def flush(self) -> dict[str, int]:
        """Insert everything pending; return the rows written per table so far."""
        for table in list(self.pending):
            self._flush(table)
        return dict(self.written)
