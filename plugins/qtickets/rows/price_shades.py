"""``GET /color-themes`` ``{id, color}`` -> ``stg_qtickets_api_price_shades_raw`` (the API has no name)."""

from __future__ import annotations

from qtickets.rows.common import MapContext, dumps, text, uint

PRICE_SHADES_TABLE = "stg_qtickets_api_price_shades_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    PRICE_SHADES_TABLE: ("shade_id", "color", "name", "payload_json", "_ver", "_loaded_at"),
}


def map_price_shades(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """One row per colour theme; ``name`` stays '' (kept for the dashboards' column list)."""
    ver = ctx.ver(None)
    rows = [
        (uint(r.get("id"), name="color theme id"), text(r.get("color")), text(r.get("name")), dumps(r), ver,
         ctx.loaded_at)
        for r in records
    ]
    return {PRICE_SHADES_TABLE: rows}
