"""Promo codes -> ``stg_qtickets_api_promo_codes_raw``.

``code`` is kept in clear: it is the organiser's own marketing data and reports group by it. It can
still be redeemed, so the table belongs to the ETL/analyst roles, not to public dashboards
(``include/sql/grants/roles.sql`` does not grant it to ``qtickets_bi_reader``).
"""

from __future__ import annotations

from qtickets.rows.common import MapContext, dumps, flag, opt_uint, text, ts, uint

PROMO_CODES_TABLE = "stg_qtickets_api_promo_codes_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    PROMO_CODES_TABLE: (
        "promo_code_id", "discount_id", "code", "type", "is_active", "max_uses_count", "active_from",
        "active_to", "created_at", "updated_at", "deleted_at", "payload_json", "_ver", "_loaded_at",
    ),
}


def map_promo_codes(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """One row per promo code (``max_uses_count`` 0 means unlimited)."""
    rows: list[tuple] = []
    for r in records:
        created = ts(r.get("created_at"))
        rows.append(
            (
                uint(r.get("id"), name="promo code id"), opt_uint(r.get("discount_id")), text(r.get("code")),
                int(r.get("type") or 0), flag(r.get("is_active")), int(r.get("max_uses_count") or 0),
                ts(r.get("active_from")), ts(r.get("active_to")), created, ts(r.get("updated_at")) or created,
                ts(r.get("deleted_at")), dumps(r), ctx.ver(r.get("updated_at")), ctx.loaded_at,
            )
        )
    return {PROMO_CODES_TABLE: rows}
