"""Turn ClickHouse values into the same Python types in both modes.

chDB answers in ``JSONCompact`` (column types in ``meta``, decimals and 64-bit ints quoted); the
server's driver answers with Python objects whose datetimes carry pytz zones or none at all. Both are
normalised here: ints, str, ``Decimal``, ``date``, ``datetime`` aware in Europe/Moscow, ``UUID``,
lists for arrays and tuples for tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from qtickets.timeutil import MSK, MSK_NAME

Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _split_args(inner: str) -> list[str]:
    """Split ``A, B(C, D), 'x,y'`` on top-level commas."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(inner):
        if ch == "'" and (i == 0 or inner[i - 1] != "\\"):
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif not quote and depth == 0 and ch == ",":
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    return [p for p in parts if p]


def _unwrap(type_name: str) -> tuple[str, str]:
    """``Array(UInt8)`` -> (``Array``, ``UInt8``); ``String`` -> (``String``, ``""``)."""
    if "(" in type_name and type_name.endswith(")"):
        head, inner = type_name.split("(", 1)
        return head.strip(), inner[:-1]
    return type_name.strip(), ""


def _tz_arg(args: list[str], default: ZoneInfo) -> ZoneInfo:
    for arg in args:
        if arg.startswith("'"):
            return ZoneInfo(arg.strip("'").replace("\\/", "/"))
    return default


def _nullable(conv: Converter) -> Converter:
    return lambda v: None if v is None else conv(v)


@lru_cache(maxsize=512)
def json_converter(type_name: str, session_tz: str = MSK_NAME) -> Converter:
    """Converter for one value of ``type_name`` as written by chDB's JSONCompact output."""
    head, inner = _unwrap(type_name)
    args = _split_args(inner) if inner else []
    if head in ("Nullable", "LowCardinality", "SimpleAggregateFunction"):
        return _nullable(json_converter(args[-1], session_tz))
    if head.startswith(("Int", "UInt")):
        return _nullable(int)
    if head.startswith("Float"):
        return _nullable(float)
    if head.startswith("Decimal"):
        return _nullable(lambda v: Decimal(str(v)))
    if head in ("Date", "Date32"):
        return _nullable(date.fromisoformat)
    if head in ("DateTime", "DateTime64"):
        tz = _tz_arg(args, ZoneInfo(session_tz))
        return _nullable(lambda v: datetime.fromisoformat(v).replace(tzinfo=tz).astimezone(MSK))
    if head == "UUID":
        return _nullable(UUID)
    if head == "Bool":
        return _nullable(bool)
    if head == "Array":
        item = json_converter(inner, session_tz)
        return _nullable(lambda v: [item(x) for x in v])
    if head == "Tuple":
        items = [json_converter(a.split(" ", 1)[-1] if " " in a and "(" not in a.split(" ", 1)[0] else a,
                                session_tz) for a in args]
        return _nullable(lambda v: tuple(c(x) for c, x in zip(items, v, strict=False)))
    if head == "Map":
        key, val = json_converter(args[0], session_tz), json_converter(args[1], session_tz)
        return _nullable(lambda v: {key(k): val(x) for k, x in v.items()})
    return _identity


def convert_json_rows(meta: Sequence[dict], data: Sequence[Sequence[Any]], session_tz: str) -> list[tuple]:
    """Rows of a chDB JSONCompact answer as tuples of typed Python values."""
    convs = [json_converter(col["type"], session_tz) for col in meta]
    return [tuple(c(v) for c, v in zip(convs, row, strict=True)) for row in data]


def _to_msk(value: Any, server_tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=server_tz)
        return value.astimezone(MSK)
    if isinstance(value, list):
        return [_to_msk(v, server_tz) for v in value]
    if isinstance(value, tuple):
        return tuple(_to_msk(v, server_tz) for v in value)
    return value


def normalize_driver_rows(rows: list[tuple], column_types: Sequence[str], server_tz: str) -> list[tuple]:
    """Driver rows with every DateTime made aware in Europe/Moscow (naive ones are in the server zone)."""
    dt_cols = [i for i, t in enumerate(column_types) if "DateTime" in t]
    if not dt_cols or not rows:
        return [tuple(r) for r in rows]
    tz = ZoneInfo(server_tz)
    out = []
    for row in rows:
        values = list(row)
        for i in dt_cols:
            values[i] = _to_msk(values[i], tz)
        out.append(tuple(values))
    return out
