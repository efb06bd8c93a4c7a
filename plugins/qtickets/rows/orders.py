"""Orders -> one row per order (``stg_qtickets_api_orders_raw``) and per basket (``..._tickets_raw``).

Revenue semantics: a ticket is *sold* (``is_sold = 1``) when its order is paid and neither the order
nor the ticket is deleted and the ticket is not refunded; revenue is ``ticket_amount`` of sold tickets;
``refunded_amount`` is kept separately. Ticket rows carry the ORDER's ``updated_at`` in ``_ver`` (a
refund or cancellation bumps the order) and the order's ``created_at`` as immutable partition key.

This is the hot path of the loader (about 3 tickets per order, 100k+ rows/s), hence the local
variable binding, plain tuples and the inlined fast paths (``x if type(x) is int else money(x)``):
the common value types skip a Python call, everything else goes through the same helper as before,
so values and errors are unchanged. ``bench/bench_warehouse.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from operator import itemgetter
from typing import Any

import orjson

from qtickets.pii import PiiPolicy, scrub_basket, scrub_order
from qtickets.rows.common import MapContext, dumps, flag, money, opt_uint, text, uint, utm
from qtickets.timeutil import msk_date, to_epoch

ORDERS_TABLE = "stg_qtickets_api_orders_raw"
TICKETS_TABLE = "stg_qtickets_api_tickets_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    ORDERS_TABLE: (
        "order_id", "uniqid", "event_id", "client_id", "payed", "payed_at", "created_at", "updated_at",
        "deleted_at", "price", "original_price", "currency", "discount_id", "promo_code_id", "site_host",
        "payment_type", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
        "tickets_count", "client_email_hash", "client_phone_hash", "payload_json", "_ver", "_loaded_at",
        "pii_key_version",
    ),
    TICKETS_TABLE: (
        "ticket_id", "order_id", "event_id", "show_id", "seat_id", "seat_name", "order_payed", "payed_at",
        "order_created_at", "order_updated_at", "order_deleted_at", "deleted_at", "refunded_at",
        "checked_at", "price", "original_price", "discount_value", "ticket_amount", "service_fee_amount",
        "refunded_amount", "quantity", "currency", "utm_source", "utm_medium", "utm_campaign",
        "utm_content", "utm_term", "is_sold", "client_email_hash", "client_phone_hash", "barcode_hash",
        "payload_json", "_ver", "_loaded_at", "pii_key_version", "payload_version",
    ),
}

#: ``payload_version`` of the ticket rows this mapper writes: ``payload_json`` holds only the basket keys
#: no typed column holds (ADR 0011). Rows loaded before read 1: the whole scrubbed basket.
TICKET_PAYLOAD_VERSION = 2
#: Basket keys whose value a typed column of the ticket row holds; ``payload_json`` leaves them out.
TYPED_BASKET_KEYS = frozenset({
    "id", "event_id", "show_id", "seat_id", "seat_name", "deleted_at", "refunded_at", "checked_at", "price",
    "original_price", "discount_value", "ticket_amount", "service_fee_amount", "refunded_amount", "quantity",
})
#: Basket keys held by the hash columns: left out of ``payload_json`` in hash mode (the payload would hold
#: the same hash); in clear mode the hash columns do not hold the value, so the payload keeps it.
HASHED_BASKET_KEYS = frozenset({"client_email", "client_phone", "barcode"})


#: Basket fields the ticket row reads, fetched by one C call (``itemgetter``) instead of one
#: ``dict.get`` each; a basket without one of them falls back to ``dict.get`` (missing -> None).
_BASKET_KEYS = (
    "deleted_at", "refunded_at", "id", "show_id", "seat_id", "seat_name", "checked_at", "price",
    "original_price", "discount_value", "ticket_amount", "service_fee_amount", "refunded_amount", "quantity",
    "client_email", "client_phone", "barcode",
)
_basket_fields = itemgetter(*_BASKET_KEYS)


def ticket_payload_without(pii: PiiPolicy) -> frozenset[str]:
    """Basket keys a ticket row's ``payload_json`` leaves out under ``pii``: those its typed columns hold."""
    return TYPED_BASKET_KEYS | HASHED_BASKET_KEYS if pii.hashing else TYPED_BASKET_KEYS


