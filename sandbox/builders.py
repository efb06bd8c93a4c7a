"""Build vendor-shaped JSON dicts from the compact columns of :class:`sandbox.data.SandboxData`.

Key order and value types follow the real captures (``shared/fixtures/qtickets-captures``).
Everything here is a pure function of the dataset columns and the seed.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sandbox.fakes import (
    CITY_COORDS,
    COLOR_THEMES,
    FIRST_NAMES,
    MIDDLENAMES,
    SITES,
    SURNAMES,
    UTM_SOURCES,
    hexdigest,
    iso,
    mix,
)
from sandbox.model import CANCELLED, PAID_STATES, PENDING, Event, Show, Zone

if TYPE_CHECKING:
    from sandbox.data import SandboxData

DAY = 86400


def color_themes() -> list[dict[str, Any]]:
    return [{"id": k + 1, "color": c} for k, c in enumerate(COLOR_THEMES)]


def client_json(d: SandboxData, c: int) -> dict[str, Any]:
    rng = random.Random(mix(d.seed, 4, c))
    return {
        "id": d.client_id(c),
        "email": f"buyer{hexdigest(d.seed, 'e', c, length=8)}@example.com",
        "details": {
            "id": 700000 + c * 9 + rng.randrange(9),
            "name": rng.choice(FIRST_NAMES),
            "middlename": rng.choice(MIDDLENAMES) if rng.random() < 0.2 else None,
            "surname": rng.choice(SURNAMES) if rng.random() < 0.9 else None,
            "phone": f"+7900{rng.randrange(10**7):07d}",
            "vk_id": "",
            "facebook_id": "",
        },
    }


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


def event_json(d: SandboxData, ev: Event) -> dict[str, Any]:
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
                   "url": f"https://qtickets.ru/storage/app/uploads/public/{hexdigest(d.seed, 'poster', ev.id)}.jpg"},
        "event_type_id": 11, "city": {"id": city_id, "name": city_name, "timezone": tz},
        "ticket": {"id": 35, "is_active": 1, "name": "Системный шаблон"},
        "mail_template": {"id": 31, "is_active": 1, "name": "Системный шаблон"},
        "slug": slug, "place_coordinates": [lat, lon], "url": f"https://city{city_id}.qtickets.events/{ev.id}-{slug}",
        "shows": [show_json(d.shows[s]) for s in ev.shows],
        "created_at": iso(ev.created), "updated_at": iso(ev.updated), "deleted_at": iso(ev.deleted_at),
    }


def make_discounts(d: SandboxData) -> tuple[list[dict], list[dict], list[int], list[int]]:
    """Discounts (some soft-deleted, type "P") and their promo codes; also each discount's percent and
    each promo code's discount position (kept outside the JSON)."""
    rng = random.Random(mix(d.seed, 6))
    discounts, promos, pcts, promo_disc = [], [], [], []
    span = max(d.now - d.events[0].created, DAY)
    for k in range(max(8, len(d.events) // 3 + 5)):
        ev = d.events[rng.randrange(len(d.events))]
        pct = rng.choice((10, 15, 20, 30, 50, 100))
        created = d.events[0].created + int(span * k / (len(d.events) // 3 + 6))
        deleted = min(created + rng.randint(30, 600) * DAY, d.now - 60) if rng.random() < 0.35 else None
        updated = deleted or created + rng.randint(0, 30) * DAY
        shows = []
        if rng.random() < 0.5:
            for s in ev.shows:
                sj = show_json(d.shows[s], full=False)
                sj["event_id"] = ev.id
                shows.append(sj)
        active_from = created + DAY if rng.random() < 0.5 else None
        discounts.append({
            "id": 6840 + k * 7, "is_active": 0 if deleted else 1, "name": f"Скидка {pct}% - {ev.name}",
            "active_from": iso(active_from), "active_to": iso(active_from + 7 * DAY) if active_from else None,
            "type": "P", "events": [{"id": ev.id, "is_active": ev.is_active, "name": ev.name,
                                     "deleted_at": iso(ev.deleted_at)}],
            "shows": shows, "created_at": iso(created), "updated_at": iso(min(updated, d.now)), "deleted_at": iso(deleted),
        })
        pcts.append(pct)
        for _ in range(rng.randint(1, 12)):
            p_deleted = min(created + rng.randint(1, 400) * DAY, d.now - 60) if rng.random() < 0.2 else None
            promos.append({
                "id": 168488 + len(promos) * 3, "is_active": 0 if p_deleted else 1, "type": 0,
                "discount_id": 6840 + k * 7, "code": f"PROMO{hexdigest(d.seed, 'promo', len(promos), length=6).upper()}",
                "max_uses_count": rng.choice((0, 0, 0, 10, 100)), "active_from": None, "active_to": None,
                "created_at": iso(created), "updated_at": iso(p_deleted or created), "deleted_at": iso(p_deleted),
            })
            promo_disc.append(k)
    return discounts, promos, pcts, promo_disc


def seat_key(zone: Zone, seat: int) -> tuple[str, str, str]:
    """(seat id, row, place) of a numbered seat ordinal, or of the single admission seat."""
    if zone.admission or seat < 0:
        return f"{zone.zone_id}-1;1", "1", "1"
    row, place = seat // zone.places_per_row + 1, seat % zone.places_per_row + 1
    return f"{zone.zone_id}-{row};{place}", str(row), str(place)


def order_json(d: SandboxData, i: int, *, single: bool = False) -> dict[str, Any]:
    """The order at index ``i`` exactly as ``/orders`` (or ``/orders/{id}`` when ``single``) serves it."""
    rng = random.Random(mix(d.seed, 7, i))
    oid = d.order_id(i)
    ev = d.events[d.o_event[i]]
    state = d.o_state[i]
    paid = state in PAID_STATES
    site_id, host, payment_id = SITES[ev.site]
    uniq = hexdigest(d.seed, "u", oid)
    pay_code = hexdigest(d.seed, "p", oid)
    utm: Any = []
    if rng.random() < 0.52:
        src, medium, campaign = rng.choice(UTM_SOURCES)
        utm = {"utm_source": src, "utm_medium": medium, "utm_campaign": campaign}
        if src == "yandex":
            utm.update(utm_content=str(10766679600 + rng.randrange(99)), utm_term="афиша выставки")
    pay_type = rng.choices(("card", "4326371", "3449832"), weights=(85, 10, 5))[0]
    last4 = rng.randrange(1000, 10000)
    basket_user = 5023667 + rng.randrange(900000)
    backend_user = 900 + rng.randrange(50) if rng.random() < 0.1 else None
    client = client_json(d, d.o_client[i])
    promo = d.o_promo[i]
    created, updated = d.o_created[i], d.o_updated[i]
    deleted = d.o_deleted[i] or None
    payed_at = d.o_payed_at[i] or None
    refunded_at = d.o_refunded[i] or None
    baskets, refunded_ids = [], []
    total = total_orig = refunded_total = 0
    nb = d.o_nb[i]
    for k, j in enumerate(d.basket_range(i)):
        other_holder = rng.random() < 0.3
        h_name, h_surname = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        h_phone = rng.randrange(10**7)
        checked_roll, checked_off = rng.random(), rng.randrange(3600)
        show = d.shows[d.b_show[j]]
        zone = show.zones[d.b_zone[j]]
        orig = show.prices[zone.price_pos][1]
        disc = d.b_disc[j]
        price = orig - disc
        refunded = bool(d.b_refunded[j]) and paid
        active = paid and not refunded
        bid = d.basket_id(j)
        seat_id, _, _ = seat_key(zone, d.b_seat[j])
        b_deleted = deleted if state == CANCELLED else None
        checked = None
        if active and show.start < d.now and checked_roll < 0.4:
            checked = min(show.start - 1800 + checked_off, d.now)
        if refunded:
            b_updated = refunded_at
        elif state == CANCELLED:
            b_updated = deleted
        else:
            b_updated = payed_at or created
        ticket_code = hexdigest(d.seed, "t", bid, length=32)
        has_ticket = paid
        baskets.append({
            "id": bid, "series": f"8820{ev.id}",
            "barcode": str(10**11 + mix(d.seed, 11, j) % (9 * 10**11)) if has_ticket else None,
            "show_id": show.id, "seat_id": seat_id, "seat_name": zone.name, "original_price": orig,
            "ticket_original_price": orig, "discount_value": disc, "price": price,
            "ticket_amount": 0 if state == CANCELLED else price, "service_fee_amount": 0, "multiprice_code": None,
            "quantity": 1, "client_email": client["email"] if not other_holder else
            f"holder{hexdigest(d.seed, 'h', bid, length=8)}@example.com",
            "client_phone": f"+7900{h_phone:07d}", "client_name": h_name, "client_surname": h_surname,
            "client_middlename": None, "organization_name": None, "legal_name": None, "work_position": None,
            "inn": None, "kpp": None, "comment": None,
            "pdf_url": f"https://qtickets.ru/9214b6/pdf/{pay_code}/{ticket_code}" if has_ticket else None,
            "passbook_url": f"https://qtickets.ru/9214b6/30c6a1a0/{pay_code}/{ticket_code}" if has_ticket else None,
            "related_baskets": [], "services": [], "checked_at": iso(checked),
            "created_at": iso(created - (nb - k) * 3), "updated_at": iso(b_updated), "deleted_at": iso(b_deleted),
            "refunded_at": iso(refunded_at) if refunded else None,
            "refunded_amount": price if refunded else (0 if state == CANCELLED else None),
            "refunded_deduction_amount": 0 if refunded or state == CANCELLED else None,
            "refunds": [{"id": bid * 10 + 1, "amount": price, "deduction_amount": 0,
                         "created_at": iso(refunded_at)}] if refunded else [],
            **d.bad_values.get(bid, {}),
        })
        total += price
        total_orig += orig
        if refunded:
            refunded_ids.append(bid)
            refunded_total += price
    refunds = []
    if refunded_ids:
        refunds.append({"id": oid * 10 + 1, "amount": refunded_total, "deduction_amount": 0,
                        "baskets": refunded_ids, "created_at": iso(refunded_at)})
    return {
        "id": oid, "uniqid": uniq, "payed": paid, "payed_at": iso(payed_at), "client_id": client["id"],
        "client": client, "site_id": site_id, "site": {"id": site_id, "host": host}, "payment_id": payment_id,
        "payment_type_id": pay_type,
        "payment_card_number": f"400000******{last4}" if paid and pay_type == "card" and total > 0 else None,
        "payment_url": f"https://qtickets.ru/pay/{pay_code}",
        "cancel_url": f"https://qtickets.ru/cancel-order/{pay_code}/{hexdigest(d.seed, 'c', oid, length=32)}",
        "basket_user_id": basket_user, "backend_user_id": backend_user, "access_code_id": None,
        "discount_id": d.discounts[d.promo_discount[promo]]["id"] if promo >= 0 else None,
        "promo_code_id": d.promo_codes[promo]["id"] if promo >= 0 else None,
        "reserved": False, "reserved_to": iso(created + DAY), "reserve_extended": False,
        "event_id": ev.id, "price": total, "original_price": total_orig, "currency_id": "RUB",
        "utm": utm, "custom": "", "fields": [], "baskets": baskets, "refunds": refunds,
        "integrations": {"roistat": {"roistat_visit": None}} if single else [],
        "created_at": iso(created), "updated_at": iso(updated), "deleted_at": iso(deleted),
    }


def seats(d: SandboxData, show: Show) -> dict[str, dict[str, Any]]:
    """Every seat of a show with every selectable field; counters derived from the tickets."""
    paid_n = [0] * len(show.zones)
    pending_n = [0] * len(show.zones)
    seat_state: dict[tuple[int, int], str] = {}
    for j in show.baskets:
        state = d.o_state[d.b_order[j]]
        zpos = d.b_zone[j]
        if d.basket_sold(j):
            paid_n[zpos] += 1
            seat_state[(zpos, d.b_seat[j])] = "paid"
        elif state == PENDING:
            pending_n[zpos] += 1
            seat_state[(zpos, d.b_seat[j])] = "pending"
    out: dict[str, dict[str, Any]] = {}
    for zpos, zone in enumerate(show.zones):
        price_id, price, color = show.prices[zone.price_pos]
        ordinals = [-1] if zone.admission else range(zone.capacity)
        for seat in ordinals:
            sid, row, place = seat_key(zone, seat)
            if zone.admission:
                maxq, payed, pending = zone.capacity, paid_n[zpos], pending_n[zpos]
            else:
                st = seat_state.get((zpos, seat))
                maxq, payed, pending = 1, int(st == "paid"), int(st == "pending")
            free = max(maxq - payed - pending, 0)
            out[sid] = {
                "id": sid, "root_id": sid, "name": zone.name if zone.admission else f"{zone.name}, ряд {row}, место {place}",
                "zone_id": zone.zone_id, "zone_root_id": zone.zone_id, "short_seat_id": f"{row};{place}",
                "admission": zone.admission, "row": row, "place": place, "max_quantity": maxq,
                "free_quantity": free, "ordered_quantity": payed + pending, "available": free > 0,
                "disabled": False, "ordered": payed + pending > 0, "payed_quantity": payed,
                "in_basket_quantity": pending, "price": float(price), "currency_id": "RUB", "related_seats": [],
                "multiprice_name": None, "multiprice_code": None, "spread.partner_id": None, "spread.users": [],
                "spread.client_groups": [], "spread.client_emails": [], "spread.agents": [],
                "color_theme_id": int(color), "coords": [int(place) * 20, int(row) * 20 + zpos * 400],
            }
    return out


def _orders_of(d: SandboxData, basket_indexes: list[int]) -> dict[int, dict[str, Any]]:
    """Build each distinct order of the given tickets once; maps basket id -> basket dict."""
    by_basket: dict[int, dict[str, Any]] = {}
    for i in sorted({d.b_order[j] for j in basket_indexes}):
        order = order_json(d, i)
        for b in order["baskets"]:
            b["_order"] = order
            by_basket[b["id"]] = b
    return by_basket


def barcodes(d: SandboxData, show: Show) -> list[dict[str, Any]]:
    """Barcodes of the show's active (paid, not refunded) tickets, every selectable field."""
    active = [j for j in show.baskets if d.basket_sold(j)]
    built = _orders_of(d, active)
    out = []
    for j in active:
        b = built[d.basket_id(j)]
        zone = show.zones[d.b_zone[j]]
        _, row, place = seat_key(zone, d.b_seat[j])
        out.append({"barcode": b["barcode"], "admission": zone.admission, "price": float(b["price"]),
                    "seat_name": b["seat_name"], "zone_name": zone.name, "row": row, "place": place,
                    "client_name": b["client_name"], "client_surname": b["client_surname"],
                    "client_middlename": b["client_middlename"]})
    return out


def is_partner_order(d: SandboxData, i: int) -> bool:
    """Roughly one order in 17 was sold through the partner (what ``tickets/find`` can see)."""
    return mix(d.seed, 5, i) % 17 == 0


def partner_tickets(d: SandboxData, event_idx: int | None, show_idx: int | None) -> list[dict[str, Any]]:
    """Tickets the partner added, optionally limited to one event / show (Partners ``tickets/find``)."""
    picked = [j for i in range(d.order_count) if is_partner_order(d, i)
              and (event_idx is None or d.o_event[i] == event_idx) for j in d.basket_range(i)
              if show_idx is None or d.b_show[j] == show_idx]
    built = _orders_of(d, picked)
    out = []
    for j in picked:
        b = built[d.basket_id(j)]
        order = b["_order"]
        zone = d.shows[d.b_show[j]].zones[d.b_zone[j]]
        out.append({
            "id": b["id"], "paid": int(order["payed"]), "paid_at": order["payed_at"], "seat_id": b["seat_id"],
            "offer_id": str(d.shows[d.b_show[j]].prices[zone.price_pos][0]), "admission": zone.admission,
            "reserved_to": order["reserved_to"], "external_id": f"ext-{b['id']}",
            "external_order_id": f"ext-order-{order['id']}", "barcode": b["barcode"], "price": b["price"],
            "client_email": b["client_email"], "client_phone": b["client_phone"], "client_name": b["client_name"],
            "client_surname": b["client_surname"], "client_middlename": b["client_middlename"],
            "deleted": int(b["deleted_at"] is not None),
        })
    return out
