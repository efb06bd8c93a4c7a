"""Fixtures of the warehouse integration tests: a migrated embedded ClickHouse database per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from qtickets.pii import PiiPolicy
from qtickets.rows import events, inventory, orders
from qtickets.rows.common import MapContext
from qtickets.warehouse import apply_migrations


@pytest.fixture
def ch(embedded_clickhouse: str) -> Iterator[object]:
    from qtickets.hooks.clickhouse import ClickHouseHook

    hook = ClickHouseHook(clickhouse_conn_id=embedded_clickhouse)
    apply_migrations(hook)
    try:
        yield hook
    finally:
        hook.close()


def ctx_at(fetched_at: datetime) -> MapContext:
    return MapContext(fetched_at=fetched_at, pii=PiiPolicy("hash", b"k"))


def insert_mapped(ch, module, mapped: dict[str, list[tuple]]) -> None:
    for table, rows in mapped.items():
        if rows:
            ch.insert(table, module.COLUMNS[table], rows)


def load_orders(ch, records: list[dict], fetched_at: datetime = datetime(2025, 11, 10, tzinfo=UTC)) -> None:
    insert_mapped(ch, orders, orders.map_orders(records, ctx_at(fetched_at)))


def load_events(ch, records: list[dict], fetched_at: datetime = datetime(2025, 11, 10, tzinfo=UTC)) -> None:
    insert_mapped(ch, events, events.map_events(records, ctx_at(fetched_at)))


def load_inventory(ch, records: list[dict], fetched_at: datetime = datetime(2025, 11, 10, tzinfo=UTC)) -> None:
    insert_mapped(ch, inventory, inventory.map_inventory(records, ctx_at(fetched_at)))
