"""Queries and tables the ClickHouseHook tests run in both modes (embedded chDB and the native server):
one definition, so "both modes give the same Python types" is checked against the same expectation."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

MSK = ZoneInfo("Europe/Moscow")

TYPES_SQL = (
    "SELECT toUInt64(7), 'x', toDecimal64('12.50', 2), toDate('2026-01-02'), "
    "toDateTime('2026-01-02 03:04:05', 'Europe/Moscow'), CAST(NULL AS Nullable(String)), [1, 2], "
    "toDateTime('2026-01-02 03:04:05', 'UTC')"
)
#: What ``TYPES_SQL`` returns in either mode: the UTC DateTime comes back in Moscow time.
TYPES_ROW = (7, "x", Decimal("12.50"), date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5, tzinfo=MSK), None,
             [1, 2], datetime(2026, 1, 2, 6, 4, 5, tzinfo=MSK))
TABLE_DDL = """
CREATE TABLE {{ db }}.sales (
    id UInt64, created_at DateTime('Europe/Moscow'), amount Decimal(12, 2),
    city LowCardinality(String), note Nullable(String), day Date, _ver UInt64
) ENGINE = ReplacingMergeTree(_ver) PARTITION BY toYYYYMM(created_at) ORDER BY id
"""
SALES_COLUMNS = ("id", "created_at", "amount", "city", "note", "day", "_ver")
