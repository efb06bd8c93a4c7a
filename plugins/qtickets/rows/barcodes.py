"""Barcodes per show -> ``stg_qtickets_api_barcodes_raw``.

A barcode is an entry credential: only its keyed hash is stored unless the policy is ``clear``.
Input records: the bare array of ``GET /shows/{id}/barcodes`` with ``show_id``/``event_id`` added.
"""

from __future__ import annotations

from qtickets.pii import scrub_record
from qtickets.rows.common import MapContext, dumps, flag, money, text, ts, uint

BARCODES_TABLE = "stg_qtickets_api_barcodes_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    BARCODES_TABLE: (
        "barcode_hash", "barcode", "show_id", "event_id", "seat_name", "zone_name", "row", "place",
        "admission", "price", "checked_at", "payload_json", "_ver", "_loaded_at", "pii_key_version",
    ),
}


def map_barcodes(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """Snapshot dataset: ``_ver`` is the fetch time."""
    pii = ctx.pii
    ver = ctx.ver(None)
    key_version = pii.key_version
    rows: list[tuple] = []
    for r in records:
        barcode = r.get("barcode")
        if barcode is None or barcode == "":
            raise ValueError(f"barcode record of show {r.get('show_id')!r} has no barcode")
        rows.append(
            (
                pii.hash_barcode(barcode), pii.clear(barcode), uint(r.get("show_id"), name="barcode show_id"),
                uint(r.get("event_id") or 0), text(r.get("seat_name")), text(r.get("zone_name")),
                text(r.get("row")), text(r.get("place")), flag(r.get("admission")), money(r.get("price")),
                ts(r.get("checked_at")), dumps(scrub_record(r, pii)), ver, ctx.loaded_at, key_version,
            )
        )
    return {BARCODES_TABLE: rows}
