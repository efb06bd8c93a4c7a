"""Inventory, clients, colour themes, discounts, promo codes, barcodes, partner tickets, helpers."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from qtickets.rows import discounts, inventory, partner_tickets, price_shades, promo_codes
from qtickets.rows.common import flag, money, utm
from tests.unit.rows.conftest import FETCHED, load


def one(out, module, table):
    (row,) = out[table]
    return dict(zip(module.COLUMNS[table], row, strict=True))


def test_inventory_sums_counters(ctx):
    seats = {
        "full_A-1;1": {"zone_id": "full_A", "max_quantity": 1, "free_quantity": 0, "payed_quantity": 1},
        "full_A-1;2": {"zone_id": "full_A", "max_quantity": 1, "free_quantity": 1, "payed_quantity": 0},
        "dance-1;1": {"zone_id": "dance", "admission": True, "max_quantity": 500, "free_quantity": "120",
                      "payed_quantity": 370, "in_basket_quantity": 10},
    }
    out = inventory.map_inventory(
        [{"show_id": 5, "event_id": 9, "snapshot_ts": "2025-11-07T15:00:00+03:00", "seats": seats}], ctx
    )
    row = one(out, inventory, inventory.INVENTORY_TABLE)
    assert (row["tickets_total"], row["tickets_left"], row["tickets_sold"]) == (502, 121, 371)
    assert (row["seats_count"], row["admission_seats"], row["tickets_in_basket"]) == (3, 1, 10)
    assert row["snapshot_ts"] == 1762516800 and row["_ver"] == ctx.ver(None)
    assert orjson.loads(row["payload_json"])["dance"] == {"total": 500, "left": 120, "sold": 370}


def test_inventory_rejects_hierarchical_seat_map(ctx):
    with pytest.raises(ValueError, match="flat map"):
        inventory.map_inventory([{"show_id": 5, "seats": [{"zone_id": "a"}]}], ctx)


def test_inventory_snapshot_defaults_to_fetch_time(ctx):
    row = one(inventory.map_inventory([{"show_id": 5, "seats": {}}], ctx), inventory, inventory.INVENTORY_TABLE)
    assert row["snapshot_ts"] == int(FETCHED.timestamp()) and row["tickets_total"] == 0


def test_price_shades(ctx):
    out = price_shades.map_price_shades([{"id": 1, "color": "#d80000"}], ctx)
    row = one(out, price_shades, price_shades.PRICE_SHADES_TABLE)
    assert (row["shade_id"], row["color"], row["name"]) == (1, "#d80000", "")


def test_discounts_capture(captures_dir, ctx):
    records = load(captures_dir, "discounts_page1.json")
    out = discounts.map_discounts(records, ctx)[discounts.DISCOUNTS_TABLE]
    assert len(out) == 65
    cols = discounts.COLUMNS[discounts.DISCOUNTS_TABLE]
    assert not any("value" in c for c in cols)  # the API has none; none is invented
    first = dict(zip(cols, out[0], strict=True))
    assert first["event_ids"] == [24089] and first["show_ids"] == [152887] and first["type"] == "P"
    assert first["deleted_at"] is not None and first["is_active"] == 0


def test_promo_codes_capture(captures_dir, ctx):
    records = load(captures_dir, "promo_codes_page1.json")
    out = promo_codes.map_promo_codes(records, ctx)[promo_codes.PROMO_CODES_TABLE]
    assert len(out) == 490
    first = dict(zip(promo_codes.COLUMNS[promo_codes.PROMO_CODES_TABLE], out[0], strict=True))
    assert (first["promo_code_id"], first["discount_id"], first["code"]) == (187162, 7650, records[0]["code"])
    assert first["max_uses_count"] == 0 and first["active_from"] is None


def test_partner_tickets(ctx):
    out = partner_tickets.map_partner_tickets(
        [{"id": 3, "event_id": 4, "paid": 1, "paid_at": "2025-11-07T10:00:00+03:00", "price": 1500.5, "deleted": 0,
          "external_order_id": "ext-1", "offer_id": "o1"}], ctx
    )
    row = one(out, partner_tickets, partner_tickets.PARTNER_TICKETS_TABLE)
    assert (row["ticket_id"], row["event_id"], row["paid"], row["price"]) == (3, 4, 1, "1500.5")
    assert row["external_order_id"] == "ext-1" and row["barcode_hash"] == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "0"), ("", "0"), (390, "390"), (390.5, "390.5"), ("1826.00", "1826.00"), (1e-05, "0.00001"),
     (Decimal("12.30"), "12.30")],
)
def test_money(value, expected):
    assert money(value) == expected


@pytest.mark.parametrize("bad", ["abc", True, float("nan"), "inf"])
def test_money_rejects_non_numbers(bad):
    with pytest.raises(ValueError):
        money(bad)


def test_flags_and_utm_and_objects():
    assert [flag(v) for v in (True, 1, "1", "true", False, 0, "0", None, "")] == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="boolean flag"):
        flag("maybe")
    assert utm([]) == ("",) * 5 and utm(None) == ("",) * 5
    assert utm({"utm_source": "vk", "utm_term": 5}) == ("vk", "", "", "", "5")