def _client_contacts(order: dict) -> tuple[Any, Any]:
    client = order.get("client")
    if not isinstance(client, dict):
        return None, None
    details = client.get("details")
    phone = details.get("phone") if isinstance(details, dict) else None
    return client.get("email"), phone


def _order_payload(order: dict, pii: PiiPolicy, fast_dumps: Any) -> str:
    """``dumps(scrub_order(order, pii))``; plain orjson first (vendor JSON has str keys only)."""
    scrubbed = scrub_order(order, pii)
    try:
        return fast_dumps(scrubbed).decode()
    except TypeError:  # non-str keys or odd values: the tolerant encoder
        return dumps(scrubbed)


def map_orders(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """Map one page of ``GET /orders`` records to order rows and ticket rows.

    :raises ValueError: a record lacks its id, event id or ``created_at`` (names the order).
    """
    pii = ctx.pii
    loaded_at = ctx.loaded_at
    ver = ctx.ver
    hash_email = pii.hash_email
    hash_phone = pii.hash_phone
    hash_barcode = pii.hash_barcode
    key_version = pii.key_version
    # Raw-value caches behind hash_email/hash_phone/hash_barcode, called directly for truthy str values.
    email_of, phone_of, barcode_of = pii._email, pii._phone, pii._barcode
    scrub_top = pii._scrub_top  # this level of scrub_basket(b, pii, without=...); see the payload note below
    remainder_drop = pii._drop | ticket_payload_without(pii)
    fast_dumps = orjson.dumps  # vendor JSON has str keys only; anything else falls back to dumps()
    _money, _to_epoch, _uint, _text = money, to_epoch, uint, text
    orders: list[tuple] = []
    tickets: list[tuple] = []
    add_order = orders.append
    add_ticket = tickets.append
    for order in records:
        try:
            order_id = uint(order.get("id"), name="order id")
            event_id = uint(order.get("event_id"), name="order event_id")
            created_at = to_epoch(order.get("created_at"))
            if created_at is None:
                raise ValueError("order created_at is missing")
        except ValueError as exc:
            raise ValueError(f"cannot map order {order.get('id')!r}: {exc}") from exc
        updated_raw = order.get("updated_at")
        updated_at = to_epoch(updated_raw)
        row_ver = ver(updated_raw)
        payed = flag(order.get("payed"))
        payed_at = to_epoch(order.get("payed_at"))
        deleted_at = to_epoch(order.get("deleted_at"))
        currency = text(order.get("currency_id")).upper() or "RUB"
        utm_values = utm(order.get("utm"))
        utm_source, utm_medium, utm_campaign, utm_content, utm_term = utm_values
        email, phone = _client_contacts(order)
        baskets = order.get("baskets") or []
        site = order.get("site")
        add_order(
            (
                order_id, text(order.get("uniqid")), event_id, opt_uint(order.get("client_id")) or 0,
                payed, payed_at, created_at, updated_at if updated_at is not None else created_at,
                deleted_at, money(order.get("price")), money(order.get("original_price")), currency,
                opt_uint(order.get("discount_id")), opt_uint(order.get("promo_code_id")),
                text(site.get("host")) if isinstance(site, dict) else "", text(order.get("payment_type_id")),
                *utm_values, len(baskets), hash_email(email), hash_phone(phone),
                _order_payload(order, pii, fast_dumps), row_ver, loaded_at, key_version,
            )
        )
        order_alive = payed == 1 and deleted_at is None
        order_updated = updated_at if updated_at is not None else created_at
        for b in baskets:
            # Values are converted in the same order as the columns, so a record with several bad
            # values reports the same (first) one as before.
            try:
                fields = _basket_fields(b)
            except (KeyError, TypeError):
                fields = tuple(map(b.get, _BASKET_KEYS))
            (
                b_deleted, refunded_at, b_id, b_show, seat_id, seat_name, checked_at, price, original_price,
                discount, amount, fee, refunded, quantity, email_v, phone_v, barcode_v,
            ) = fields
            b_deleted = None if b_deleted is None else _to_epoch(b_deleted)
            refunded_at = None if refunded_at is None else _to_epoch(refunded_at)
            if type(b_id) is not int or b_id < 0:
                b_id = _uint(b_id, name=f"basket id of order {order_id}")
            b_event = b.get("event_id", event_id)
            b_event = b_event if type(b_event) is int and b_event >= 0 else _uint(b_event)
            b_show = b_show or 0
            b_show = b_show if type(b_show) is int and b_show >= 0 else _uint(b_show)
            checked_at = None if checked_at is None else _to_epoch(checked_at)
            price = str(price) if type(price) is int else _money(price)
            original_price = str(original_price) if type(original_price) is int else _money(original_price)
            discount = str(discount) if type(discount) is int else _money(discount)
            amount = str(amount) if type(amount) is int else _money(amount)
            fee = str(fee) if type(fee) is int else _money(fee)
            refunded = str(refunded) if type(refunded) is int else _money(refunded)
            quantity = 1 if quantity is None else quantity if type(quantity) is int and quantity >= 0 else _uint(quantity)
            email_hash = email_of(email_v) if email_v and type(email_v) is str else hash_email(email_v)
            phone_hash = phone_of(phone_v) if phone_v and type(phone_v) is str else hash_phone(phone_v)
            barcode_hash = barcode_of(barcode_v) if barcode_v and type(barcode_v) is str else hash_barcode(barcode_v)
            # payload_json == dumps(scrub_basket(b, pii, without=typed keys)): the basket's keys no typed
            # column holds (ADR 0011), cheaper: scrub the basket's own keys, dump, and only when the text
            # holds a "{" after the first byte (a nested object, or a "{" inside some string) scrub the
            # nested values as well. Without nested objects the full scrub changes nothing below this
            # level (lists of scalars stay as they are).
            try:
                raw = fast_dumps(scrub_top(b, False, remainder_drop))
            except TypeError:  # non-str keys or odd values: the tolerant encoder below
                raw = None
            if raw is None or raw.find(b"{", 1) != -1:
                payload = dumps(scrub_basket(b, pii, without=ticket_payload_without(pii)))
            else:
                payload = raw.decode()
            add_ticket(
                (
                    b_id, order_id, b_event, b_show,
                    seat_id if type(seat_id) is str else _text(seat_id),
                    seat_name if type(seat_name) is str else _text(seat_name),
                    payed, payed_at, created_at, order_updated, deleted_at, b_deleted, refunded_at, checked_at,
                    price, original_price, discount, amount, fee, refunded, quantity,
                    currency, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
                    1 if (order_alive and b_deleted is None and refunded_at is None) else 0,
                    email_hash, phone_hash, barcode_hash, payload, row_ver, loaded_at, key_version,
                    TICKET_PAYLOAD_VERSION,
                )
            )
    return {ORDERS_TABLE: orders, TICKETS_TABLE: tickets}


def sales_dates(records: Iterable[dict]) -> set[date]:
    """Moscow payment dates of the given orders: the fact days a load of these orders can change.

    A refund or cancellation days after payment changes the *payment* day's row, so the pipeline
    rebuilds the payment dates of every order it loaded, not the load window's dates.
    """
    out: set[date] = set()
    for order in records:
        day = msk_date(order.get("payed_at"))
        if day is not None:
            out.add(day)
    return out
