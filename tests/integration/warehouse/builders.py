"""Hand-built vendor records shaped like the capture (orders with baskets, events with shows)."""

from __future__ import annotations


def basket(ticket_id: int, amount: int = 1000, **over) -> dict:
    b = {
        "id": ticket_id, "barcode": f"B{ticket_id}", "show_id": 500, "seat_id": "A-1;1", "seat_name": "Партер",
        "original_price": amount, "discount_value": 0, "price": amount, "ticket_amount": amount,
        "service_fee_amount": 0, "quantity": 1, "client_email": f"h{ticket_id}@example.com",
        "client_phone": "+79000000000", "created_at": "2025-11-01T10:00:00+03:00",
        "updated_at": "2025-11-01T10:05:00+03:00", "deleted_at": None, "refunded_at": None,
        "refunded_amount": None, "checked_at": None,
    }
    b.update(over)
    return b


def order(order_id: int, payed_at: str | None = "2025-11-01T10:05:00+03:00", *, event_id: int = 42,
          baskets: list[dict] | None = None, updated_at: str | None = None, **over) -> dict:
    o = {
        "id": order_id, "payed": payed_at is not None, "payed_at": payed_at, "event_id": event_id,
        "client_id": 1, "client": {"id": 1, "email": "b@example.com", "details": {"phone": "+7900"}},
        "price": 0, "original_price": 0, "currency_id": "RUB", "utm": {"utm_source": "vk"}, "custom": "",
        "fields": [], "baskets": baskets if baskets is not None else [basket(order_id * 10), basket(order_id * 10 + 1)],
        "created_at": "2025-11-01T10:00:00+03:00", "updated_at": updated_at or payed_at or "2025-11-01T10:00:00+03:00",
        "deleted_at": None,
    }
    o.update(over)
    return o


def event(event_id: int = 42, city: str = "Новосибирск", tz: str = "Asia/Novosibirsk", **over) -> dict:
    e = {
        "id": event_id, "name": f"Событие {event_id}", "is_active": 1, "city_id": 1,
        "city": {"id": 1, "name": city, "timezone": tz},
        "created_at": "2025-10-01T10:00:00+03:00", "updated_at": "2025-10-01T10:00:00+03:00", "deleted_at": None,
        "shows": [
            {"id": event_id * 10, "is_active": 1, "start_date": "2025-12-01T23:30:00+03:00",
             "finish_date": "2025-12-02T02:00:00+03:00", "prices": [], "updated_at": "2025-10-01T10:00:00+03:00"},
            {"id": event_id * 10 + 1, "is_active": 1, "start_date": "2025-12-05T19:00:00+03:00",
             "finish_date": "2025-12-05T22:00:00+03:00", "prices": [], "updated_at": "2025-10-01T10:00:00+03:00"},
        ],
    }
    e.update(over)
    return e
