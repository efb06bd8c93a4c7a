"""The vendor's ``where`` / ``orderBy`` vocabulary evaluated over a lazily built collection.

A :class:`Collection` exposes fast "index" getters for the columns it keeps compactly (timestamps as
epoch seconds) and a ``build(i)`` fallback for any other top-level column. Timestamps are compared as
instants: ``2025-11-07T12:00:00+03:00`` equals ``2025-11-07T09:00:00Z``; naive values are Moscow time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_MSK = ZoneInfo("Europe/Moscow")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
OPERATORS = frozenset({"=", "!=", "<>", "<", ">", "<=", ">=", "in", "not in", "in array", "not in array",
                       "null", "not null"})


class FilterError(ValueError):
    """The filter is malformed (bad operator, bad shape): the client must fix its request."""


class UnknownColumnError(FilterError):
    """The filter names a column the resource does not have (the vendor answers this with a 503)."""


@dataclass
class Collection:
    """A filterable, sortable list of ``size`` records addressed by position."""

    name: str
    size: Callable[[], int]
    build: Callable[[int], dict[str, Any]]
    columns: frozenset[str]
    index: dict[str, Callable[[int], Any]] = field(default_factory=dict)


def norm(value: Any) -> Any:
    """Comparable form: bools as ints, ISO timestamps/dates as epoch seconds, other values unchanged."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and _TS_RE.match(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_MSK)
        return parsed.timestamp()
    return value


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if type(a) is not type(b) and (isinstance(a, str) or isinstance(b, str)):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return str(a) == str(b)
    return a == b


def _order(a: Any, b: Any) -> int:
    if type(a) is not type(b) and (isinstance(a, str) or isinstance(b, str)):
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            a, b = str(a), str(b)
    return (a > b) - (a < b)


def _test(op: str, a: Any, b: Any) -> bool:
    if op == "null":
        return a is None
    if op == "not null":
        return a is not None
    if a is None:
        return False
    if op == "=":
        return _eq(a, b)
    if op in ("!=", "<>"):
        return not _eq(a, b)
    if op in ("in", "in array"):
        return any(_eq(a, x) for x in b)
    if op in ("not in", "not in array"):
        return not any(_eq(a, x) for x in b)
    c = _order(a, b)
    return {"<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]


def parse_where(where: Any, coll: Collection) -> list[tuple[str, str, Any]]:
    """Validate ``where`` and return ``(column, operator, normalized value)`` triples."""
    if where is None:
        return []
    if not isinstance(where, list):
        raise FilterError(f"'where' must be a list of {{column, operator, value}} objects, got {type(where).__name__}")
    out = []
    for cond in where:
        if not isinstance(cond, dict) or not isinstance(cond.get("column"), str):
            raise FilterError(f"each 'where' item must be an object with a 'column' string, got {cond!r}")
        op = str(cond.get("operator", "=")).lower()
        if op not in OPERATORS:
            raise FilterError(f"unknown operator {cond.get('operator')!r}; use one of {sorted(OPERATORS)}")
        column = cond["column"]
        if column not in coll.columns:
            raise UnknownColumnError(f"{coll.name} has no column {column!r}")
        value = cond.get("value")
        if op in ("in", "not in", "in array", "not in array"):
            if not isinstance(value, list):
                raise FilterError(f"operator {op!r} needs a list value, got {value!r}")
            value = [norm(v) for v in value]
        elif op not in ("null", "not null"):
            if "value" not in cond:
                raise FilterError(f"operator {op!r} on {column!r} needs a 'value'")
            value = norm(value)
        out.append((column, op, value))
    return out


def parse_order_by(order_by: Any, coll: Collection) -> list[tuple[str, bool]]:
    """Validate ``orderBy`` (``{"field": "asc"|"desc"}``) into ``(column, descending)`` pairs."""
    if order_by is None or order_by == []:
        return []
    if not isinstance(order_by, dict):
        raise FilterError(f"'orderBy' must be an object like {{\"id\": \"asc\"}}, got {order_by!r}")
    out = []
    for column, direction in order_by.items():
        if column not in coll.columns:
            raise UnknownColumnError(f"{coll.name} has no column {column!r} to sort by")
        if str(direction).lower() not in ("asc", "desc"):
            raise FilterError(f"orderBy direction for {column!r} must be 'asc' or 'desc', got {direction!r}")
        out.append((column, str(direction).lower() == "desc"))
    return out


def run_query(coll: Collection, where: Any, order_by: Any) -> list[int]:
    """Positions of the matching records, sorted as asked (default: position order = id asc)."""
    conds = parse_where(where, coll)
    sorts = parse_order_by(order_by, coll)

    def getter(column: str) -> Callable[[int], Any]:
        if column in coll.index:
            return coll.index[column]
        values: dict[int, Any] = {}  # one column's values only: full records are never retained

        def from_record(i: int) -> Any:
            if i not in values:
                values[i] = norm(coll.build(i).get(column))
            return values[i]

        return from_record

    positions: list[int] = list(range(coll.size()))
    for column, op, value in conds:
        get = getter(column)
        positions = [i for i in positions if _test(op, get(i), value)]
    for column, desc in reversed(sorts):
        get = getter(column)
        positions.sort(key=lambda i, g=get: (g(i) is not None, g(i)), reverse=desc)
    return positions
