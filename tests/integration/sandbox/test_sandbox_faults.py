"""Error shapes, auth, fault knobs, concurrency and the request log."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, quote_plus

import pytest
import requests

from sandbox import SandboxServer
from tests.integration.sandbox.sandbox_test_helpers import rest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_bad_or_missing_rest_token_is_403_json(sandbox: SandboxServer, token: str) -> None:
    resp = rest(sandbox, "GET", "/orders", token=token)
    assert resp.status_code == 403
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json()["status"] == 403 and resp.json()["error"]
    no_header = requests.get(sandbox.rest_url + "/orders", timeout=10)
    assert no_header.status_code == 403
    assert sandbox.token not in resp.text


@pytest.mark.parametrize(("path", "resource", "rid"), [
    ("/orders/4360", "Order", 4360), ("/events/999999999", "Event", 999999999), ("/clients/235", "Client", 235),
    ("/discounts/colors", "Discount", 0), ("/shows/1/seats", "Show", 1),
])
def test_unknown_ids_get_json_404(sandbox: SandboxServer, path: str, resource: str, rid: int) -> None:
    resp = rest(sandbox, "GET", path)
    assert resp.status_code == 404
    assert resp.json() == {"error": f"Resource \"{resource}\" not found", "status": 404,
                           "code": "RESOURCE_NOT_FOUND", "info": {"id": rid, "resource": resource}}


@pytest.mark.parametrize(("method", "path"), [("GET", "/barcodes"), ("POST", "/orders/filter"),
                                              ("GET", "/events/12/seats"), ("GET", "/price-shades")])
def test_unknown_routes_get_the_html_404_page(sandbox: SandboxServer, method: str, path: str) -> None:
    resp = rest(sandbox, method, path)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<title>Страница не найдена 404 – Qtickets</title>" in resp.text
    assert len(resp.content) > 10_000


def test_known_ids_and_no_request_id_header(sandbox: SandboxServer) -> None:
    ev = sandbox.data.events[0]
    resp = rest(sandbox, "GET", f"/events/{ev.id}")
    assert resp.status_code == 200 and resp.json()["data"]["id"] == ev.id
    assert resp.headers["Content-Type"] == "application/json"
    assert not {"x-request-id", "x-trace-id"} & {h.lower() for h in resp.headers}
    themes = rest(sandbox, "GET", "/color-themes").json()["data"]
    assert [t["id"] for t in themes] == list(range(1, 16)) and all(t["color"].startswith("#") for t in themes)


def test_partners_auth_and_find(sandbox: SandboxServer) -> None:
    url = sandbox.partners_url + "/tickets/find"
    good = {"Authorization": f"Bearer {sandbox.partner_key}"}
    bad = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 200 and bad.json()["code"] == "WRONG_AUTHORIZATION"
    everything = requests.post(url, headers=good, json={}, timeout=10).json()
    assert everything["status"] == "success" and everything["result"]
    ticket = next(t for t in everything["result"] if t["barcode"])
    by_barcode = requests.get(url, headers=good, params={"filter": json.dumps({"barcode": ticket["barcode"]})},
                              timeout=10).json()
    assert [t["id"] for t in by_barcode["result"]] == [ticket["id"]]
    by_list = requests.post(url, headers=good, json={"filter": {"id": [str(ticket["id"]), "0"]}}, timeout=10).json()
    assert [t["id"] for t in by_list["result"]] == [ticket["id"]]
    missing = requests.post(url + "/1", headers=good, json={}, timeout=10).json()
    assert missing == {"status": "error", "code": "EVENT_NOT_FOUND", "message": "Event not found"}
    invalid = requests.post(url, headers=good, json={"filter": {"color": "red"}}, timeout=10).json()
    assert invalid["code"] == "VALIDATION_ERROR"


def test_fail_next_is_a_deterministic_storm(sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(2)
    statuses = [rest(sandbox, "GET", "/orders").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r.fault for r in sandbox.requests] == ["fail", "fail", None]
    sandbox.faults.fail_next(1, status=502)
    resp = rest(sandbox, "GET", "/orders")
    assert resp.status_code == 502 and resp.headers["Content-Type"].startswith("text/html")


def test_fail_next_can_target_one_path(sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(1, match="/events")
    assert rest(sandbox, "GET", "/orders").status_code == 200
    assert rest(sandbox, "GET", "/events").status_code == 503
    assert rest(sandbox, "GET", "/events").status_code == 200


def test_rate_limit_sends_retry_after(sandbox: SandboxServer) -> None:
    sandbox.faults.rate_limit_next(1, retry_after=3)
    resp = rest(sandbox, "GET", "/orders")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert rest(sandbox, "GET", "/orders").status_code == 200


def test_truncated_and_html_bodies_come_with_200(sandbox: SandboxServer) -> None:
    sandbox.faults.truncate_next(1)
    resp = rest(sandbox, "GET", "/orders")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(resp.content)
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    sandbox.faults.html_next(1)
    resp = rest(sandbox, "GET", "/orders")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert rest(sandbox, "GET", "/orders").json()["paging"]["total"] == sandbox.data.order_count


@pytest.mark.parametrize(("into", "found"), [
    ("header", lambda resp, auth: resp.headers["X-Request-ID"] == auth),
    ("json", lambda resp, auth: auth.replace("/", "\\/") in resp.text and resp.json()["error"].count(auth) == 1),
    ("urlencoded", lambda resp, auth: quote_plus(auth) in resp.text and quote(auth, safe="") in resp.text),
    ("base64", lambda resp, auth: base64.b64encode(auth.encode()).decode() in resp.text),
])
def test_echo_auth_sends_the_authorization_value_back(sandbox: SandboxServer, into: str, found) -> None:
    sandbox.faults.echo_auth_next(1, into, status=401)
    resp = rest(sandbox, "GET", "/orders")
    assert resp.status_code == 401 and found(resp, f"Bearer {sandbox.token}")
    assert rest(sandbox, "GET", "/orders").status_code == 200
    sandbox.faults.echo_auth_next(1, "json", match="/tickets/find")
    partners = requests.post(f"{sandbox.partners_url}/tickets/find", json={"filter": {}}, timeout=10,
                             headers={"Authorization": f"Bearer {sandbox.partner_key}"})
    assert partners.status_code == 200 and partners.json()["code"] == "WRONG_AUTHORIZATION"
    assert sandbox.partner_key in partners.json()["message"]


def test_bad_paging_puts_a_record_where_the_total_belongs(sandbox: SandboxServer) -> None:
    sandbox.faults.bad_paging_next(1)
    page = rest(sandbox, "GET", "/orders").json()
    assert page["paging"]["total"] == page["data"][0] and "client" in page["data"][0]
    assert isinstance(rest(sandbox, "GET", "/orders").json()["paging"]["total"], int)


def test_error_rate_extremes(sandbox: SandboxServer) -> None:
    sandbox.faults.error_rate = 1.0
    assert {rest(sandbox, "GET", "/events").status_code for _ in range(5)} == {503}
    sandbox.faults.error_rate = 0.0
    assert {rest(sandbox, "GET", "/events").status_code for _ in range(5)} == {200}


def test_error_rate_is_seeded(sandbox: SandboxServer) -> None:
    sandbox.faults.error_rate = 0.5
    first = [rest(sandbox, "GET", "/color-themes").status_code for _ in range(20)]
    assert {200, 503} == set(first)
    from sandbox.faults import Faults

    replay = Faults(error_rate=0.5, seed=sandbox.config.seed)
    assert [503 if replay.random_failure() else 200 for _ in range(20)] == first


def test_latency_uses_the_injected_sleep(sandbox: SandboxServer) -> None:
    slept: list[float] = []
    sandbox.faults.sleep = slept.append
    sandbox.faults.latency_ms = 150
    rest(sandbox, "GET", "/color-themes")
    rest(sandbox, "GET", "/color-themes")
    assert slept == [0.15, 0.15]


def test_response_time_counts_the_servers_own_work(sandbox: SandboxServer) -> None:
    # response_ms is the least time from arrival to answer: the server sleeps only what its work left of it
    # (a wait that would be negative is not slept at all).
    slept: list[float] = []
    sandbox.faults.sleep = slept.append
    sandbox.faults.response_ms = 5_000
    rest(sandbox, "GET", "/orders")
    assert len(slept) == 1 and 4.0 < slept[0] < 5.0
    sandbox.faults.response_ms = 0.001
    rest(sandbox, "GET", "/orders")
    assert len(slept) == 1
    sandbox.faults.clear()
    assert sandbox.faults.response_ms == 0.0


def test_requests_are_served_concurrently(sandbox: SandboxServer) -> None:
    # Every request waits in the latency hook until 4 are inside the server at once: a serial server
    # would break the barrier (timeout) and answer 503.
    barrier = threading.Barrier(4, timeout=5)
    sandbox.faults.sleep = lambda _s: barrier.wait()
    sandbox.faults.latency_ms = 1
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda p: rest(sandbox, "GET", "/orders", params={"page": p}).status_code,
                                 range(1, 5)))
    assert statuses == [200, 200, 200, 200]


def test_request_log_counts_and_reset(sandbox: SandboxServer) -> None:
    assert sandbox.requests == []
    rest(sandbox, "GET", "/orders")
    rest(sandbox, "GET", "/events", token="bad")
    assert sandbox.log.count("/orders") == 1
    assert sandbox.log.count(status=403) == 1
    assert [r.authorized for r in sandbox.requests] == [True, False]
    sandbox.reset_log()
    assert sandbox.requests == []
