"""Orders that change while /orders is paged: QticketsHook against the sandbox's churn knob, real sockets.

An order on a page already read whose ``updated_at`` moves past the window end leaves the filtered set;
every later order moves up one place and one slides onto a page already read. The hook re-reads those
gaps by id (``plugins/qtickets/pagination.py``); without that re-read the same run loses orders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from qtickets.hooks.qtickets import QticketsHook
from qtickets.pagination import iterate_pages
from qtickets.window import Window
from sandbox import SandboxConfig, SandboxServer
from sandbox.pytest_plugin import SANDBOX_NOW
from tests.integration.sandbox.sandbox_test_helpers import rest

pytestmark = pytest.mark.integration

WINDOW_END = SANDBOX_NOW  # churn sets updated_at = the sandbox's now: out of this window
WINDOW_START = SANDBOX_NOW - timedelta(days=365)
WHERE = [{"column": "updated_at", "operator": ">=", "value": WINDOW_START},
         {"column": "updated_at", "operator": "<", "value": WINDOW_END}]


@pytest.fixture
def churny() -> Iterator[SandboxServer]:
    """3000 orders, of which ~1 570 (32 pages of 50) were updated in the window."""
    with SandboxServer(SandboxConfig(orders=3000, seed=5, now=SANDBOX_NOW)) as server:
        yield server


def _hook(monkeypatch: pytest.MonkeyPatch, srv: SandboxServer, concurrency: int) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": srv.rest_url, "password": srv.token,
            "extra": {"timeout": 10, "max_retries": 2, "backoff_base": 0.01, "concurrency": concurrency}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=lambda _s: None)


def _in_window(srv: SandboxServer, start: datetime = WINDOW_START, end: datetime = WINDOW_END) -> set[int]:
    d = srv.data
    lo, hi = start.timestamp(), end.timestamp()
    return {d.order_id(i) for i in range(d.order_count) if lo <= d.o_updated[i] < hi}


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("every_pages", [1, 3])
def test_every_order_that_stayed_in_the_window_is_read_once(
    monkeypatch: pytest.MonkeyPatch, churny: SandboxServer, concurrency: int, every_pages: int
) -> None:
    before = _in_window(churny)
    assert len(before) >= 20 * 50
    churny.faults.churn_orders(every_pages=every_pages, per_churn=1)
    hook = _hook(monkeypatch, churny, concurrency)
    ids = [o["id"] for page in hook.iter_pages("orders", window=Window(WINDOW_START, WINDOW_END), order_by={"id": "asc"})
           for o in page]

    churned = set(churny.faults.churned_ids)
    stayed = before - churned
    assert churned and churned <= before and len(churned) == len(churny.faults.churned_ids)
    assert not churned & _in_window(churny)  # they really left the window
    assert _in_window(churny) == stayed
    assert len(ids) == len(set(ids))  # exactly once
    assert stayed <= set(ids) <= before  # churned ones may or may not have been read before they changed
    assert hook.stats.gap_reads >= 1 and hook.stats.gap_records >= 1
    assert hook.stats.requests == churny.log.count("/orders") == hook.stats.pages


def test_without_gap_reads_the_churn_loses_orders(monkeypatch: pytest.MonkeyPatch, churny: SandboxServer) -> None:
    """The same run with numbered pages only (as before the fix) reports success yet misses orders."""
    before = _in_window(churny)
    churny.faults.churn_orders(every_pages=2, per_churn=1)
    hook = _hook(monkeypatch, churny, 1)
    filters = {"where": hook._filters(WHERE, None, None)["where"], "orderBy": {"id": "asc"}}
    ids = [o["id"] for page in iterate_pages(lambda n: hook._fetch_page("orders", filters, n), endpoint="orders")
           for o in page]
    stayed = before - set(churny.faults.churned_ids)
    lost = stayed - set(ids)
    pages = -(-len(before) // 50)
    # one order leaves after every 2nd page; each shifts the pages still to come by one
    assert 0.3 * pages <= len(lost) <= pages


def test_churn_knob_moves_the_lowest_served_order(churny: SandboxServer) -> None:
    body = {"where": [{"column": "updated_at", "operator": ">=", "value": "2024-11-07T15:00:00+03:00"},
                      {"column": "updated_at", "operator": "<", "value": "2025-11-07T15:00:00+03:00"}],
            "orderBy": {"id": "asc"}}
    churny.faults.churn_orders(every_pages=2, per_churn=2)
    page1 = rest(churny, "GET", "/orders", json={**body, "page": 1}).json()
    assert churny.faults.churned_ids == []
    page2 = rest(churny, "GET", "/orders", json={**body, "page": 2}).json()
    assert churny.faults.churned_ids == [o["id"] for o in page1["data"][:2]]  # lowest ids served so far
    again = rest(churny, "GET", "/orders", json={**body, "page": 1}).json()
    assert again["paging"]["total"] == page1["paging"]["total"] - 2
    assert [o["id"] for o in again["data"]][-2:] == [o["id"] for o in page2["data"][:2]]  # they slid onto page 1
    d = churny.data
    assert all(d.o_updated[d.order_index(i)] == d.now for i in churny.faults.churned_ids)
    # keyset reads of the same listing count as its pages; other listings keep their own served ids
    rest(churny, "GET", "/orders", json={**body, "where": [*body["where"],
                                                          {"column": "id", "operator": ">", "value": 1}], "page": 1})
    assert len(churny.faults.churned_ids) == 4 and churny.faults.churned_ids[2] == again["data"][0]["id"]
    churny.faults.clear()
    rest(churny, "GET", "/orders", json={**body, "page": 3})
    rest(churny, "GET", "/orders", json={**body, "page": 4})
    assert len(churny.faults.churned_ids) == 4  # off after clear(), history kept
    with pytest.raises(ValueError, match="per_churn >= 1"):
        churny.faults.churn_orders(every_pages=2, per_churn=0)


def test_churned_listing_and_keyset_queries_match_a_full_scan(churny: SandboxServer) -> None:
    """The sandbox carries cached listings across churn and cuts id ranges by bisect: same answers as a scan."""
    from sandbox.filters import run_query

    where = json.loads(json.dumps(WHERE, default=lambda v: v.isoformat()))
    churny.faults.churn_orders(every_pages=1, per_churn=3)
    for page in range(1, 25):
        churny.list_page("orders", {"where": where, "orderBy": {"id": "asc"}, "page": page}, "GET")
    assert len(churny.faults.churned_ids) == 72
    orders, d = churny._collections["orders"], churny.data
    assert churny.query("orders", where, {"id": "asc"}) == run_query(orders, where, {"id": "asc"})
    for k in range(0, d.order_count, 97):
        a, b = d.order_id(k), d.order_id(k) + 13 * 40 + 5
        for bounds in ([{"column": "id", "operator": ">", "value": a}],
                       [{"column": "id", "operator": ">=", "value": a}, {"column": "id", "operator": "<", "value": b}],
                       [{"column": "id", "operator": "<=", "value": b}, {"column": "id", "operator": ">", "value": a}]):
            for order_by in ({"id": "asc"}, None):
                assert churny.query("orders", where + bounds, order_by) == run_query(orders, where + bounds, order_by)
