"""Issue 12 / ADR 0011: the lean load path stages the same content as before for every kept column.

The captured orders page goes through the load's own path (``map_orders`` -> ``RowBuffer`` with small
batches -> ``ClickHouseHook.insert``) into migrated staging tables, and what staging then holds is
compared with values computed here straight from the vendor records (no mapper code), column by column.
(That every kept column stages byte-identical to the code before issue 12 was checked once, by digests of
the staged text made with both; a digest copied into a test would only pin one run's output.)

Ticket ``payload_json`` is the one column whose contract changed: it is checked against its new
definition (the scrubbed basket minus the keys the typed columns hold), ``payload_version`` is new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

from qtickets.pii import PiiPolicy, scrub_basket
from qtickets.rows.common import MapContext
from qtickets.rows.orders import (
    COLUMNS,
    HASHED_BASKET_KEYS,
    TICKETS_TABLE,
    TYPED_BASKET_KEYS,
    map_orders,
)
from qtickets.warehouse.buffer import RowBuffer

FETCHED = datetime(2025, 11, 10, tzinfo=UTC)
KEY = b"staging-identity-key"
def _load(ch, records: list[dict]) -> None:
    ctx = MapContext(fetched_at=FETCHED, pii=PiiPolicy("hash", KEY))
    buffer = RowBuffer(ch, dict(COLUMNS), batch_rows=16)  # several inserts per table
    for start in range(0, len(records), 7):  # pages of 7 orders
        buffer.add(map_orders(records[start:start + 7], ctx))
    buffer.flush()


def _epoch(value: str | None) -> int | None:
    return None if value is None else int(datetime.fromisoformat(value).timestamp())


def _money(value) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0)).quantize(Decimal("0.01"))


def _hash(value: str | None) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:32] if value else ""


def _expected_tickets(records: list[dict]) -> dict[int, dict]:
    """Ticket columns computed from the vendor records alone (README revenue rule, ADR 0011 payload)."""
    fetched = int(FETCHED.timestamp())
    out = {}
    for o in records:
        updated = _epoch(o["updated_at"]) or _epoch(o["created_at"])
        utm = o["utm"] if isinstance(o["utm"], dict) else {}
        order_alive = bool(o["payed"]) and o["deleted_at"] is None
        for b in o["baskets"]:
            phone = re.sub(r"\D+", "", b.get("client_phone") or "")
            out[b["id"]] = {
                "order_id": o["id"], "event_id": b.get("event_id", o["event_id"]), "show_id": b.get("show_id") or 0,
                "seat_id": b.get("seat_id") or "", "seat_name": b.get("seat_name") or "",
                "order_payed": int(bool(o["payed"])), "payed_at": _epoch(o["payed_at"]),
                "order_created_at": _epoch(o["created_at"]), "order_updated_at": updated,
                "order_deleted_at": _epoch(o["deleted_at"]), "deleted_at": _epoch(b.get("deleted_at")),
                "refunded_at": _epoch(b.get("refunded_at")), "checked_at": _epoch(b.get("checked_at")),
                **{m: _money(b.get(m)) for m in ("price", "original_price", "discount_value", "ticket_amount",
                                                  "service_fee_amount", "refunded_amount")},
                "quantity": b.get("quantity") or 1, "currency": (o.get("currency_id") or "RUB").upper(),
                **{k: utm.get(k) or "" for k in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")},
                "is_sold": int(order_alive and b.get("deleted_at") is None and b.get("refunded_at") is None),
                "client_email_hash": _hash((b.get("client_email") or "").strip().lower()),
                "client_phone_hash": _hash(phone),
                "barcode_hash": _hash(str(b["barcode"]).strip() if b.get("barcode") is not None else None),
                "_ver": (updated << 32) | fetched, "_loaded_at": fetched, "pii_key_version": 1, "payload_version": 2,
            }
    return out


def test_staged_tickets_match_values_computed_from_the_vendor_records(ch, captures_dir):
    records = json.loads((captures_dir / "orders_page1.json").read_text())["data"]
    _load(ch, records)
    expected = _expected_tickets(records)
    columns = [c for c in COLUMNS[TICKETS_TABLE] if c not in ("ticket_id", "payload_json")]
    select = ", ".join(f"toUnixTimestamp({c})" if c.endswith("_at") and c != "_loaded_at" else c for c in columns)
    rows = ch.fetch_all(f"SELECT ticket_id, {select}, toUnixTimestamp(_loaded_at) "
                        "FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL ORDER BY ticket_id")
    assert len(rows) == len(expected) == 139
    for ticket_id, *values, loaded in rows:
        got = dict(zip(columns, values, strict=True))
        got["_loaded_at"] = loaded
        assert got == expected[ticket_id], ticket_id


def test_staged_ticket_payload_is_the_basket_remainder(ch, captures_dir):
    records = json.loads((captures_dir / "orders_page1.json").read_text())["data"]
    _load(ch, records)
    stored = dict(ch.fetch_all("SELECT ticket_id, payload_json FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL"))
    policy = PiiPolicy("hash", KEY)
    for o in records:
        for b in o["baskets"]:
            remainder = json.loads(stored[b["id"]])
            full = scrub_basket(b, policy)
            assert remainder == {k: v for k, v in full.items() if k not in TYPED_BASKET_KEYS | HASHED_BASKET_KEYS}
            assert set(full) - set(remainder) <= TYPED_BASKET_KEYS | HASHED_BASKET_KEYS
            assert remainder["series"] == b["series"] and remainder["created_at"] == b["created_at"]
