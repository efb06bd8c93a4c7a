"""Discounts -> ``stg_qtickets_api_discounts_raw``. The API returns no discount value; none is invented."""

from __future__ import annotations

from qtickets.rows.common import MapContext, dumps, flag, ids_of, text, ts, uint

DISCOUNTS_TABLE = "stg_qtickets_api_discounts_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    DISCOUNTS_TABLE: (
        "discount_id", "name", "type", "is_active", "active_from", "active_to", "event_ids", "show_ids",
        "created_at", "updated_at", "deleted_at", "payload_json", "_ver", "_loaded_at",
    ),
}


def map_discounts(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """One row per discount, with the ids of the events/shows it applies to."""
    rows: list[tuple] = []
    for r in records:
        created = ts(r.get("created_at"))
        rows.append(
            (
                uint(r.get("id"), name="discount id"), text(r.get("name")), text(r.get("type")),
                flag(r.get("is_active")), ts(r.get("active_from")), ts(r.get("active_to")),
                ids_of(r.get("events")), ids_of(r.get("shows")), created, ts(r.get("updated_at")) or created,
                ts(r.get("deleted_at")), dumps(r), ctx.ver(r.get("updated_at")), ctx.loaded_at,
            )
        )
    return {DISCOUNTS_TABLE: rows}
