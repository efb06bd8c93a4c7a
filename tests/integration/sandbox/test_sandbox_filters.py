"""Filters, sorting, paging and both transports, over real sockets."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from sandbox import SandboxServer
from sandbox.fakes import iso
from sandbox.model import PAID_STATES
from tests.integration.sandbox.sandbox_test_helpers import rest

pytestmark = pytest.mark.integration


def _window(server: SandboxServer, hours: int = 12) -> tuple[int, int]:
    end = server.data.now
    return end - hours * 3600, end


def _expected_updated_ids(server: SandboxServer, start: int, end: int) -> list[int]:
    d = server.data
    return [d.order_id(i) for i in range(d.order_count) if start <= d.o_updated[i] < end]


def _where(start: int, end: int) -> list[dict]:
    return [{"column": "updated_at", "operator": ">=", "value": iso(start)},
            {"column": "updated_at", "operator": "<", "value": iso(end)}]


def _all_ids(server: SandboxServer, method: str, **kw: object) -> tuple[list[int], int]:
    ids, page, total = [], 1, None
    while True:
        params = dict(kw.get("params") or {})
        body = dict(kw.get("json") or {})
        if "json" in kw:
            body["page"] = page
        else:
            params["page"] = page
        resp = rest(server, method, "/orders", params=params or None, json=body or None)
        assert resp.status_code == 200, resp.text
        payload = resp.json()
        total = payload["paging"]["total"]
        ids += [o["id"] for o in payload["data"]]
        if len(payload["data"]) < payload["paging"]["perPage"]:
            return ids, total
        page += 1


def test_json_body_query_string_and_compat_post_agree(sandbox_server: SandboxServer) -> None:
    start, end = _window(sandbox_server)
    expected = _expected_updated_ids(sandbox_server, start, end)
    assert len(expected) > 50, "window should span several pages"
    where, order = _where(start, end), {"id": "desc"}
    by_body = _all_ids(sandbox_server, "GET", json={"where": where, "orderBy": order})
    by_query = _all_ids(sandbox_server, "GET", params={"where": json.dumps(where), "orderBy": json.dumps(order)})
    by_post = _all_ids(sandbox_server, "POST", json={"where": where, "orderBy": order})
    assert by_body == by_query == by_post == (sorted(expected, reverse=True), len(expected))


def test_request_log_records_the_transport(sandbox: SandboxServer) -> None:
    where = [{"column": "payed", "value": 1}]
    rest(sandbox, "GET", "/orders", json={"where": where})
    rest(sandbox, "GET", "/orders", params={"where": json.dumps(where)})
    rest(sandbox, "GET", "/orders", params={"page": 2}, json={"where": where})
    rest(sandbox, "GET", "/orders")
    assert [(r.method, r.path, r.transport, r.status) for r in sandbox.requests] == [
        ("GET", "/api/rest/v1/orders", "body", 200), ("GET", "/api/rest/v1/orders", "query", 200),
        ("GET", "/api/rest/v1/orders", "both", 200), ("GET", "/api/rest/v1/orders", "none", 200)]
    assert sandbox.requests[0].body == {"where": where}


@pytest.mark.parametrize("offset", ["+03:00", "Z", "+07:00"])
def test_timestamps_compare_as_instants(sandbox_server: SandboxServer, offset: str) -> None:
    from datetime import datetime, timedelta, timezone

    start, end = _window(sandbox_server, hours=6)
    tz = {"+03:00": timezone(timedelta(hours=3)), "Z": UTC, "+07:00": timezone(timedelta(hours=7))}[offset]
    where = [{"column": "updated_at", "operator": ">=", "value": datetime.fromtimestamp(start, tz).isoformat()},
             {"column": "updated_at", "operator": "<", "value": datetime.fromtimestamp(end, tz).isoformat()}]
    ids, total = _all_ids(sandbox_server, "GET", json={"where": where})
    assert sorted(ids) == sorted(_expected_updated_ids(sandbox_server, start, end))
    assert total == len(ids) > 0


def test_operators(sandbox_server: SandboxServer) -> None:
    d = sandbox_server.data
    paid = sum(1 for s in d.o_state if s in PAID_STATES)
    cancelled = sum(1 for x in d.o_deleted if x)

    def total(where: list[dict]) -> int:
        resp = rest(sandbox_server, "GET", "/orders", json={"where": where})
        assert resp.status_code == 200, resp.text
        return resp.json()["paging"]["total"]

    assert total([{"column": "payed", "value": 1}]) == paid  # operator defaults to "="
    assert total([{"column": "payed", "operator": "=", "value": True}]) == paid
    assert total([{"column": "payed", "operator": "!=", "value": 1}]) == d.order_count - paid
    assert total([{"column": "deleted_at", "operator": "not null"}]) == cancelled
    assert total([{"column": "deleted_at", "operator": "null"}]) == d.order_count - cancelled
    some = [d.order_id(i) for i in (0, 5, 9)]
    assert total([{"column": "id", "operator": "in", "value": some}]) == 3
    assert total([{"column": "id", "operator": "not in", "value": some}]) == d.order_count - 3
    assert total([{"column": "id", "operator": "<=", "value": d.order_id(9)}]) == 10
    assert total([{"column": "id", "operator": ">", "value": d.order_id(9)}]) == d.order_count - 10


def test_order_by_desc_on_a_timestamp(sandbox_server: SandboxServer) -> None:
    body = {"where": [{"column": "payed", "value": 1}], "orderBy": {"payed_at": "desc"}}
    data = rest(sandbox_server, "GET", "/orders", json=body).json()["data"]
    stamps = [o["payed_at"] for o in data]
    assert len(stamps) == 50
    from datetime import datetime

    instants = [datetime.fromisoformat(s) for s in stamps]
    assert instants == sorted(instants, reverse=True)
    assert instants[0].timestamp() == max(x for x in sandbox_server.data.o_payed_at)


def test_ignore_filters_serves_the_unfiltered_list(sandbox: SandboxServer) -> None:
    body = {"where": [{"column": "payed", "value": 0}], "orderBy": {"id": "desc"}}
    filtered = rest(sandbox, "GET", "/orders", json=body).json()
    assert filtered["paging"]["total"] < sandbox.data.order_count
    sandbox.faults.ignore_filters = True
    ignored = rest(sandbox, "GET", "/orders", json=body).json()
    assert ignored["paging"]["total"] == sandbox.data.order_count
    assert [o["id"] for o in ignored["data"]] == [sandbox.data.order_id(i) for i in range(50)]
    assert any(o["payed"] for o in ignored["data"])


@pytest.mark.parametrize(("path", "per_page"), [("/orders", 50), ("/events", 10), ("/clients", 100),
                                                ("/discounts", 100), ("/promo-codes", 500)])
def test_paging_sizes_totals_and_last_page(sandbox_server: SandboxServer, path: str, per_page: int) -> None:
    first = rest(sandbox_server, "GET", path, params={"per_page": 1000}).json()  # per_page is ignored
    total = first["paging"]["total"]
    assert first["paging"] == {"perPage": per_page, "currentPage": 1, "total": total}
    last_page = -(-total // per_page)
    last = rest(sandbox_server, "GET", path, json={"page": last_page}).json()
    assert last["paging"]["currentPage"] == last_page
    assert len(last["data"]) == total - (last_page - 1) * per_page
    beyond = rest(sandbox_server, "GET", path, params={"page": last_page + 1}).json()
    assert beyond["data"] == [] and beyond["paging"]["total"] == total


def test_every_event_page_has_distinct_ids(sandbox_server: SandboxServer) -> None:
    ids = []
    total = len(sandbox_server.data.events)
    for page in range(1, -(-total // 10) + 1):
        ids += [e["id"] for e in rest(sandbox_server, "GET", "/events", params={"page": page}).json()["data"]]
    assert len(ids) == len(set(ids)) == total


def test_filters_on_other_lists(sandbox_server: SandboxServer) -> None:
    live = rest(sandbox_server, "GET", "/events", json={"where": [{"column": "deleted_at", "operator": "null"}]})
    deleted = [e for e in sandbox_server.data.events if e.deleted_at]
    assert live.json()["paging"]["total"] == len(sandbox_server.data.events) - len(deleted) > 0
    disc = sandbox_server.data.discounts[0]["id"]
    body = {"where": [{"column": "discount_id", "value": disc}, {"column": "deleted_at", "operator": "null"}],
            "orderBy": {"id": "desc"}}
    promos = rest(sandbox_server, "GET", "/promo-codes", json=body).json()["data"]
    assert promos and all(p["discount_id"] == disc and p["deleted_at"] is None for p in promos)
    assert [p["id"] for p in promos] == sorted((p["id"] for p in promos), reverse=True)
    client = sandbox_server.data.client_id(7)
    got = rest(sandbox_server, "GET", "/clients", json={"where": [{"column": "id", "value": client}]}).json()
    assert [c["id"] for c in got["data"]] == [client]


def test_filter_on_a_non_indexed_column(sandbox: SandboxServer) -> None:
    got = rest(sandbox, "GET", "/orders", json={"where": [{"column": "uniqid", "value": "nope"}]}).json()
    assert got["paging"]["total"] == 0
    target = rest(sandbox, "GET", f"/orders/{sandbox.data.order_id(3)}").json()["data"]["uniqid"]
    got = rest(sandbox, "GET", "/orders", json={"where": [{"column": "uniqid", "value": target}]}).json()
    assert [o["id"] for o in got["data"]] == [sandbox.data.order_id(3)]


def test_unknown_column_gets_the_vendor_503(sandbox: SandboxServer) -> None:
    resp = rest(sandbox, "GET", "/orders", json={"where": [{"column": "no_such_column", "value": 1}]})
    assert resp.status_code == 503
    assert resp.json() == {"error": "Unknown error", "status": 503, "code": "UNKNOWN_ERROR", "info": []}


@pytest.mark.parametrize(("body", "needle"), [
    ({"where": {"column": "id"}}, "must be a list"),
    ({"where": [{"column": "id", "operator": "like", "value": 1}]}, "unknown operator"),
    ({"where": [{"column": "id", "operator": "in", "value": 5}]}, "needs a list"),
    ({"orderBy": {"id": "up"}}, "'asc' or 'desc'"),
])
def test_malformed_filters_get_a_clear_400(sandbox: SandboxServer, body: dict, needle: str) -> None:
    resp = rest(sandbox, "GET", "/orders", json=body)
    assert resp.status_code == 400
    assert needle in resp.json()["error"]
    assert resp.json()["code"] == "VALIDATION_ERROR"


def test_malformed_json_is_a_400(sandbox: SandboxServer) -> None:
    resp = rest(sandbox, "GET", "/orders", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "not valid JSON" in resp.json()["error"]
    resp = rest(sandbox, "GET", "/orders", params={"where": "[{"})
    assert resp.status_code == 400 and "'where'" in resp.json()["error"]


def test_compat_post_can_be_switched_off(sandbox: SandboxServer) -> None:
    assert rest(sandbox, "POST", "/orders", json={"page": 1}).status_code == 200
    sandbox.faults.compat_post = False
    resp = rest(sandbox, "POST", "/orders", json={"page": 1})
    assert resp.status_code == 503 and resp.json()["code"] == "UNKNOWN_ERROR"
    assert rest(sandbox, "GET", "/orders", json={"page": 1}).status_code == 200
