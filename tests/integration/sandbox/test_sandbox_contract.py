"""Contract tests: sandbox payloads have the keys and value types of the real vendor captures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import SandboxServer
from sandbox.model import CANCELLED, FULL_REFUND, PART_REFUND, PENDING
from tests.integration.sandbox.sandbox_test_helpers import compare_shapes, rest, shape

pytestmark = pytest.mark.integration

# Fields the captures only ever show as null/empty but the vendor doc types (the sandbox fills them).
ORDER_EXTRA_TYPES = {
    ".baskets[].refunded_at": {"str"}, ".backend_user_id": {"int"}, ".baskets[].refunded_amount": {"int"},
    ".integrations": {"dict"}, ".client.details.middlename": {"str"},
}
ORDER_OPTIONAL = {".refunds[]", ".refunds[].id", ".refunds[].amount", ".refunds[].deduction_amount",
                  ".refunds[].baskets", ".refunds[].created_at", ".baskets[].refunds[]", ".baskets[].refunds[].id",
                  ".baskets[].refunds[].amount", ".baskets[].refunds[].deduction_amount",
                  ".baskets[].refunds[].created_at", ".integrations.roistat", ".integrations.roistat.roistat_visit",
                  ".utm.utm_source", ".utm.utm_medium", ".utm.utm_campaign", ".utm.utm_content", ".utm.utm_term"}


def _capture(captures_dir: Path, name: str) -> dict:
    return json.loads((captures_dir / name).read_text())


def _orders_of_every_state(server: SandboxServer) -> list[dict]:
    """Page 1 plus orders in each state, fetched through a real filtered request."""
    d = server.data
    ids = []
    for state in (CANCELLED, PART_REFUND, FULL_REFUND, PENDING):
        ids += [d.order_id(i) for i in range(d.order_count) if d.o_state[i] == state][:5]
    page1 = rest(server, "GET", "/orders").json()["data"]
    picked = rest(server, "GET", "/orders", json={"where": [{"column": "id", "operator": "in", "value": ids}]})
    assert picked.status_code == 200
    assert len(picked.json()["data"]) == len(ids)
    return page1 + picked.json()["data"]


def test_orders_list_matches_capture(captures_dir: Path, sandbox_server: SandboxServer) -> None:
    real = _capture(captures_dir, "orders_page1.json")
    resp = rest(sandbox_server, "GET", "/orders")
    body = resp.json()
    assert resp.headers["Content-Type"].startswith("application/json")
    assert set(body) == set(real) == {"data", "paging"}
    assert set(body["paging"]) == set(real["paging"])
    assert body["paging"]["perPage"] == real["paging"]["perPage"] == 50
    problems = compare_shapes(shape(real["data"]), shape(_orders_of_every_state(sandbox_server)),
                              optional=ORDER_OPTIONAL, extra_types=ORDER_EXTRA_TYPES)
    assert problems == []


def test_list_orders_carry_empty_quirk_values(sandbox_server: SandboxServer) -> None:
    orders = _orders_of_every_state(sandbox_server)
    assert {type(o["utm"]).__name__ for o in orders} == {"list", "dict"}
    assert all(o["utm"] == [] for o in orders if isinstance(o["utm"], list))
    assert all(o["custom"] == "" and o["fields"] == [] and o["integrations"] == [] for o in orders)


def test_single_order_matches_capture(captures_dir: Path, sandbox_server: SandboxServer) -> None:
    real = _capture(captures_dir, "order_1614202.json")
    real_shape = shape([real["data"]])
    # One order shows few variants (empty utm, a promo code): add the types the 50-order capture shows.
    for path, types in shape(_capture(captures_dir, "orders_page1.json")["data"]).items():
        if path != ".integrations" and (path in real_shape or path.startswith(".utm")):
            real_shape[path] |= types
    for i in range(3):
        oid = sandbox_server.data.order_id(i)
        body = rest(sandbox_server, "GET", f"/orders/{oid}").json()
        assert set(body) == {"data"}
        assert body["data"]["id"] == oid
        assert body["data"]["integrations"] == {"roistat": {"roistat_visit": None}}
        assert compare_shapes(real_shape, shape([body["data"]]), optional=ORDER_OPTIONAL,
                              extra_types=ORDER_EXTRA_TYPES) == []


@pytest.mark.parametrize(("capture", "path", "per_page"), [
    ("clients_page1.json", "/clients", 100),
    ("events_page1.json", "/events", 10),
    ("discounts_page1.json", "/discounts", 100),
    ("promo_codes_page1.json", "/promo-codes", 500),
])
def test_list_endpoint_matches_capture(captures_dir: Path, sandbox_server: SandboxServer, capture: str,
                                       path: str, per_page: int) -> None:
    real = _capture(captures_dir, capture)
    body = rest(sandbox_server, "GET", path).json()
    assert body["paging"]["perPage"] == real["paging"]["perPage"] == per_page
    real_shape = shape(real["data"])
    # A discount's shows[] is empty or full in both; an event's min/max price is null only in the capture.
    extra = {".shows[].sale_start_date": {"str"}, ".shows[].max_price": {"NoneType"},
             ".shows[].min_price": {"NoneType"}}
    assert compare_shapes(real_shape, shape(body["data"]), extra_types=extra) == []


def test_error_bodies_match_capture(captures_dir: Path, sandbox_server: SandboxServer) -> None:
    resp = rest(sandbox_server, "GET", "/orders/999999999")
    real = _capture(captures_dir, "error_404_order.json")
    assert resp.status_code == 404 == real["status"]
    assert compare_shapes(shape([real]), shape([resp.json()])) == []
    assert resp.json() == {"error": "Resource \"Order\" not found", "status": 404, "code": "RESOURCE_NOT_FOUND",
                           "info": {"id": 999999999, "resource": "Order"}}
    sandbox_server.reset_log()


def test_partners_error_matches_capture(captures_dir: Path, sandbox_server: SandboxServer) -> None:
    import requests

    real = _capture(captures_dir, "partners_wrong_authorization.json")
    resp = requests.post(sandbox_server.partners_url + "/tickets/find", json={"filter": {}}, timeout=10,
                         headers={"Authorization": f"Bearer {sandbox_server.token}"})  # REST token: refused
    assert resp.status_code == 200
    assert set(resp.json()) == set(real)
    assert resp.json() == {"status": "error", "code": "WRONG_AUTHORIZATION", "message": "Wrong authorization"}


def test_503_body_matches_capture(captures_dir: Path, sandbox: SandboxServer) -> None:
    real = _capture(captures_dir, "error_503_orders.json")
    sandbox.faults.fail_next(1)
    resp = rest(sandbox, "GET", "/orders")
    assert resp.status_code == 503
    assert compare_shapes(shape([real]), shape([resp.json()])) == []
    assert resp.json()["code"] == "UNKNOWN_ERROR"
