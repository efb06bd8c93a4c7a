"""A small DB-API 2 connection over the embedded engine, so common-sql operators work on chDB.

Parameters use the ``pyformat`` style (``%(name)s``, or ``%s`` with a sequence), escaped by
clickhouse-driver's escaper like everything else in the hook. There are no transactions:
``commit``/``rollback`` do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clickhouse_driver.util.escape import escape_param

from qtickets.exceptions import ClickHouseQueryError

from ._ch_sql import substitute_params
from ._chdb import EmbeddedEngine

apilevel = "2.0"
threadsafety = 1
paramstyle = "pyformat"


class Cursor:
    """Runs each statement at once and keeps its whole answer."""

    arraysize = 1

    def __init__(self, engine: EmbeddedEngine) -> None:
        self._engine = engine
        self._rows: list[tuple] = []
        self._pos = 0
        self.description: list[tuple] | None = None
        self.rowcount = -1

    def execute(self, operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> None:
        if parameters and not isinstance(parameters, Mapping):
            from ._ch_sql import _MSK_CONTEXT

            try:
                operation = operation % tuple(escape_param(v, _MSK_CONTEXT) for v in parameters)
            except (TypeError, ValueError) as exc:
                raise ClickHouseQueryError(f"cannot substitute positional params: {exc}") from None
        else:
            operation = substitute_params(operation, parameters)
        rows, columns = self._engine.query(operation)
        self._rows, self._pos = rows, 0
        self.description = [(n, t, None, None, None, None, None) for n, t in columns] or None
        self.rowcount = len(rows) if columns else -1

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        for params in seq_of_parameters:
            self.execute(operation, params)

    def fetchone(self) -> tuple | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        size = size or self.arraysize
        chunk = self._rows[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def fetchall(self) -> list[tuple]:
        chunk = self._rows[self._pos :]
        self._pos = len(self._rows)
        return chunk

    def close(self) -> None:
        self._rows = []

    def setinputsizes(self, sizes: Any) -> None:  # DB-API no-op
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:  # DB-API no-op
        pass

    def __iter__(self):
        return iter(self.fetchall())


class Connection:
    """DB-API connection; ``close`` hands the shared session reference back."""

    autocommit = True

    def __init__(self, engine: EmbeddedEngine, on_close: Callable[[], None]) -> None:
        self._engine = engine
        self._on_close: Callable[[], None] | None = on_close

    def cursor(self) -> Cursor:
        if self._on_close is None:
            raise ClickHouseQueryError("this embedded ClickHouse DB-API connection is closed")
        return Cursor(self._engine)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()
