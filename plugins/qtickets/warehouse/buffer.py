"""The row buffer of a load: mapped rows collected per table and inserted in large batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Rows per insert: few, large parts, and memory that stays flat over a whole history.
INSERT_BATCH_ROWS = 20_000


@dataclass
class RowBuffer:
    """Collects mapped rows per table and inserts them in batches of ``batch_rows``.

    :param ch: the ClickHouse hook (``insert(table, columns, rows)``).
    :param columns: table -> column order of the row tuples.
    :param before_insert: called with ``(table, rows)`` just before they are inserted.
    """

    ch: Any
    columns: dict[str, tuple[str, ...]]
    batch_rows: int = INSERT_BATCH_ROWS
    before_insert: Callable[[str, list[tuple]], None] | None = None
    pending: dict[str, list[tuple]] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)

    def add(self, rows_by_table: dict[str, list[tuple]]) -> None:
        for table, rows in rows_by_table.items():
            bucket = self.pending.setdefault(table, [])
            bucket.extend(rows)
            if len(bucket) >= self.batch_rows:
                self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self.pending.pop(table, [])
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
