"""QticketsHook and QticketsPartnersHook against the sandbox API over real loopback sockets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from qtickets.exceptions import (
    QticketsAuthError,
    QticketsFilterIgnoredError,
    QticketsNotFoundError,
    QticketsTransientError,
    QticketsUndecodableBodyError,
)
from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook
from qtickets.timeutil import format_api_ts
from qtickets.window import Window
from sandbox import SandboxServer
from sandbox.pytest_plugin import SANDBOX_NOW

pytestmark = pytest.mark.integration

WINDOW_END = SANDBOX_NOW
WINDOW_START = SANDBOX_NOW - timedelta(days=120)


def _hook(monkeypatch: pytest.MonkeyPatch, srv: SandboxServer, sleeps: list[float], **extra) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": srv.rest_url, "password": srv.token,
            "extra": {"timeout": 5, "max_retries": 2, **extra}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=sleeps.append)


def _ids_updated_in(srv: SandboxServer, start: datetime, end: datetime) -> set[int]:
    d = srv.data
    lo, hi = start.timestamp(), end.timestamp()
    return {d.order_id(i) for i in range(d.order_count) if lo <= d.o_updated[i] < hi}


def _window_where(start: datetime, end: datetime) -> list[dict]:
    return [{"column": "updated_at", "operator": ">=", "value": start},
            {"column": "updated_at", "operator": "<", "value": end}]


@pytest.fixture
def sleeps() -> list[float]:
    return []


def test_every_order_unfiltered(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps, concurrency=4)
    ids = [o["id"] for page in hook.iter_pages("orders", order_by={"id": "asc"}) for o in page]
    d = sandbox.data
    assert ids == sorted(d.order_id(i) for i in range(d.order_count))
    assert hook.stats.pages == -(-d.order_count // 50)


@pytest.mark.parametrize("transport", ["get_body", "get_query"])
def test_every_order_in_an_updated_at_window(monkeypatch, sandbox: SandboxServer, sleeps, transport) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps, filter_transport=transport, concurrency=3)
    expected = _ids_updated_in(sandbox, WINDOW_START, WINDOW_END)
    assert 50 < len(expected) < sandbox.data.order_count  # several pages, and a real filter
    ids = [o["id"] for page in hook.iter_pages("orders", window=Window(WINDOW_START, WINDOW_END),
                                               order_by={"id": "asc"}) for o in page]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    seen = {r.transport for r in sandbox.requests if r.path.endswith("/orders")}
    assert seen == {"body" if transport == "get_body" else "query"}
    first = next(r for r in sandbox.requests if r.path.endswith("/orders"))
    where = first.body["where"] if transport == "get_body" else json.loads(first.query["where"])
    assert where[0]["value"] == format_api_ts(WINDOW_START) == "2025-07-10T15:00:00+03:00"


def test_filter_guard_catches_an_api_that_ignores_filters(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    sandbox.faults.ignore_filters = True
    hook = _hook(monkeypatch, sandbox, sleeps)
    with pytest.raises(QticketsFilterIgnoredError, match="filter_transport"):
        list(hook.iter_pages("orders", window=Window(WINDOW_START, WINDOW_END)))


def test_503_storm_then_recovery(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps, max_retries=3)
    sandbox.faults.fail_next(3, 503, match="/orders")
    pages = list(hook.iter_pages("orders"))
    assert sum(len(p) for p in pages) == sandbox.data.order_count
    assert hook.stats.retries == 3 and len(sleeps) == 3
    assert sandbox.log.count("/orders", status=503) == 3


def test_503_storm_exhausts_retries(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps, max_retries=2)
    sandbox.faults.fail_next(10, 503, match="/orders")
    with pytest.raises(QticketsTransientError) as info:
        list(hook.iter_pages("orders"))
    assert info.value.status == 503 and sandbox.log.count("/orders") == 3


def test_post_fallback_after_storm(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps, max_retries=1, post_fallback=True)
    sandbox.faults.fail_next(2, 503, match="/orders")
    where = _window_where(WINDOW_START, WINDOW_END)
    first = next(iter(hook.iter_pages("orders", where=where)))
    assert first and hook.stats.post_fallbacks == 1
    methods = [r.method for r in sandbox.requests if r.path.endswith("/orders")]
    assert methods[:3] == ["GET", "GET", "POST"]


def test_rate_limit_honours_retry_after(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps)
    sandbox.faults.rate_limit_next(1, retry_after=3, match="/color-themes")
    assert len(hook.get_color_themes()) > 0
    assert sleeps == [3.0]


def test_truncated_and_html_bodies_are_retried(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps)  # max_retries=2
    order_id = sandbox.data.order_id(0)
    sandbox.faults.truncate_next(1, match="/orders/")
    sandbox.faults.html_next(1, match="/orders/")
    assert hook.request_json("GET", f"orders/{order_id}")["data"]["id"] == order_id
    assert sandbox.log.count("/orders/") == 3 and len(sleeps) == 2
    sandbox.faults.truncate_next(3, match="/orders/")
    with pytest.raises(QticketsUndecodableBodyError, match="not valid JSON") as info:
        hook.request_json("GET", f"orders/{order_id}")
    assert info.value.body_preview is None and info.value.body_bytes and info.value.attempts == 3
    sandbox.faults.html_next(3, match="/orders/")
    with pytest.raises(QticketsUndecodableBodyError, match="HTML page"):
        hook.request_json("GET", f"orders/{order_id}")
    assert hook.request_json("GET", f"orders/{order_id}")["data"]["id"] == order_id


def test_not_found_json_and_unknown_route(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps)
    with pytest.raises(QticketsNotFoundError) as info:
        hook.request_json("GET", "orders/999999999")
    assert info.value.code == "RESOURCE_NOT_FOUND"
    with pytest.raises(QticketsNotFoundError, match="unknown route"):
        hook.request_json("GET", "barcodes")


def test_wrong_token_is_auth_error_without_leak(monkeypatch, sandbox: SandboxServer, sleeps, caplog) -> None:
    secret = "wrong-token-abcdef123456"
    conn = {"conn_type": "qtickets", "host": sandbox.rest_url, "password": secret}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    ok, message = QticketsHook(sleep=sleeps.append).test_connection()
    assert not ok and "refused the token" in message and secret not in message
    assert secret not in caplog.text and sandbox.log.count("/color-themes") == 1


def test_seats_barcodes_and_test_connection(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    hook = _hook(monkeypatch, sandbox, sleeps)
    assert hook.test_connection()[0]
    show_id = next(iter(sandbox.data.show_by_id))
    seats = hook.get_show_seats(show_id)
    assert seats and all({"max_quantity", "free_quantity", "payed_quantity"} <= set(s) for s in seats.values())
    barcodes = next(found for sid in sandbox.data.show_by_id if (found := hook.get_show_barcodes(sid)))
    assert all(b.get("barcode") for b in barcodes)


def test_partners_find_tickets(monkeypatch, qtickets_env: SandboxServer, sleeps) -> None:
    hook = QticketsPartnersHook(sleep=sleeps.append)
    tickets = hook.find_tickets({})
    assert tickets, "the sandbox seeds partner tickets"
    one = tickets[0]
    assert hook.find_tickets({"id": [one["id"]]}) == [one]
    rec = [r for r in qtickets_env.requests if "/tickets/find" in r.path][-1]
    assert rec.method == "POST" and rec.body == {"filter": {"id": [one["id"]]}} and rec.authorized


def test_partners_rest_token_gets_wrong_authorization(monkeypatch, sandbox: SandboxServer, sleeps) -> None:
    conn = {"conn_type": "qtickets_partners", "host": sandbox.partners_url, "password": sandbox.token}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_PARTNERS_DEFAULT", json.dumps(conn))
    with pytest.raises(QticketsAuthError, match="WRONG_AUTHORIZATION|refused the key"):
        QticketsPartnersHook(sleep=sleeps.append).find_tickets({"id": 1})
    assert sandbox.log.count("/tickets/find") == 1
