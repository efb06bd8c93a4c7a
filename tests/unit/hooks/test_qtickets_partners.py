"""QticketsPartnersHook and the single-call helpers of QticketsHook (seats, barcodes)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests_mock

from qtickets.exceptions import (
    QticketsAuthError,
    QticketsPartnersError,
    QticketsResponseError,
    QticketsTransientError,
)
from qtickets.hooks.qtickets import SEAT_COUNTER_FIELDS, QticketsHook, QticketsPartnersHook

TOKEN = "s3cret-token-0123456789"
KEY = "partner-key-9876543210"
REST = "https://qt.test/api/rest/v1"
PARTNERS = "https://qt.test/api/partners/v1"
WRONG_AUTH = {"status": "error", "code": "WRONG_AUTHORIZATION", "message": "Wrong authorization"}


@pytest.fixture
def partners(monkeypatch: pytest.MonkeyPatch) -> QticketsPartnersHook:
    conn = {"conn_type": "qtickets_partners", "host": PARTNERS, "password": KEY, "extra": {"max_retries": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_PARTNERS_DEFAULT", json.dumps(conn))
    return QticketsPartnersHook(sleep=lambda _s: None)


@pytest.fixture
def rest(monkeypatch: pytest.MonkeyPatch) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": REST, "password": TOKEN, "extra": {"max_retries": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=lambda _s: None)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        pytest.param({}, "/tickets/find", id="all events"),
        pytest.param({"event_id": 33}, "/tickets/find/33", id="one event"),
        pytest.param({"event_id": 33, "show_id": 41}, "/tickets/find/33/41", id="one show"),
    ],
)
def test_find_tickets_posts_filter(partners: QticketsPartnersHook, kwargs: dict, path: str) -> None:
    tickets = [{"id": 1, "paid": 1, "barcode": "871495495233", "deleted": 0}]
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}{path}", json={"status": "success", "result": tickets})
        assert partners.find_tickets({"barcode": ["871495495233"]}, **kwargs) == tickets
        sent = m.last_request
    assert sent.method == "POST" and sent.json() == {"filter": {"barcode": ["871495495233"]}}
    assert sent.headers["Authorization"] == f"Bearer {KEY}"


def test_find_tickets_wrong_authorization_in_200_fails_fast(partners: QticketsPartnersHook) -> None:
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}/tickets/find", json=WRONG_AUTH)
        with pytest.raises(QticketsAuthError, match="partner key issued by QTickets support") as info:
            partners.find_tickets({"id": 1})
        assert m.call_count == 1
    assert (info.value.status, info.value.code) == (200, "WRONG_AUTHORIZATION")
    assert KEY not in str(info.value)


def test_captured_wrong_authorization_body(partners: QticketsPartnersHook, captures_dir: Any) -> None:
    body = (captures_dir / "partners_wrong_authorization.json").read_text()
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}/tickets/find/12/41", text=body, headers={"Content-Type": "application/json"})
        with pytest.raises(QticketsAuthError):
            partners.find_tickets({"id": 1}, event_id=12, show_id=41)


def test_other_partner_error_carries_code(partners: QticketsPartnersHook) -> None:
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}/tickets/find/5", json={"status": "error", "code": "EVENT_NOT_FOUND",
                                                   "message": "Event not found"})
        with pytest.raises(QticketsPartnersError, match="EVENT_NOT_FOUND Event not found") as info:
            partners.find_tickets({"id": 1}, event_id=5)
        assert m.call_count == 1
    assert type(info.value) is QticketsPartnersError and info.value.code == "EVENT_NOT_FOUND"


def test_partner_5xx_is_retried(partners: QticketsPartnersHook) -> None:
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}/tickets/find", [{"status_code": 502}, {"json": {"status": "success", "result": []}}])
        assert partners.find_tickets({"id": 1}) == []
        assert m.call_count == 2


def test_partner_bad_envelope(partners: QticketsPartnersHook) -> None:
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}/tickets/find", json={"data": []})
        with pytest.raises(QticketsResponseError, match="expected"):
            partners.find_tickets({"id": 1})


def test_show_id_without_event_id_is_refused(partners: QticketsPartnersHook) -> None:
    with pytest.raises(ValueError, match="show_id needs event_id"):
        partners.find_tickets({"id": 1}, show_id=41)


def test_partners_test_connection(partners: QticketsPartnersHook) -> None:
    with requests_mock.Mocker() as m:
        m.post(f"{PARTNERS}/tickets/find", [{"json": WRONG_AUTH}, {"json": {"status": "success", "result": []}}])
        ok, message = partners.test_connection()
        assert not ok and "WRONG_AUTHORIZATION" in message and KEY not in message
        ok, message = partners.test_connection()
        assert ok and "partner key accepted" in message
        assert m.last_request.json() == {"filter": {"id": ["0"]}}


def test_show_seats_get_query_never_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "qtickets", "host": REST, "password": TOKEN,
            "extra": {"max_retries": 0, "filter_transport": "get_query", "post_fallback": True}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    hook = QticketsHook(sleep=lambda _s: None)
    with requests_mock.Mocker() as m:
        get = m.get(f"{REST}/shows/3/seats", [{"status_code": 503}, {"json": {"data": {}}}])
        post = m.post(f"{REST}/shows/3/seats", json={"data": {}})
        with pytest.raises(QticketsTransientError, match="still failing"):
            hook.get_show_seats(3)
        assert post.call_count == 0  # fallback is for list requests only: POST may create things
        assert hook.get_show_seats(3) == {}
        query = parse_qs(urlparse(get.last_request.url).query)
    assert query["flat"] == ["true"] and json.loads(query["select"][0]) == list(SEAT_COUNTER_FIELDS)


def test_show_seats_sends_select_and_flat(rest: QticketsHook) -> None:
    seats = {"full_A-1;6": {"id": "full_A-1;6", "max_quantity": 1, "free_quantity": 1, "payed_quantity": 0}}
    with requests_mock.Mocker() as m:
        m.get(f"{REST}/shows/152887/seats", json={"data": seats})
        assert rest.get_show_seats(152887) == seats
        sent = m.last_request
    assert sent.method == "GET"
    assert sent.json() == {"select": list(SEAT_COUNTER_FIELDS), "flat": True}
    assert {"max_quantity", "free_quantity", "payed_quantity", "color_theme_id"} <= set(SEAT_COUNTER_FIELDS)


def test_show_seats_empty_php_array_and_bad_shape(rest: QticketsHook) -> None:
    with requests_mock.Mocker() as m:
        m.get(f"{REST}/shows/1/seats", json={"data": []})
        m.get(f"{REST}/shows/2/seats", json={"data": "nope"})
        assert rest.get_show_seats(1) == {}
        with pytest.raises(QticketsResponseError, match="seat_id"):
            rest.get_show_seats(2)


def test_show_barcodes_bare_array(rest: QticketsHook) -> None:
    barcodes = [{"barcode": "871495495233", "price": 500, "seat_name": "Партер"}]
    with requests_mock.Mocker() as m:
        m.get(f"{REST}/shows/7/barcodes", json=barcodes)
        m.get(f"{REST}/shows/8/barcodes", json={"error": "x"})
        assert rest.get_show_barcodes(7) == barcodes
        with pytest.raises(QticketsResponseError, match="expected a JSON array"):
            rest.get_show_barcodes(8)
