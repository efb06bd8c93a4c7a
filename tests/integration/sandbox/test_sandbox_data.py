"""Synthetic data: vendor semantics, consistency between endpoints, determinism, mutations."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from sandbox import SandboxData, SandboxServer
from sandbox.builders import order_json
from sandbox.fakes import iso
from sandbox.model import CANCELLED, FULL_REFUND, PAID, PART_REFUND, PENDING
from tests.integration.sandbox.sandbox_test_helpers import rest

pytestmark = pytest.mark.integration


def _all_orders(server: SandboxServer, where: list[dict] | None = None) -> list[dict]:
    out, page = [], 1
    while True:
        body = rest(server, "GET", "/orders", json={"where": where or [], "page": page}).json()
        out += body["data"]
        if len(body["data"]) < 50:
            return out
        page += 1


def _timestamps(order: dict) -> list[str]:
    keys = ("payed_at", "created_at", "updated_at", "deleted_at", "reserved_to")
    bkeys = ("checked_at", "created_at", "updated_at", "deleted_at", "refunded_at")
    return [order[k] for k in keys if order[k]] + [b[k] for b in order["baskets"] for k in bkeys if b[k]]


def test_orders_follow_vendor_semantics(sandbox: SandboxServer) -> None:
    orders = _all_orders(sandbox)
    assert len(orders) == sandbox.data.order_count
    for o in orders:
        ts = _timestamps(o)
        assert all(t.endswith("+03:00") for t in ts), o["id"]
        assert o["updated_at"] >= o["created_at"]
        assert max(datetime.fromisoformat(t).timestamp() for t in ts if t != o["reserved_to"]) <= sandbox.data.now
        assert o["price"] == sum(b["price"] for b in o["baskets"])
        assert o["original_price"] == sum(b["original_price"] for b in o["baskets"])
        assert 1 <= len(o["baskets"]) <= 4
        assert o["payed"] == (o["payed_at"] is not None)
        assert o["client"]["email"].endswith("@example.com") and o["client"]["details"]["phone"].startswith("+7900")
        assert o["payment_url"] and o["cancel_url"]
        for b in o["baskets"]:
            assert b["original_price"] - b["discount_value"] == b["price"]
            if b["deleted_at"]:
                assert b["ticket_amount"] == 0 and o["deleted_at"] and not o["payed"]
            else:
                assert b["ticket_amount"] == b["price"]
            if b["refunded_at"]:
                assert b["refunded_amount"] == b["price"] and b["refunds"] and o["payed"]
            if o["payed"]:
                assert b["barcode"] and b["pdf_url"] and b["passbook_url"]
        if o["payment_card_number"]:
            assert o["payment_card_number"][6:12] == "******"


def test_every_order_state_exists_at_scale(sandbox_server: SandboxServer) -> None:
    counts = sandbox_server.data.state_counts()
    assert set(counts) == {PAID, CANCELLED, PART_REFUND, FULL_REFUND, PENDING}
    assert counts[PAID] > counts[CANCELLED] > counts[FULL_REFUND]


def test_recent_fifteen_minute_windows_hold_a_few_orders(sandbox_server: SandboxServer) -> None:
    d = sandbox_server.data
    windows = [(d.now - (k + 1) * 900, d.now - k * 900) for k in range(16)]  # last 4 hours
    per_window = [sum(1 for c in d.o_created if a <= c < b) for a, b in windows]
    assert sum(n >= 2 for n in per_window) >= 12, per_window
    assert min(datetime.fromtimestamp(c).year for c in d.o_created) == 2021


def test_events_shows_and_time_zones(sandbox_server: SandboxServer) -> None:
    events = []
    for page in range(1, 3):
        events += rest(sandbox_server, "GET", "/events", params={"page": page}).json()["data"]
    zones = {e["city"]["timezone"] for e in sandbox_server.data.events_json()}
    assert zones == {"Europe/Moscow", "Asia/Krasnoyarsk", "Asia/Novosibirsk", "Asia/Novokuznetsk",
                     "Asia/Yekaterinburg"}
    now = sandbox_server.data.now
    starts = [datetime.fromisoformat(s["start_date"]).timestamp() for e in events for s in e["shows"]]
    assert any(s > now for s in starts) and any(s < now for s in starts)
    assert any(e["deleted_at"] for e in events)
    for e in events:
        assert 1 <= len(e["shows"]) <= 4
        for s in e["shows"]:
            assert all(p["color_theme"] in {str(k) for k in range(1, 16)} for p in s["prices"])
            assert s["start_date"].endswith("+03:00")


def _sold_per_show(orders: list[dict]) -> tuple[Counter, dict[int, set[str]]]:
    sold: Counter = Counter()
    barcodes: dict[int, set[str]] = {}
    for o in orders:
        for b in o["baskets"]:
            if o["payed"] and not b["deleted_at"] and not b["refunded_at"]:
                sold[b["show_id"]] += 1
                barcodes.setdefault(b["show_id"], set()).add(b["barcode"])
    return sold, barcodes


def _seat_counters(server: SandboxServer, show_id: int) -> dict[str, dict]:
    body = {"select": ["max_quantity", "free_quantity", "payed_quantity", "in_basket_quantity"], "flat": True}
    resp = rest(server, "GET", f"/shows/{show_id}/seats", json=body)
    assert resp.status_code == 200
    return resp.json()["data"]


def test_seat_counters_and_barcodes_agree_with_sold_tickets(sandbox: SandboxServer) -> None:
    sold, barcodes = _sold_per_show(_all_orders(sandbox))
    assert sold
    for show_id, n in sold.most_common(4):
        seats = _seat_counters(sandbox, show_id)
        assert sum(s["payed_quantity"] for s in seats.values()) == n
        assert all(s["free_quantity"] == s["max_quantity"] - s["payed_quantity"] - s["in_basket_quantity"]
                   for s in seats.values())
        assert set(seats[next(iter(seats))]) == {"max_quantity", "free_quantity", "payed_quantity",
                                                 "in_basket_quantity"}
        got = rest(sandbox, "GET", f"/shows/{show_id}/barcodes").json()
        assert isinstance(got, list)
        assert {b["barcode"] for b in got} == barcodes[show_id]
        assert set(got[0]) == {"barcode", "price", "seat_name"}


def test_seats_hierarchy_and_where(sandbox: SandboxServer) -> None:
    show = max(sandbox.data.shows, key=lambda s: len(s.baskets))
    tree = rest(sandbox, "GET", f"/shows/{show.id}/seats").json()["data"]
    assert set(tree) == {z.zone_id for z in show.zones}
    zone = next(iter(tree.values()))
    assert set(zone) == {"zone_id", "name", "description", "seats"}
    assert all(set(seat) == {"seat_id", "admission"} for seat in zone["seats"].values())
    body = {"select": ["available", "payed_quantity"], "flat": True,
            "where": [{"column": "available", "value": True}]}
    flat = rest(sandbox, "GET", f"/shows/{show.id}/seats", json=body).json()["data"]
    assert flat and all(s["available"] is True for s in flat.values())
    bad = rest(sandbox, "GET", f"/shows/{show.id}/seats", json={"select": ["colour"]})
    assert bad.status_code == 400 and "colour" in bad.json()["error"]


def test_refund_bumps_updated_at_and_shows_up_in_a_window(sandbox: SandboxServer) -> None:
    d = sandbox.data
    i = next(k for k in range(d.order_count) if d.o_state[k] == PAID and d.o_updated[k] < d.now - 7200)
    oid = d.order_id(i)
    at = d.now - 600
    window = [{"column": "updated_at", "operator": ">=", "value": iso(at - 60)},
              {"column": "updated_at", "operator": "<", "value": iso(at + 60)}]
    before = {o["id"] for o in _all_orders(sandbox, window)}
    show_id = order_json(d, i)["baskets"][0]["show_id"]
    paid_before = sum(s["payed_quantity"] for s in _seat_counters(sandbox, show_id).values())
    d.refund_order(oid, at)
    after = _all_orders(sandbox, window)
    assert {o["id"] for o in after} == before | {oid}
    refunded = next(o for o in after if o["id"] == oid)
    assert refunded["updated_at"] == iso(at) and refunded["payed"] is True
    assert all(b["refunded_at"] == iso(at) and b["refunded_amount"] == b["price"] for b in refunded["baskets"])
    assert refunded["refunds"][0]["amount"] == refunded["price"]
    single = rest(sandbox, "GET", f"/orders/{oid}").json()["data"]
    assert single["updated_at"] == iso(at)
    n_in_show = sum(1 for b in refunded["baskets"] if b["show_id"] == show_id)
    assert sum(s["payed_quantity"] for s in _seat_counters(sandbox, show_id).values()) == paid_before - n_in_show
    with pytest.raises(ValueError, match="already fully refunded"):
        d.refund_order(oid, at + 1)
    with pytest.raises(ValueError, match="not pending"):
        d.cancel_order(oid, at)


def test_touch_pay_cancel_and_add(sandbox: SandboxServer) -> None:
    d = sandbox.data
    at = d.now + 60
    touched = d.touch_orders(3, at)
    window = [{"column": "updated_at", "operator": ">=", "value": iso(at)}]
    assert sorted(o["id"] for o in _all_orders(sandbox, window)) == sorted(touched)
    cancelled = next(d.order_id(k) for k in range(d.order_count) if d.o_state[k] == CANCELLED)
    d.pay_order(cancelled, at + 10)
    got = rest(sandbox, "GET", f"/orders/{cancelled}").json()["data"]
    assert got["payed"] and got["payed_at"] == iso(at + 10) and got["deleted_at"] is None
    assert all(b["deleted_at"] is None and b["barcode"] for b in got["baskets"])
    total = d.order_count
    new_ids = d.add_orders(2, at + 20)
    listing = rest(sandbox, "GET", "/orders", json={"orderBy": {"id": "desc"}}).json()
    assert listing["paging"]["total"] == total + 2
    assert [o["id"] for o in listing["data"][:2]] == sorted(new_ids, reverse=True)
    assert all(o["created_at"] == iso(at + 20) and o["payed"] for o in listing["data"][:2])
    with pytest.raises(KeyError, match="does not exist"):
        d.refund_order(1, at)
    with pytest.raises(ValueError, match="only moves forward"):
        d.touch_orders(1, at - 3600, order_ids=[touched[0]])


def test_move_payment_changes_payed_at_and_updated_at(sandbox: SandboxServer) -> None:
    d = sandbox.data
    i = next(k for k in range(d.order_count) if d.o_state[k] == PAID and d.o_payed_at[k] < d.now - 86_400 * 40)
    oid = d.order_id(i)
    d.move_payment(oid, d.now - 3600, d.now - 60)
    got = rest(sandbox, "GET", f"/orders/{oid}").json()["data"]
    assert got["payed"] and got["payed_at"] == iso(d.now - 3600) and got["updated_at"] == iso(d.now - 60)
    with pytest.raises(ValueError, match="precedes the creation"):
        d.move_payment(oid, d.o_created[i] - 1, d.now)
    pending = next(d.order_id(k) for k in range(d.order_count) if d.o_state[k] in (PENDING, CANCELLED))
    with pytest.raises(ValueError, match="not paid"):
        d.move_payment(pending, d.now, d.now)


def test_same_seed_same_data_other_seed_other_data() -> None:
    now = datetime.fromisoformat("2025-11-07T12:00:00+03:00")
    a, b, c = SandboxData(200, 5, now), SandboxData(200, 5, now), SandboxData(200, 6, now)
    assert [order_json(a, i) for i in (0, 100, 199)] == [order_json(b, i) for i in (0, 100, 199)]
    assert order_json(a, 0) != order_json(c, 0)
    assert a.discounts == b.discounts and a.promo_codes == b.promo_codes


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        SandboxData(20, 1, datetime(2025, 1, 1))
