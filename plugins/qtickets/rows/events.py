"""Events -> ``stg_qtickets_api_events_raw`` and their shows -> ``stg_qtickets_api_shows_raw``.

``city`` is the city *name* from the ``city`` object (the original stored its Python repr); dates
live on shows (events have none). Payloads drop ``description`` and ``scheme_properties``, which make
up most of the 100-400 KB per event and serve no report.
"""

from __future__ import annotations

from qtickets.rows.common import MapContext, dumps, flag, money, text, ts, uint

EVENTS_TABLE = "stg_qtickets_api_events_raw"
SHOWS_TABLE = "stg_qtickets_api_shows_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    EVENTS_TABLE: (
        "event_id", "name", "city_id", "city", "city_timezone", "is_active", "place_name", "place_address",
        "event_type_id", "created_at", "updated_at", "deleted_at", "shows_count", "payload_json", "_ver",
        "_loaded_at",
    ),
    SHOWS_TABLE: (
        "show_id", "event_id", "name", "is_active", "start_date", "finish_date", "open_date",
        "sale_start_date", "sale_finish_date", "min_price", "max_price", "prices_count", "created_at",
        "updated_at", "deleted_at", "payload_json", "_ver", "_loaded_at",
    ),
}

_EVENT_DROP = frozenset({"description", "shows"})
_SHOW_DROP = frozenset({"scheme_properties"})


def _price(value: object) -> str | None:
    if isinstance(value, dict):
        return money(value.get("default_price"))
    return None


def map_events(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """Map one page of ``GET /events`` to event rows and show rows."""
    loaded_at = ctx.loaded_at
    events: list[tuple] = []
    shows: list[tuple] = []
    for ev in records:
        event_id = uint(ev.get("id"), name="event id")
        city = ev.get("city") if isinstance(ev.get("city"), dict) else {}
        ev_shows = [s for s in (ev.get("shows") or []) if isinstance(s, dict)]
        created = ts(ev.get("created_at"))
        events.append(
            (
                event_id, text(ev.get("name")), uint(ev.get("city_id") or city.get("id") or 0),
                text(city.get("name")), text(city.get("timezone")), flag(ev.get("is_active")),
                text(ev.get("place_name")), text(ev.get("place_address")), uint(ev.get("event_type_id") or 0),
                created, ts(ev.get("updated_at")) or created, ts(ev.get("deleted_at")), len(ev_shows),
                dumps({k: v for k, v in ev.items() if k not in _EVENT_DROP}), ctx.ver(ev.get("updated_at")),
                loaded_at,
            )
        )
        for show in ev_shows:
            s_created = ts(show.get("created_at"))
            prices = show.get("prices") if isinstance(show.get("prices"), list) else []
            shows.append(
                (
                    uint(show.get("id"), name=f"show id of event {event_id}"), event_id, text(show.get("name")),
                    flag(show.get("is_active")), ts(show.get("start_date")), ts(show.get("finish_date")),
                    ts(show.get("open_date")), ts(show.get("sale_start_date")), ts(show.get("sale_finish_date")),
                    _price(show.get("min_price")), _price(show.get("max_price")), len(prices), s_created,
                    ts(show.get("updated_at")) or s_created, ts(show.get("deleted_at")),
                    dumps({k: v for k, v in show.items() if k not in _SHOW_DROP}),
                    ctx.ver(show.get("updated_at")), loaded_at,
                )
            )
    return {EVENTS_TABLE: events, SHOWS_TABLE: shows}
