"""Seat-map snapshots -> ``stg_qtickets_api_inventory_raw``, one row per show per snapshot.

Input records: ``{"show_id", "event_id", "snapshot_ts", "seats": <flat seat map>}`` where the seat map
is ``GET /shows/{id}/seats`` with ``select`` of the counters and ``flat: true``. Capacity is
Σ ``max_quantity``, left Σ ``free_quantity``, sold Σ ``payed_quantity`` (general-admission zones carry
their stock in the counters, so counting seats would be wrong -- the original's bug).
"""

from __future__ import annotations

from qtickets.rows.common import MapContext, count, dumps, ts, uint

INVENTORY_TABLE = "stg_qtickets_api_inventory_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    INVENTORY_TABLE: (
        "show_id", "event_id", "snapshot_ts", "seats_count", "admission_seats", "tickets_total",
        "tickets_left", "tickets_sold", "tickets_in_basket", "payload_json", "_ver", "_loaded_at",
    ),
}


def map_inventory(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """Sum the seat counters of each show snapshot; the per-zone sums go to ``payload_json``."""
    rows: list[tuple] = []
    for rec in records:
        show_id = uint(rec.get("show_id"), name="inventory show_id")
        snapshot = ts(rec.get("snapshot_ts")) or ctx.loaded_at
        seats = rec.get("seats") or {}
        if not isinstance(seats, dict):
            raise ValueError(f"seat map of show {show_id} is not an object (flat map expected): {type(seats).__name__}")
        total = left = sold = basket = admission = 0
        zones: dict[str, list[int]] = {}
        for seat_id, seat in seats.items():
            if not isinstance(seat, dict):
                continue
            mx, fr, pd = count(seat.get("max_quantity")), count(seat.get("free_quantity")), count(seat.get("payed_quantity"))
            total += mx
            left += fr
            sold += pd
            basket += count(seat.get("in_basket_quantity"))
            admission += 1 if seat.get("admission") else 0
            zone = zones.setdefault(str(seat.get("zone_id") or str(seat_id).split("-", 1)[0]), [0, 0, 0])
            zone[0] += mx
            zone[1] += fr
            zone[2] += pd
        payload = {z: {"total": v[0], "left": v[1], "sold": v[2]} for z, v in zones.items()}
        rows.append(
            (
                show_id, uint(rec.get("event_id") or 0), snapshot, len(seats), admission, total, left, sold,
                basket, dumps(payload), ctx.ver(None), ctx.loaded_at,
            )
        )
    return {INVENTORY_TABLE: rows}
