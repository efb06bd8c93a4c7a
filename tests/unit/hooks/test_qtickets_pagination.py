"""QticketsHook.iter_pages: transports, stop rules, dedup, concurrency, POST fallback, window guard."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests_mock

from qtickets.exceptions import (
    QticketsFilterIgnoredError,
    QticketsPaginationError,
    QticketsResponseError,
    QticketsTransientError,
)
from qtickets.hooks.qtickets import QticketsHook, WindowGuard
from qtickets.pagination import Page, iterate_pages
from qtickets.timeutil import MSK
from qtickets.window import Window

TOKEN = "s3cret-token-0123456789"
BASE = "https://qt.test/api/rest/v1"
ORDERS = f"{BASE}/orders"
START = datetime(2025, 11, 7, 0, 0, tzinfo=MSK)
END = START + timedelta(days=1)


def _connect(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN,
            "extra": {"max_retries": 2, "concurrency": 1, **extra}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=lambda _s: None)


def _orders(n: int, start_id: int = 1) -> list[dict]:
    return [{"id": i, "updated_at": (START + timedelta(minutes=i % 600)).isoformat()}
            for i in range(start_id, start_id + n)]


def _page_of(request: Any) -> int:
    query = parse_qs(urlparse(request.url).query)
    if "page" in query:
        return int(query["page"][0])
    return int(request.json()["page"])


def _paged(records: list[dict], per_page: int = 50, total: int | None = None):
    """requests-mock callback serving ``records`` the way the vendor pages them."""
    def callback(request, context):
        page = _page_of(request)
        chunk = records[(page - 1) * per_page: page * per_page]
        return {"data": chunk, "paging": {"perPage": per_page, "currentPage": page,
                                          "total": len(records) if total is None else total}}
    return callback


def _pages_requested(m: requests_mock.Mocker) -> list[int]:
    return [_page_of(r) for r in m.request_history]


def test_get_body_transport_sends_documented_body(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    where = [{"column": "updated_at", "operator": ">=", "value": datetime(2025, 11, 6, 21, 0, tzinfo=UTC)},
             {"column": "deleted_at", "operator": "null"}]
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(_orders(120)))
        pages = list(hook.iter_pages("orders", where=where, order_by={"id": "asc"}))
        reqs = m.request_history
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [r.method for r in reqs] == ["GET"] * 3
    assert reqs[0].json() == {"where": [{"column": "updated_at", "operator": ">=",
                                         "value": "2025-11-07T00:00:00+03:00"},
                                        {"column": "deleted_at", "operator": "null"}],
                              "orderBy": {"id": "asc"}, "page": 1}
    assert [r.json()["page"] for r in reqs] == [1, 2, 3]
    assert urlparse(reqs[0].url).query == ""
    assert reqs[0].headers["Content-Type"] == "application/json"
    assert (hook.stats.pages, hook.stats.requests) == (3, 3)


def test_get_query_transport_encodes_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch, filter_transport="get_query")
    where = [{"column": "payed_at", "operator": "<", "value": END}]
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(_orders(60)))
        list(hook.iter_pages("orders", where=where, order_by={"id": "desc"}, extra={"payed": 1}))
        reqs = m.request_history
    assert [r.method for r in reqs] == ["GET", "GET"]
    query = parse_qs(urlparse(reqs[1].url).query)  # .qs would lower-case the JSON values
    assert json.loads(query["where"][0]) == [{"column": "payed_at", "operator": "<",
                                              "value": "2025-11-08T00:00:00+03:00"}]
    assert json.loads(query["orderBy"][0]) == {"id": "desc"}
    assert query["page"] == ["2"] and query["payed"] == ["1"]
    assert reqs[1].body is None


def test_stops_on_total_without_extra_request(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(_orders(100)))
        assert sum(len(p) for p in hook.iter_pages("orders")) == 100
        assert _pages_requested(m) == [1, 2]


def test_stops_on_empty_page(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:  # total claims 500 but the data ends after 100
        m.get(ORDERS, json=_paged(_orders(100), total=500))
        assert sum(len(p) for p in hook.iter_pages("orders")) == 100
        # page 3 is empty; at most one read-ahead page may have been requested meanwhile
        assert _pages_requested(m)[:3] == [1, 2, 3] and len(m.request_history) <= 4


def test_stops_on_short_page(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(_orders(70), total=500))
        assert sum(len(p) for p in hook.iter_pages("orders")) == 70
        assert _pages_requested(m)[:2] == [1, 2] and len(m.request_history) <= 3


def test_page_without_total_reads_until_short_page(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    records = _orders(120)

    def no_total(request, context):
        page = _page_of(request)
        return {"data": records[(page - 1) * 50: page * 50], "paging": {"perPage": 50, "currentPage": page}}

    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=no_total)
        assert sum(len(p) for p in hook.iter_pages("orders")) == 120
        assert _pages_requested(m) == [1, 2, 3]


def test_follows_growing_total_within_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    records = _orders(100)

    def growing(request, context):  # 30 orders arrive after page 1 was read
        page = _page_of(request)
        live = records if page == 1 else records + _orders(30, start_id=101)
        return {"data": live[(page - 1) * 50: page * 50],
                "paging": {"perPage": 50, "currentPage": page, "total": len(live)}}

    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=growing)
        ids = [r["id"] for p in hook.iter_pages("orders") for r in p]
        assert _pages_requested(m) == [1, 2, 3]
    assert ids == list(range(1, 131))


def test_page_bound_stops_an_endless_api(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    counter = iter(range(1, 10_000))

    def endless(request, context):  # fresh full pages forever, total keeps growing
        page = _page_of(request)
        return {"data": _orders(50, start_id=next(counter) * 1000),
                "paging": {"perPage": 50, "currentPage": page, "total": 100 + page * 50}}

    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=endless)
        # page 1 says total=150 -> 3 pages; bound = 3 + PAGE_MARGIN (5)
        with pytest.raises(QticketsPaginationError, match="at page 9, past the bound of 8 pages"):
            list(hook.iter_pages("orders"))
        assert len(m.request_history) == 8


def test_repeated_page_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:  # an API that ignores `page`
        m.get(ORDERS, json={"data": _orders(50), "paging": {"perPage": 50, "currentPage": 1, "total": 500}})
        pages = hook.iter_pages("orders")
        assert len(next(pages)) == 50
        with pytest.raises(QticketsPaginationError, match="page 2 returned exactly the records of page 1"):
            next(pages)


def test_duplicates_from_shifted_pages_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    records = _orders(100)
    # page 2 overlaps page 1 by 5 records (an order arrived at the head of a desc list)
    pages_data = {1: records[:50], 2: records[45:95], 3: records[95:100]}
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=lambda req, ctx: {"data": pages_data[_page_of(req)],
                                             "paging": {"perPage": 50, "currentPage": 1, "total": 105}})
        pages = list(hook.iter_pages("orders"))
    ids = [r["id"] for p in pages for r in p]
    assert ids == list(range(1, 101)) and len(pages[1]) == 45


def test_unpaged_list_is_one_page(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    themes = [{"id": i, "color": f"#00000{i}"} for i in range(1, 16)]
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/color-themes", json={"data": themes})
        assert hook.get_color_themes() == themes
        assert m.call_count == 1


def test_wrong_envelope_is_response_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json={"items": [], "meta": {}})
        with pytest.raises(QticketsResponseError, match=r"expected \{'data'") as info:
            list(hook.iter_pages("orders"))
        assert m.call_count == 1  # valid JSON with the wrong shape: a retry cannot help
    assert (info.value.status, info.value.url) == (200, ORDERS)
    # No body text (a 2xx body may hold personal data): the message names the keys, the facts identify it.
    body = b'{"items":[],"meta":{}}'
    assert info.value.body_preview is None
    assert (info.value.body_bytes, info.value.body_sha256) == (len(body), hashlib.sha256(body).hexdigest()[:12])


def test_concurrent_pages_are_yielded_in_order() -> None:
    """Pagination layer with a fake fetch: page 2 finishes after page 3, yet pages come out in order.

    (requests-mock serialises requests behind a lock, so overlap is tested below the HTTP layer.)
    """
    records = _orders(50 * 9)
    page3_done = threading.Event()
    first_wave = threading.Barrier(3, timeout=10)  # pages 2, 3, 4 must all be in flight at once
    lock = threading.Lock()
    in_flight, peak = 0, 0

    def fetch(number: int) -> Page:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            if number in (2, 3, 4):
                first_wave.wait()
            if number == 2:
                assert page3_done.wait(timeout=10)
            page = Page(number, records[(number - 1) * 50: number * 50], per_page=50, total=len(records))
            if number == 3:
                page3_done.set()
            return page
        finally:
            with lock:
                in_flight -= 1

    ids = [r["id"] for p in iterate_pages(fetch, endpoint="orders", concurrency=3) for r in p]
    assert ids == list(range(1, 451))
    assert peak == 3  # never more than `concurrency` in flight, and it did run in parallel


def test_read_ahead_is_bounded_for_a_slow_consumer() -> None:
    requested: list[int] = []
    pages = iterate_pages(
        lambda n: requested.append(n) or Page(n, _orders(50, start_id=n * 100), per_page=50, total=50 * 100),
        endpoint="orders", concurrency=4,
    )
    next(pages)
    next(pages)  # consumer holds page 2; workers may fill at most 2 * concurrency pages ahead
    assert max(requested) <= 2 + 2 * 4 + 1
    pages.close()


def test_hook_concurrency_returns_every_page_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch, concurrency=4)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(_orders(50 * 12 + 7)))
        ids = [r["id"] for p in hook.iter_pages("orders") for r in p]
        assert sorted(_pages_requested(m)) == list(range(1, 14))
    assert ids == list(range(1, 608)) and hook.stats.pages == 13


def test_concurrent_error_propagates_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch, concurrency=2, max_retries=0)
    serve = _paged(_orders(50 * 40))

    def callback(request, context):
        if _page_of(request) == 4:
            context.status_code = 503
            return {"error": "Unknown error", "code": "UNKNOWN_ERROR"}
        return serve(request, context)

    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=callback)
        got = []
        with pytest.raises(QticketsTransientError):
            for page in hook.iter_pages("orders"):
                got.append(page)
        assert len(got) == 3
        assert len(m.request_history) < 40  # read-ahead is bounded, the rest was never requested


def test_post_fallback_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, status_code=503, json={"code": "UNKNOWN_ERROR"})
        post = m.post(ORDERS, json={"data": [], "paging": {"perPage": 50, "currentPage": 1, "total": 0}})
        with pytest.raises(QticketsTransientError):
            list(hook.iter_pages("orders", where=[{"column": "payed", "value": 1}]))
        assert post.call_count == 0 and m.call_count == 3
    assert hook.stats.post_fallbacks == 0


def test_post_fallback_resends_filters_after_5xx(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch, post_fallback=True)
    where = [{"column": "payed", "value": 1}]
    with requests_mock.Mocker() as m:
        get = m.get(ORDERS, status_code=503, json={"code": "UNKNOWN_ERROR"})
        post = m.post(ORDERS, json={"data": _orders(3), "paging": {"perPage": 50, "currentPage": 1, "total": 3}})
        pages = list(hook.iter_pages("orders", where=where, order_by={"id": "asc"}))
    assert [len(p) for p in pages] == [3]
    assert get.call_count == 3 and post.call_count == 1
    assert post.last_request.json() == {"where": where, "orderBy": {"id": "asc"}, "page": 1}
    assert hook.stats.post_fallbacks == 1


def test_post_fallback_not_used_for_429(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch, post_fallback=True)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, status_code=429)
        post = m.post(ORDERS, json={"data": []})
        with pytest.raises(QticketsTransientError):
            list(hook.iter_pages("orders"))
        assert post.call_count == 0


WINDOW = Window(START, END)


def test_guard_passes_records_inside_window(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(_orders(80)))
        assert sum(len(p) for p in hook.iter_pages("orders", window=WINDOW)) == 80


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param("2021-05-18T12:23:40+03:00", "2021-05-18T12:23:40+03:00", id="2021 page: filter ignored"),
        pytest.param("2025-11-08T00:00:00+03:00", "2025-11-08T00:00:00+03:00", id="end is exclusive"),
        pytest.param("2025-11-06T23:59:59+03:00", "2025-11-06T23:59:59+03:00", id="just before start"),
        pytest.param(None, "None", id="missing value"),
        pytest.param("not a date", "not a date", id="unparsable value"),
    ],
)
def test_guard_raises_when_filter_ignored(monkeypatch: pytest.MonkeyPatch, value: str | None, shown: str) -> None:
    hook = _connect(monkeypatch)
    records = _orders(50) + _orders(10, start_id=51)
    records[57]["updated_at"] = value
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json=_paged(records))
        pages = hook.iter_pages("orders", window=WINDOW)
        assert len(next(pages)) == 50
        with pytest.raises(QticketsFilterIgnoredError) as info:
            next(pages)
    message = str(info.value)
    assert "ignored the `where` filter" in message and shown in message and "id=58" in message
    assert "[2025-11-07T00:00:00+03:00, 2025-11-08T00:00:00+03:00)" in message
    assert "filter_transport" in message and "get_body <-> get_query" in message


def test_guard_catches_the_old_loader_bug_on_page_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API ignores `where` and returns the oldest page: must fail loudly, not load zero rows."""
    hook = _connect(monkeypatch)
    old = [{"id": 1614202 + i, "updated_at": "2021-05-27T20:35:43+03:00"} for i in range(50)]
    with requests_mock.Mocker() as m:
        m.get(ORDERS, json={"data": old, "paging": {"perPage": 50, "currentPage": 1, "total": 126213}})
        with pytest.raises(QticketsFilterIgnoredError, match="2021-05-27T20:35:43"):
            list(hook.iter_pages("orders", window=WINDOW))
        assert m.call_count == 1


