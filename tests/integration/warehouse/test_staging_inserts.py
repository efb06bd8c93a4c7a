"""Every mapper's rows insert into its staging table with the types the DDL declares."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from qtickets.rows import (
    barcodes,
    clients,
    discounts,
    events,
    inventory,
    orders,
    partner_tickets,
    price_shades,
    promo_codes,
)
from tests.integration.warehouse.conftest import ctx_at, insert_mapped

pytestmark = pytest.mark.integration


def test_all_datasets_insert_and_read_back(ch, captures_dir):
    ctx = ctx_at(datetime(2025, 11, 10, tzinfo=UTC))

    def capture(name):
        return json.loads((captures_dir / name).read_text())["data"]

    batches = [
        (orders, orders.map_orders(capture("orders_page1.json"), ctx)),
        (events, events.map_events(capture("events_page1.json"), ctx)),
        (clients, clients.map_clients(capture("clients_page1.json"), ctx)),
        (discounts, discounts.map_discounts(capture("discounts_page1.json"), ctx)),
        (promo_codes, promo_codes.map_promo_codes(capture("promo_codes_page1.json"), ctx)),
        (price_shades, price_shades.map_price_shades([{"id": 1, "color": "#d80000"}, {"id": 2, "color": "#d8007f"}], ctx)),
        (inventory, inventory.map_inventory([{"show_id": 152887, "event_id": 24089, "snapshot_ts": "2025-11-07T12:00:00+03:00",
                                              "seats": {"a-1;1": {"max_quantity": 5, "free_quantity": 2}}}], ctx)),
        (barcodes, barcodes.map_barcodes([{"show_id": 152887, "event_id": 24089, "barcode": "871495495233",
                                           "price": 500.5, "checked_at": "2025-11-07T19:00:00+03:00"}], ctx)),
        (partner_tickets, partner_tickets.map_partner_tickets([{"id": 1, "paid": 1, "price": 100, "deleted": 0}], ctx)),
    ]
    expected: dict[str, int] = {}
    for module, mapped in batches:
        insert_mapped(ch, module, mapped)
        expected.update({table: len(rows) for table, rows in mapped.items()})
    for table, n in expected.items():
        assert ch.fetch_all(f"SELECT count() FROM {{{{ db }}}}.{table} FINAL") == [(n,)], table
    discount = ch.fetch_all("SELECT event_ids, deleted_at IS NOT NULL FROM {{ db }}.stg_qtickets_api_discounts_raw "
                            "WHERE discount_id = 6840")
    assert discount == [([24089], 1)]
    price = ch.fetch_all("SELECT toString(price) FROM {{ db }}.stg_qtickets_api_barcodes_raw")
    assert price == [("500.5",)]
