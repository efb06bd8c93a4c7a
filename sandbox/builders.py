"""Build vendor-shaped JSON dicts (orders, clients, seats, barcodes, partner tickets) from the compact
columns of :class:`sandbox.data.SandboxData` (events and discounts: :mod:`sandbox.catalog`).

Key order and value types follow the real captures (``shared/fixtures/qtickets-captures``).
Everything here is a pure function of the dataset columns and the seed.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sandbox.fakes import (
    FIRST_NAMES,
    MIDDLENAMES,
    SITES,
    SURNAMES,
    UTM_SOURCES,
    hexdigest,
    iso,
    mix,
)
from sandbox.model import CANCELLED, PAID_STATES, PENDING, Show, Zone

if TYPE_CHECKING:
    from sandbox.data import SandboxData

DAY = 86400


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
