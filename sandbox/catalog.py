"""The sandbox's catalogue as the vendor serves it: colour themes, events with their shows, discounts and
promo codes. Built from the generated events and shows only (no order data), so :mod:`sandbox.data`
builds them while generating a dataset without importing :mod:`sandbox.builders` (which reads a whole
:class:`sandbox.data.SandboxData`).
"""

from __future__ import annotations

import random
from typing import Any

from sandbox.fakes import CITY_COORDS, COLOR_THEMES, SITES, hexdigest, iso, mix
from sandbox.model import Event, Show

DAY = 86400


def color_themes() -> list[dict[str, Any]]:
    return [{"id": k + 1, "color": c} for k, c in enumerate(COLOR_THEMES)]


def _price_json(p: tuple[int, int, str]) -> dict[str, Any]:
    return {"id": p[0], "default_price": p[1], "color_theme": p[2], "modifiers": []}


def _scheme_properties(show: Show) -> dict[str, Any]:
    return {
        "admin": {"zones": {z.zone_id: {"opened": "0", "was_opened": "1", "rows": {"1": {"was_opened": "1"}}}
                            for z in show.zones}},
        "zones": {z.zone_id: {"disabled": "0", "spread": {"enabled": ""}, "price_id": str(show.prices[z.price_pos][0]),
                              "rows": [""]} for z in show.zones},
        "seats": {f"{z.zone_id}-1;1": {"max_quantity": "", "hot": "", "show_free_quantity": ""}
                  for z in show.zones if z.admission},
    }


def show_json(show: Show, *, full: bool = True) -> dict[str, Any]:
    """A show as inside ``/events`` (``full``) or as inside ``/discounts`` (dates only)."""
    out: dict[str, Any] = {"id": show.id}
    if full:
        out.update(name="", is_active=1)
    else:
        out.update(is_active=1, event_id=0)
    out.update(sale_start_date=iso(show.sale_start), sale_finish_date=iso(show.finish), open_date=iso(show.start - 1800),
               start_date=iso(show.start), finish_date=iso(show.finish))
    if full:
        prices = sorted(show.prices, key=lambda p: p[1])
        out.update(scheme_properties=_scheme_properties(show), prices=[_price_json(p) for p in show.prices],
                   min_price=_price_json(prices[0]), max_price=_price_json(prices[-1]))
    out.update(created_at=iso(show.created), updated_at=iso(show.updated), deleted_at=None)
    return out


def event_json(ev: Event, shows: list[Show], seed: int) -> dict[str, Any]:
    """An event exactly as ``/events`` serves it (``shows``: every show of the dataset, by index)."""
    city_id, city_name, tz = ev.city
    site_host = SITES[ev.site][1]
    slug = f"event-{ev.id}"
    lat, lon = CITY_COORDS[city_id]
    return {
        "id": ev.id, "is_active": ev.is_active, "name": ev.name, "scheme_id": 11000 + ev.idx,
        "currency_id": "RUB", "place_name": f"ТЦ \"Площадка {ev.idx % 9 + 1}\"",
        "place_address": f"ул. Учебная, {ev.idx % 60 + 1}", "place_description": "", "city_id": city_id,
        "description": f"{ev.name}.\r\nСинтетическое описание события для песочницы.",
        "site_url": f"http://{site_host}/", "external_id": None, "ticket_id": 35, "mail_template_id": 31,
        "age": ("0+", "6+", "12+", "16+")[ev.idx % 4],
        "payments": [{"id": 41057, "is_active": True, "name": "ИП Организатор 1", "handler": "payanyway",
                      "agree_url": "https://example.com/offer"}],
        "poster": {"id": 80000 + ev.idx, "content_type": "image/jpeg", "file_size": 90000 + ev.idx,
                   "url": f"https://qtickets.ru/storage/app/uploads/public/{hexdigest(seed, 'poster', ev.id)}.jpg"},
        "event_type_id": 11, "city": {"id": city_id, "name": city_name, "timezone": tz},
        "ticket": {"id": 35, "is_active": 1, "name": "Системный шаблон"},
        "mail_template": {"id": 31, "is_active": 1, "name": "Системный шаблон"},
        "slug": slug, "place_coordinates": [lat, lon], "url": f"https://city{city_id}.qtickets.events/{ev.id}-{slug}",
        "shows": [show_json(shows[s]) for s in ev.shows],
        "created_at": iso(ev.created), "updated_at": iso(ev.updated), "deleted_at": iso(ev.deleted_at),
    }


def make_discounts(
    events: list[Event], shows: list[Show], seed: int, now: int
) -> tuple[list[dict], list[dict], list[int], list[int]]:
    """Discounts (some soft-deleted, type "P") and their promo codes; also each discount's percent and
    each promo code's discount position (kept outside the JSON)."""
    rng = random.Random(mix(seed, 6))
    discounts, promos, pcts, promo_disc = [], [], [], []
    span = max(now - events[0].created, DAY)
    for k in range(max(8, len(events) // 3 + 5)):
        ev = events[rng.randrange(len(events))]
        pct = rng.choice((10, 15, 20, 30, 50, 100))
        created = events[0].created + int(span * k / (len(events) // 3 + 6))
        deleted = min(created + rng.randint(30, 600) * DAY, now - 60) if rng.random() < 0.35 else None
        updated = deleted or created + rng.randint(0, 30) * DAY
        discount_shows = []
        if rng.random() < 0.5:
            for s in ev.shows:
                sj = show_json(shows[s], full=False)
                sj["event_id"] = ev.id
                discount_shows.append(sj)
        active_from = created + DAY if rng.random() < 0.5 else None
        discounts.append({
            "id": 6840 + k * 7, "is_active": 0 if deleted else 1, "name": f"Скидка {pct}% - {ev.name}",
            "active_from": iso(active_from), "active_to": iso(active_from + 7 * DAY) if active_from else None,
            "type": "P", "events": [{"id": ev.id, "is_active": ev.is_active, "name": ev.name,
                                     "deleted_at": iso(ev.deleted_at)}],
            "shows": discount_shows, "created_at": iso(created), "updated_at": iso(min(updated, now)), "deleted_at": iso(deleted),
        })
        pcts.append(pct)
        for _ in range(rng.randint(1, 12)):
            p_deleted = min(created + rng.randint(1, 400) * DAY, now - 60) if rng.random() < 0.2 else None
            promos.append({
                "id": 168488 + len(promos) * 3, "is_active": 0 if p_deleted else 1, "type": 0,
                "discount_id": 6840 + k * 7, "code": f"PROMO{hexdigest(seed, 'promo', len(promos), length=6).upper()}",
                "max_uses_count": rng.choice((0, 0, 0, 10, 100)), "active_from": None, "active_to": None,
                "created_at": iso(created), "updated_at": iso(p_deleted or created), "deleted_at": iso(p_deleted),
            })
            promo_disc.append(k)
    return discounts, promos, pcts, promo_disc