def test_the_window_of_the_guard_is_validated() -> None:
    with pytest.raises(ValueError, match="aware"):
        Window(datetime(2025, 1, 1), datetime(2025, 1, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="empty"):
        Window(END, START)


def test_page_count_formula_matches_vendor_numbers() -> None:
    # 126 213 orders at 50 per page is what the vendor reported; the bound is derived from it.
    assert math.ceil(126213 / 50) == 2525


# -- records that move while the pages are read (gap re-reads) ----------------------------------------


class ChangingList:
    """A pure-Python list endpoint ordered by id asc whose filtered set loses records while it is paged.

    ``churn(self)`` runs after every request is served (under the lock) and returns the ids that leave
    the set (their ``updated_at`` moved past the window end). ``fetch`` serves numbered pages,
    ``fetch_between`` keyset reads; ``requests`` logs both in serving order.
    """

    def __init__(self, n: int, per_page: int = 50, *, churn=None, with_total: bool = True) -> None:
        self.all = [{"id": 1000 + 3 * k, "updated_at": (START + timedelta(minutes=k % 600)).isoformat()}
                    for k in range(n)]
        self.live = list(self.all)
        self.per_page, self.with_total = per_page, with_total
        self.churn = churn or (lambda _lst: [])
        self.lock = threading.Lock()
        self.requests: list[tuple] = []
        self.served: set[int] = set()
        self.removed: list[int] = []

    def _serve(self, number: int, matching: list[dict], rows: list[dict], request: tuple) -> Page:
        self.requests.append(request)
        self.served.update(r["id"] for r in rows)
        page = Page(number, [dict(r) for r in rows], per_page=self.per_page,
                    total=len(matching) if self.with_total else None)
        leaving = set(self.churn(self))
        self.removed += sorted(leaving)
        self.live = [r for r in self.live if r["id"] not in leaving]
        return page

    def fetch(self, number: int) -> Page:
        with self.lock:
            rows = self.live[(number - 1) * self.per_page: number * self.per_page]
            return self._serve(number, self.live, rows, ("page", number))

    def fetch_between(self, after: int, before: int | None, number: int) -> Page:
        with self.lock:
            matching = [r for r in self.live if r["id"] > after and (before is None or r["id"] < before)]
            return self._serve(number, matching, matching[: self.per_page], ("between", after, before))

    def lowest_served(self, n: int = 1) -> list[int]:
        """The ``n`` lowest ids already served and still in the set (they shift every later record)."""
        return sorted(r["id"] for r in self.live if r["id"] in self.served)[:n]

    @property
    def stayed(self) -> set[int]:
        """Ids that never left the set: each must be yielded exactly once."""
        return {r["id"] for r in self.all} - set(self.removed)

    def between_calls(self) -> list[tuple]:
        return [r[1:] for r in self.requests if r[0] == "between"]


def every_nth_request(n: int, per_churn: int = 1):
    """Churn rule: after every ``n``-th request, the lowest-id records already served leave the set."""
    def churn(lst: ChangingList) -> list[int]:
        return lst.lowest_served(per_churn) if len(lst.requests) % n == 0 else []
    return churn


def after_page_one(k: int):
    """Churn rule: once page 1 is served (before any other page), ``k`` of its records leave the set."""
    def churn(lst: ChangingList) -> list[int]:
        return lst.lowest_served(k) if lst.requests == [("page", 1)] else []
    return churn


def _read(lst: ChangingList, *, concurrency: int, keyset: bool = True, guard: WindowGuard | None = None):
    """Read ``lst`` through iterate_pages: (ids yielded, counters, ids yielded by gap re-reads)."""
    counts: dict[str, int] = {}

    def count(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    ids: list[int] = []
    from_gaps: list[int] = []
    for page in iterate_pages(lst.fetch, endpoint="orders", concurrency=concurrency, guard=guard,
                              fetch_between=lst.fetch_between if keyset else None, count=count):
        ids += [r["id"] for r in page]
        if lst.between_calls():  # gap re-reads start only once every numbered page was yielded
            from_gaps += [r["id"] for r in page]
    return ids, counts, from_gaps


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize(("every", "per_churn"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_every_record_that_stayed_is_yielded_exactly_once(concurrency: int, every: int, per_churn: int) -> None:
    lst = ChangingList(600, churn=every_nth_request(every, per_churn))
    ids, counts, from_gaps = _read(lst, concurrency=concurrency)
    assert lst.removed  # the set did change while it was paged
    assert len(ids) == len(set(ids))
    assert lst.stayed <= set(ids) <= {r["id"] for r in lst.all}
    assert counts["gap_reads"] >= 1 and counts.get("gap_records", 0) == len(from_gaps)
    assert all(lst.requests[i][0] == "page" for i in range(len(lst.requests) - len(lst.between_calls())))


@pytest.mark.parametrize("concurrency", [1, 4])
def test_without_gap_reads_the_same_churn_loses_records(concurrency: int) -> None:
    """The test above can fail: the fake reproduces the loss when ``fetch_between`` is not given."""
    lst = ChangingList(600, churn=every_nth_request(2))
    ids, counts, _ = _read(lst, concurrency=concurrency, keyset=False)
    assert lst.stayed - set(ids) and not counts
    if concurrency == 1:
        # page k+1 starts k // 2 records further than page k ended: exactly those records are lost
        assert len(lst.stayed - set(ids)) == sum(k // 2 > (k - 1) // 2 for k in range(1, 12))


@pytest.mark.parametrize("concurrency", [1, 4])
def test_departures_after_page_one_slide_records_onto_it(concurrency: int) -> None:
    """The drill: 3 orders of page 1 change; every later page shifts by 3, so 3 orders slide onto page 1."""
    slid = [1000 + 3 * k for k in (50, 51, 52)]  # first three of page 2 before the change
    lost = ChangingList(600, churn=after_page_one(3))
    ids, _, _ = _read(lost, concurrency=concurrency, keyset=False)
    assert sorted(lost.stayed - set(ids)) == slid

    lst = ChangingList(600, churn=after_page_one(3))
    ids, counts, from_gaps = _read(lst, concurrency=concurrency)
    assert set(ids) == lst.stayed | set(lst.removed) and len(ids) == len(set(ids))
    assert from_gaps == slid and counts == {"gap_reads": 2, "gap_records": 3}
    page1_last, page2_first = 1000 + 3 * 49, 1000 + 3 * 53
    assert lst.between_calls() == [(page1_last, page2_first), (1000 + 3 * 599, None)]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_stable_set_costs_no_extra_request(concurrency: int) -> None:
    lst = ChangingList(50 * 12 + 7)
    ids, counts, _ = _read(lst, concurrency=concurrency)
    assert ids == [r["id"] for r in lst.all] and counts == {}
    assert sorted(lst.requests) == [("page", n) for n in range(1, 14)]


def test_gap_reads_only_where_totals_differ() -> None:
    """One change after page 3: only the boundary 3|4 (totals 600 vs 599) and the tail are re-read."""
    lst = ChangingList(600, churn=lambda lst: lst.lowest_served(1) if len(lst.requests) == 3 else [])
    ids, counts, from_gaps = _read(lst, concurrency=1)
    page3_last, page4_first = 1000 + 3 * 149, 1000 + 3 * 151  # 150 slid onto page 3
    assert lst.between_calls() == [(page3_last, page4_first), (1000 + 3 * 599, None)]
    assert from_gaps == [1000 + 3 * 150] and counts == {"gap_reads": 2, "gap_records": 1}
    assert set(ids) == {r["id"] for r in lst.all}


def test_empty_page_before_the_expected_last_reads_the_tail() -> None:
    """Page 1 loses every record after it was read: page 2 comes back empty; the tail is read by id."""
    lst = ChangingList(100, churn=after_page_one(50))
    ids, counts, from_gaps = _read(lst, concurrency=4)
    assert ids == [r["id"] for r in lst.all]
    assert lst.between_calls() == [(1000 + 3 * 49, None), (1000 + 3 * 99, None)]  # the tail, then its next page
    assert len(from_gaps) == 50 and counts == {"gap_reads": 1, "gap_records": 50}


def test_gap_read_of_many_pages_continues_by_keyset() -> None:
    lst = ChangingList(400, churn=after_page_one(50))  # pages 2..8 all shift by a full page
    ids, counts, _ = _read(lst, concurrency=2)
    assert set(ids) == {r["id"] for r in lst.all} and len(ids) == 400
    calls = lst.between_calls()
    assert calls[0] == (1000 + 3 * 49, 1000 + 3 * 100) and counts["gap_records"] == 50
    assert calls[1] == (1000 + 3 * 99, 1000 + 3 * 100)  # full first gap page: read on after its last id


def test_sequential_reading_without_total_is_keyset() -> None:
    lst = ChangingList(320, churn=every_nth_request(1), with_total=False)
    ids, counts, _ = _read(lst, concurrency=4)
    assert lst.stayed <= set(ids) and len(ids) == len(set(ids)) and counts == {}
    assert lst.requests[0] == ("page", 1) and all(r[0] == "between" and r[2] is None for r in lst.requests[1:])
    lost = ChangingList(320, churn=every_nth_request(1), with_total=False)
    ids, _, _ = _read(lost, concurrency=1, keyset=False)
    assert lost.stayed - set(ids)  # numbered reading without total loses them


def test_keyset_read_that_ignores_id_conditions_is_an_error() -> None:
    lst = ChangingList(200, churn=after_page_one(1))
    lst.fetch_between = lambda after, before, n: lst.fetch(1)  # the API ignores the id conditions
    with pytest.raises(QticketsPaginationError, match=r"id > 1147, id < 1153.*does not apply `id` conditions"):
        _read(lst, concurrency=1)


def test_gap_reads_go_through_the_window_guard() -> None:
    lst = ChangingList(200, churn=after_page_one(1))
    real = lst.fetch_between

    def outside(after: int, before: int | None, n: int) -> Page:
        page = real(after, before, n)
        return Page(n, [{**r, "updated_at": "2021-05-18T12:23:40+03:00"} for r in page.records],
                    per_page=page.per_page, total=page.total)

    lst.fetch_between = outside
    with pytest.raises(QticketsFilterIgnoredError, match=r"page 1 \(keyset: id > 1147, id < 1153\) holds record"):
        _read(lst, concurrency=2, guard=WindowGuard("updated_at", WINDOW))


def test_hook_sends_keyset_conditions_for_gaps(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    hook = _connect(monkeypatch, concurrency=2)
    records = _orders(150)
    where = [{"column": "updated_at", "operator": ">=", "value": START}]

    def changing(request, context):
        body = request.json()
        live = records if len(m.request_history) <= 1 else records[1:]  # order 1 changes after page 1
        for cond in body["where"][1:]:
            assert cond["column"] == "id"
            above = cond["operator"] == ">"
            live = [r for r in live if (r["id"] > cond["value"] if above else r["id"] < cond["value"])]
        page = body["page"]
        return {"data": live[(page - 1) * 50: page * 50], "paging": {"perPage": 50, "currentPage": page,
                                                                   "total": len(live)}}

    with requests_mock.Mocker() as m, caplog.at_level("INFO", logger="qtickets.pagination"):
        m.get(ORDERS, json=changing)
        ids = [r["id"] for p in hook.iter_pages("orders", where=where, order_by={"id": "asc"}) for r in p]
        bodies = [r.json() for r in m.request_history]
    assert sorted(ids) == list(range(1, 151)) and len(ids) == 150
    # The two gap reads run concurrently: their order in the history is the threads', not ours.
    gap, tail = sorted(bodies[3:], key=lambda body: -len(body["where"]))
    assert len(bodies) == 5
    assert gap == {"where": [{"column": "updated_at", "operator": ">=", "value": "2025-11-07T00:00:00+03:00"},
                             {"column": "id", "operator": ">", "value": 50},
                             {"column": "id", "operator": "<", "value": 52}],
                   "orderBy": {"id": "asc"}, "page": 1}
    assert tail["where"][1:] == [{"column": "id", "operator": ">", "value": 150}]  # the tail
    assert (hook.stats.gap_reads, hook.stats.gap_records, hook.stats.pages) == (2, 1, 5)
    assert "re-read 2 gaps between pages by id (2 requests), found 1 records" in caplog.text


def test_hook_without_id_order_keeps_numbered_pages_and_warns(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    hook = _connect(monkeypatch)
    records = _orders(150)

    def changing(request, context):
        page = _page_of(request)
        live = records if page == 1 else records[1:]
        return {"data": live[(page - 1) * 50: page * 50], "paging": {"perPage": 50, "currentPage": page,
                                                                   "total": len(live)}}

    with requests_mock.Mocker() as m, caplog.at_level("WARNING", logger="qtickets.pagination"):
        m.get(ORDERS, json=changing)
        ids = [r["id"] for p in hook.iter_pages("orders", order_by={"payed_at": "asc"}) for r in p]
        assert _pages_requested(m) == [1, 2, 3]
    assert 51 not in ids and hook.stats.gap_reads == 0
    assert "records that moved between pages may have been missed" in caplog.text
