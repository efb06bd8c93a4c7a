"""Partners ``tickets/find`` items -> ``stg_qtickets_api_partner_tickets_raw``.

Only tickets that partner added are returned, so this is not a sales feed. ``event_id``/``show_id``
are taken from the item when the caller added them (the API's path parameters), else 0.
"""

from __future__ import annotations

from qtickets.pii import scrub_record
from qtickets.rows.common import MapContext, dumps, flag, money, text, ts, uint

PARTNER_TICKETS_TABLE = "stg_qtickets_api_partner_tickets_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    PARTNER_TICKETS_TABLE: (
        "ticket_id", "event_id", "show_id", "seat_id", "offer_id", "external_id", "external_order_id",
        "paid", "paid_at", "reserved_to", "deleted", "price", "client_email_hash", "client_phone_hash",
        "barcode_hash", "payload_json", "_ver", "_loaded_at", "pii_key_version",
    ),
}


def map_partner_tickets(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """One row per partner ticket; ``_ver`` is the fetch time (items have no ``updated_at``)."""
    pii = ctx.pii
    ver = ctx.ver(None)
    key_version = pii.key_version
    rows: list[tuple] = []
    for r in records:
        rows.append(
            (
                uint(r.get("id"), name="partner ticket id"), uint(r.get("event_id") or 0),
                uint(r.get("show_id") or 0), text(r.get("seat_id")), text(r.get("offer_id")),
                text(r.get("external_id")), text(r.get("external_order_id")), flag(r.get("paid")),
                ts(r.get("paid_at")), ts(r.get("reserved_to")), flag(r.get("deleted")), money(r.get("price")),
                pii.hash_email(r.get("client_email")), pii.hash_phone(r.get("client_phone")),
                pii.hash_barcode(r.get("barcode")), dumps(scrub_record(r, pii)), ver, ctx.loaded_at, key_version,
            )
        )
    return {PARTNER_TICKETS_TABLE: rows}
