"""Order/ticket mapping against the real capture and hand-built edge cases."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from qtickets.pii import PiiPolicy
from qtickets.rows.common import MapContext
from qtickets.rows.orders import COLUMNS, ORDERS_TABLE, TICKETS_TABLE, map_orders, sales_dates
from tests.unit.rows.conftest import FETCHED, load

MONEY_ORDER = ("price", "original_price")
MONEY_TICKET = ("price", "original_price", "discount_value", "ticket_amount", "service_fee_amount", "refunded_amount")


def as_dicts(rows: list[tuple], table: str) -> list[dict]:
    return [dict(zip(COLUMNS[table], row, strict=True)) for row in rows]


def basket(ticket_id: int, **over) -> dict:
    b = {
        "id": ticket_id, "barcode": f"BC{ticket_id}", "show_id": 500, "seat_id": "A-1;1", "seat_name": "Партер",
        "original_price": 1000, "discount_value": 0, "price": 1000, "ticket_amount": 1000,
        "service_fee_amount": 0, "quantity": 1, "client_email": "Holder@Example.com", "client_phone": "+7 900 111-22-33",
        "client_name": "Иван", "pdf_url": "https://qtickets.ru/x/pdf/secret", "passbook_url": "https://q/p/secret",
        "created_at": "2025-11-01T10:00:00+03:00", "updated_at": "2025-11-01T10:05:00+03:00", "deleted_at": None,
        "refunded_at": None, "refunded_amount": None, "checked_at": None, "related_baskets": [], "refunds": [],
    }
    b.update(over)
    return b


def order(order_id: int = 1, baskets: list[dict] | None = None, **over) -> dict:
    o = {
        "id": order_id, "uniqid": "abc", "payed": True, "payed_at": "2025-11-01T10:05:00+03:00",
        "client_id": 77, "client": {"id": 77, "email": "buyer@example.com", "details": {"phone": "+79000000001", "name": "Пётр"}},
        "site": {"id": 1, "host": "shop.example"}, "payment_type_id": "card", "payment_card_number": "400000******3303",
        "payment_url": "https://qtickets.ru/pay/abc", "cancel_url": "https://qtickets.ru/cancel-order/abc/hash",
        "discount_id": None, "promo_code_id": 5, "event_id": 42, "price": 2000, "original_price": 2000,
        "currency_id": "rub", "utm": [], "custom": "", "fields": [],
        "baskets": baskets if baskets is not None else [basket(10), basket(11)],
        "created_at": "2025-11-01T10:00:00+03:00", "updated_at": "2025-11-01T10:05:00+03:00", "deleted_at": None,
    }
    o.update(over)
    return o


def test_capture_shapes_and_types(captures_dir, ctx):
    records = load(captures_dir, "orders_page1.json")
    out = map_orders(records, ctx)
    orders, tickets = out[ORDERS_TABLE], out[TICKETS_TABLE]
    assert len(orders) == 50 and len(tickets) == 139
    for table, rows in out.items():
        assert all(len(r) == len(COLUMNS[table]) for r in rows)
        assert not any(isinstance(v, float) for r in rows for v in r), "money must never be float"
    for t in as_dicts(tickets, TICKETS_TABLE):
        for col in ("ticket_id", "order_id", "event_id", "show_id", "_ver", "_loaded_at", "order_created_at"):
            assert type(t[col]) is int, col
        for col in MONEY_TICKET:
            assert type(t[col]) is str and Decimal(t[col]) >= 0, col
        assert t["_loaded_at"] == int(FETCHED.timestamp())
    for o in as_dicts(orders, ORDERS_TABLE):
        for col in MONEY_ORDER:
            assert type(o[col]) is str
        assert o["currency"] == "RUB"  # from currency_id, not a field that does not exist


def test_capture_revenue_semantics(captures_dir, ctx):
    """The reference: 40 paid orders; the 10 unpaid are cancelled with all 21 baskets deleted."""
    records = load(captures_dir, "orders_page1.json")
    out = map_orders(records, ctx)
    orders = as_dicts(out[ORDERS_TABLE], ORDERS_TABLE)
    tickets = as_dicts(out[TICKETS_TABLE], TICKETS_TABLE)
    assert sum(o["payed"] for o in orders) == 40
    sold = [t for t in tickets if t["is_sold"]]
    assert len(sold) == 139 - 21
    # For paid, non-cancelled orders the order price equals the sum of its active tickets' amounts.
    paid_total = sum(Decimal(o["price"]) for o in orders if o["payed"] and o["deleted_at"] is None)
    assert sum(Decimal(t["ticket_amount"]) for t in sold) == paid_total
    # Cancelled tickets keep a nominal price but contribute no revenue.
    assert all(Decimal(t["ticket_amount"]) == 0 for t in tickets if t["deleted_at"] is not None)


def test_capture_utm_list_and_object(captures_dir, ctx):
    records = load(captures_dir, "orders_page1.json")
    rows = as_dicts(map_orders(records, ctx)[ORDERS_TABLE], ORDERS_TABLE)
    by_id = {r["order_id"]: r for r in rows}
    for rec in records:
        row = by_id[rec["id"]]
        if isinstance(rec["utm"], dict):
            assert row["utm_source"] == rec["utm"].get("utm_source", "")
            assert row["utm_term"] == rec["utm"].get("utm_term", "")
        else:
            assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("", "", "")
    assert any(r["utm_term"] == "выставка кубиков" for r in rows)


def test_ticket_rows_carry_order_version_and_utm(ctx):
    o = order(utm={"utm_source": "vk", "utm_campaign": "autumn"})
    out = map_orders([o], ctx)
    order_row = as_dicts(out[ORDERS_TABLE], ORDERS_TABLE)[0]
    tickets = as_dicts(out[TICKETS_TABLE], TICKETS_TABLE)
    assert {t["_ver"] for t in tickets} == {order_row["_ver"]}
    assert {t["utm_source"] for t in tickets} == {"vk"} and {t["utm_medium"] for t in tickets} == {""}
    assert {t["order_created_at"] for t in tickets} == {order_row["created_at"]}


def test_cancelled_order_sells_nothing(ctx):
    o = order(payed=False, payed_at=None, deleted_at="2025-11-01T11:00:00+03:00",
              baskets=[basket(10, deleted_at="2025-11-01T11:00:00+03:00", ticket_amount=0)])
    tickets = as_dicts(map_orders([o], ctx)[TICKETS_TABLE], TICKETS_TABLE)
    assert [t["is_sold"] for t in tickets] == [0]
    assert tickets[0]["price"] == "1000" and tickets[0]["ticket_amount"] == "0"


def test_paid_then_cancelled_order_sells_nothing(ctx):
    o = order(deleted_at="2025-11-02T11:00:00+03:00")
    assert [t[COLUMNS[TICKETS_TABLE].index("is_sold")] for t in map_orders([o], ctx)[TICKETS_TABLE]] == [0, 0]


def test_partly_and_fully_refunded(ctx):
    refunded = {"refunded_at": "2025-11-05T09:00:00+03:00", "refunded_amount": 900}
    partly = order(1, baskets=[basket(10, **refunded), basket(11)])
    fully = order(2, baskets=[basket(20, **refunded), basket(21, **refunded)])
    tickets = as_dicts(map_orders([partly, fully], ctx)[TICKETS_TABLE], TICKETS_TABLE)
    sold = {t["ticket_id"]: t["is_sold"] for t in tickets}
    assert sold == {10: 0, 11: 1, 20: 0, 21: 0}
    refunds = {t["ticket_id"]: t["refunded_amount"] for t in tickets}
    assert refunds == {10: "900", 11: "0", 20: "900", 21: "900"}


def test_money_is_exact_text():
    ctx = MapContext(fetched_at=FETCHED)
    o = order(price=390.5, original_price="1826.00", baskets=[basket(10, price=0.1, ticket_amount=1e-05)])
    out = map_orders([o], ctx)
    order_row = as_dicts(out[ORDERS_TABLE], ORDERS_TABLE)[0]
    ticket = as_dicts(out[TICKETS_TABLE], TICKETS_TABLE)[0]
    assert (order_row["price"], order_row["original_price"]) == ("390.5", "1826.00")
    assert ticket["price"] == "0.1" and Decimal(ticket["ticket_amount"]) == Decimal("0.00001")


def test_empty_custom_fields_and_missing_optional_parts(ctx):
    o = order(custom="", fields=[], utm=[], site=None, client=None, discount_id=None)
    out = map_orders([o], ctx)
    row = as_dicts(out[ORDERS_TABLE], ORDERS_TABLE)[0]
    assert row["site_host"] == "" and row["client_email_hash"] == "" and row["discount_id"] is None
    assert row["tickets_count"] == 2


def test_version_ordering():
    early, late = FETCHED, FETCHED + timedelta(hours=1)
    ver = COLUMNS[ORDERS_TABLE].index("_ver")
    v_old = map_orders([order(updated_at="2025-11-01T10:05:00+03:00")], MapContext(late))[ORDERS_TABLE][0][ver]
    v_new = map_orders([order(updated_at="2025-11-03T10:05:00+03:00")], MapContext(early))[ORDERS_TABLE][0][ver]
    assert v_new > v_old, "a later vendor update wins even when it was fetched earlier"
    same_early = map_orders([order()], MapContext(early))[ORDERS_TABLE][0][ver]
    same_late = map_orders([order()], MapContext(late))[ORDERS_TABLE][0][ver]
    assert same_late > same_early, "for an unchanged record the later read wins"


def test_ids_typed_consistently(ctx):
    o = order(order_id="123", event_id="42", baskets=[basket("7", show_id="500")])
    t = as_dicts(map_orders([o], ctx)[TICKETS_TABLE], TICKETS_TABLE)[0]
    assert (t["ticket_id"], t["order_id"], t["event_id"], t["show_id"]) == (7, 123, 42, 500)


@pytest.mark.parametrize("bad", [{"id": None}, {"event_id": None}, {"created_at": None}, {"id": "x1"}])
def test_bad_order_gets_clear_error(ctx, bad):
    with pytest.raises(ValueError, match="cannot map order"):
        map_orders([order(**bad)], ctx)


def test_sales_dates_are_moscow_payment_dates():
    orders = [
        order(1, payed_at="2025-11-07T22:30:00+00:00"),  # 01:30 on the 8th in Moscow
        order(2, payed_at="2025-10-31T12:00:00+03:00"),
        order(3, payed=False, payed_at=None),
    ]
    assert sales_dates(orders) == {date(2025, 11, 8), date(2025, 10, 31)}


def test_input_not_mutated(ctx):
    o = order()
    snapshot = copy.deepcopy(o)
    map_orders([o], ctx)
    assert o == snapshot


def test_hash_and_clear_modes_hash_alike():
    """Hash columns are filled in both modes so joins work whatever the mode."""
    o = order()
    a = map_orders([o], MapContext(FETCHED, PiiPolicy("hash", b"k")))[TICKETS_TABLE][0]
    b = map_orders([o], MapContext(FETCHED, PiiPolicy("clear", b"k")))[TICKETS_TABLE][0]
    idx = COLUMNS[TICKETS_TABLE].index("client_email_hash")
    assert a[idx] == b[idx] != ""
    assert "Holder@Example.com" in b[COLUMNS[TICKETS_TABLE].index("payload_json")]


def test_mapcontext_rejects_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        MapContext(fetched_at=datetime(2025, 1, 1))
    assert MapContext(fetched_at=datetime(2025, 1, 1, tzinfo=UTC)).loaded_at == 1735689600


# -- fast paths of the ticket loop: every shortcut must give what the plain helpers give ------------


def _ticket_rows(ctx: MapContext, *baskets: dict) -> list[dict]:
    return as_dicts(map_orders([order(baskets=list(baskets))], ctx)[TICKETS_TABLE], TICKETS_TABLE)


@pytest.mark.parametrize("mode", ["hash", "clear"])
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"related_baskets": [{"id": 12, "client_name": "Ольга", "client_email": "o@x.ru", "barcode": " 77 ",
                              "pdf_url": "https://q/pdf/s", "services": [{"client_phone": "+7 900"}]}]},
        {"seat_name": "Ложа {A}", "services": [1, 2]},
        {"services": [{1: "non-str key"}]},
        {"multiprice_code": Decimal("1.50")},
    ],
    ids=["flat", "nested-pii", "brace-in-text", "non-str-key", "odd-value"],
)
def test_ticket_payload_is_the_scrubbed_basket_without_its_typed_keys(mode, extra):
    """ADR 0011: payload_json holds every scrubbed basket key that no typed column holds, and only those
    (the hash columns hold e-mail, phone and barcode in hash mode only)."""
    import json

    from qtickets.pii import scrub_basket
    from qtickets.rows.common import dumps
    from qtickets.rows.orders import HASHED_BASKET_KEYS, TICKET_PAYLOAD_VERSION, TYPED_BASKET_KEYS

    ctx = MapContext(FETCHED, PiiPolicy(mode, b"k"))
    b = basket(10, **extra)
    (row,) = _ticket_rows(ctx, b)
    typed = TYPED_BASKET_KEYS | (HASHED_BASKET_KEYS if mode == "hash" else frozenset())
    full = scrub_basket(b, ctx.pii)
    expected = {k: v for k, v in full.items() if k not in typed}
    assert row["payload_json"] == dumps(expected)
    assert list(json.loads(row["payload_json"])) == [k for k in b if k in expected]  # vendor key order
    assert row["payload_version"] == TICKET_PAYLOAD_VERSION == 2
    assert "pdf_url" not in row["payload_json"] and "https://q/pdf/s" not in row["payload_json"]
    assert '"price"' not in row["payload_json"] and '"seat_name"' not in row["payload_json"]
    if mode == "hash":
        for secret in ("Ольга", "o@x.ru", "+7 900", "Иван", "Holder@Example.com"):
            assert secret not in row["payload_json"]
    else:
        assert "Holder@Example.com" in row["payload_json"] and "BC10" in row["payload_json"]


def test_basket_without_optional_fields_maps_like_null_fields(ctx):
    absent = basket(10)
    for key in ("quantity", "barcode", "refunded_amount", "checked_at", "deleted_at", "client_phone", "seat_id"):
        del absent[key]
    nulls = basket(10, quantity=None, barcode=None, refunded_amount=None, checked_at=None, deleted_at=None,
                   client_phone=None, seat_id=None)
    (a,), (n,) = _ticket_rows(ctx, absent), _ticket_rows(ctx, nulls)
    a.pop("payload_json"), n.pop("payload_json")
    assert a == n
    assert a["quantity"] == 1 and a["barcode_hash"] == "" and a["refunded_amount"] == "0" and a["seat_id"] == ""


@pytest.mark.parametrize("value", [1000, 0, 12.5, 0.1, "12.50", " 7 ", None, "", 1e21])
def test_ticket_money_fast_path_matches_money(ctx, value):
    from qtickets.rows.common import money

    (row,) = _ticket_rows(ctx, basket(10, **dict.fromkeys(MONEY_TICKET, value)))
    assert [row[c] for c in MONEY_TICKET] == [money(value)] * len(MONEY_TICKET)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"price": True}, "boolean"),
        ({"price": "abc"}, "not a money amount"),
        ({"id": -1}, "basket id of order 1 is negative"),
        ({"id": None}, "basket id of order 1 is missing"),
        ({"quantity": "two"}, "not an integer"),
        ({"show_id": -5}, "negative"),
        ({"deleted_at": "yesterday", "id": None}, "ISO-8601"),  # converted in column order: timestamp first
    ],
)
def test_bad_ticket_values_keep_their_errors(ctx, over, match):
    with pytest.raises(ValueError, match=match):
        _ticket_rows(ctx, basket(10, **over))


def test_hash_fast_paths_match_policy(ctx):
    (row,) = _ticket_rows(ctx, basket(10, client_email="  A@B.C ", client_phone="8 (900) 1-2", barcode=123456))
    pii = ctx.pii
    assert row["client_email_hash"] == pii.hash_email("a@b.c") != ""
    assert row["client_phone_hash"] == pii.hash_phone("89001 2") != ""
    assert row["barcode_hash"] == pii.hash_barcode("123456") != ""
    (empty,) = _ticket_rows(ctx, basket(10, client_email="", client_phone="--", barcode=""))
    assert (empty["client_email_hash"], empty["client_phone_hash"], empty["barcode_hash"]) == ("", "", "")


@pytest.mark.parametrize("mode", ["hash", "clear"])
@pytest.mark.parametrize("extra", [{}, {"custom": {1: "non-str key"}}, {"bonus": Decimal("1.50")},
                                   {"custom": {"client": {"name": "Зоя", "email": "z@x.ru"}}}])
def test_order_payload_is_the_scrubbed_order(mode, extra):
    from qtickets.pii import scrub_order
    from qtickets.rows.common import dumps

    ctx = MapContext(FETCHED, PiiPolicy(mode, b"k"))
    o = order(**extra)
    (row,) = as_dicts(map_orders([o], ctx)[ORDERS_TABLE], ORDERS_TABLE)
    assert row["payload_json"] == dumps(scrub_order(o, ctx.pii))
    assert "cancel-order" not in row["payload_json"] and "3303" not in row["payload_json"]
    if mode == "hash":
        assert "Зоя" not in row["payload_json"] and "z@x.ru" not in row["payload_json"]
