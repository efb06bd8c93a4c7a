"""QticketsHook retries and error classification (requests-mock, injected no-op sleep)."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import requests_mock

from qtickets.exceptions import (
    QticketsAuthError,
    QticketsClientError,
    QticketsNotFoundError,
    QticketsResponseError,
    QticketsTransientError,
)
from qtickets.hooks.qtickets import QticketsHook

TOKEN = "s3cret-token-0123456789"
BASE = "https://qt.test/api/rest/v1"
URL = f"{BASE}/orders/7"
ERR_503 = {"error": "Unknown error", "status": 503, "code": "UNKNOWN_ERROR", "info": []}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN,
            "extra": {"max_retries": 3, "backoff_base": 1, "backoff_max": 30}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=sleeps.append)


def test_503_503_200_succeeds_after_two_retries(hook: QticketsHook, sleeps: list[float],
                                                caplog: pytest.LogCaptureFixture) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 503, "json": ERR_503}, {"status_code": 503, "json": ERR_503},
                    {"status_code": 200, "json": {"data": {"id": 7}}}])
        with caplog.at_level(logging.WARNING):
            assert hook.request_json("GET", "orders/7") == {"data": {"id": 7}}
        assert m.call_count == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # exponential with equal jitter
    assert (hook.stats.requests, hook.stats.retries) == (3, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "retry 1/3" in warnings[0] and "retry 2/3" in warnings[1] and "HTTP 503" in warnings[0]


def test_429_honours_retry_after(hook: QticketsHook, sleeps: list[float]) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 429, "headers": {"Retry-After": "7"}, "text": "slow down"},
                    {"status_code": 200, "json": {"data": {}}}])
        hook.request_json("GET", "orders/7")
        assert m.call_count == 2
    assert sleeps == [7.0]


def test_retry_after_is_capped(hook: QticketsHook, sleeps: list[float]) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 429, "headers": {"Retry-After": "86400"}},
                    {"status_code": 200, "json": {}}])
        hook.request_json("GET", "orders/7")
    assert sleeps == [120.0]


def test_backoff_is_capped_by_backoff_max(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN,
            "extra": {"max_retries": 6, "backoff_base": 1, "backoff_max": 4}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=502)
        with pytest.raises(QticketsTransientError):
            QticketsHook(sleep=sleeps.append).request_json("GET", "orders/7")
        assert m.call_count == 7
    assert len(sleeps) == 6 and max(sleeps) <= 4.0 and min(sleeps[3:]) >= 2.0


def test_retries_exhausted_raise_transient_with_details(hook: QticketsHook, sleeps: list[float]) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=503, json=ERR_503, headers={"X-Request-Id": "req-42"})
        with pytest.raises(QticketsTransientError) as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 4  # 1 + max_retries
    err = info.value
    assert (err.status, err.code, err.request_id, err.url) == (503, "UNKNOWN_ERROR", "req-42", URL)
    assert "UNKNOWN_ERROR" in err.body_preview and "after 4 attempts" in str(err)
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_is_not_retried(hook: QticketsHook, sleeps: list[float], status: int) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=status, json={"error": "Forbidden", "status": status})
        with pytest.raises(QticketsAuthError, match="refused the token") as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert sleeps == [] and info.value.status == status


def test_json_404_is_not_found(hook: QticketsHook) -> None:
    body = {"error": 'Resource "Order" not found', "status": 404, "code": "RESOURCE_NOT_FOUND",
            "info": {"id": 7, "resource": "Order"}}
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=404, json=body)
        with pytest.raises(QticketsNotFoundError, match='Resource "Order" not found') as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert info.value.code == "RESOURCE_NOT_FOUND"
    assert "unknown route" not in str(info.value)


def test_html_404_is_unknown_route(hook: QticketsHook) -> None:
    html = "<!DOCTYPE html><html><head><title>Страница не найдена 404 – Qtickets</title></head>" + "x" * 12000
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/barcodes", status_code=404, text=html, headers={"Content-Type": "text/html"})
        with pytest.raises(QticketsNotFoundError, match="unknown route") as info:
            hook.request_json("GET", "barcodes")
        assert m.call_count == 1
    assert info.value.code is None and len(info.value.body_preview) <= 512


def test_other_4xx_is_client_error_not_retried(hook: QticketsHook, sleeps: list[float]) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=422, json={"error": "bad where", "status": 422, "code": "VALIDATION_ERROR"})
        with pytest.raises(QticketsClientError, match="HTTP 422") as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert type(info.value) is QticketsClientError and info.value.code == "VALIDATION_ERROR"
    assert sleeps == []


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        pytest.param('{"data": [{"id": 1}, {"id"', {"Content-Type": "application/json"},
                     "not valid JSON", id="truncated JSON"),
        pytest.param("Bad Gateway, try later", {"Content-Type": "text/plain"}, "not valid JSON", id="non-JSON"),
        pytest.param("<html><body>maintenance</body></html>", {"Content-Type": "text/html"}, "HTML page",
                     id="HTML 200"),
        pytest.param("", {}, "empty body", id="empty body"),
    ],
)
def test_bad_2xx_body_is_response_error(hook: QticketsHook, body: str, headers: dict, message: str) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=200, text=body, headers=headers)
        with pytest.raises(QticketsResponseError, match=message) as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert info.value.status == 200 and info.value.body_preview == body[:512]
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(requests.exceptions.ConnectTimeout, id="connect timeout"),
        pytest.param(requests.exceptions.ReadTimeout, id="read timeout"),
        pytest.param(requests.exceptions.ConnectionError, id="connection error"),
        pytest.param(requests.exceptions.ChunkedEncodingError, id="chunked encoding"),
    ],
)
def test_network_errors_are_retried_then_transient(hook: QticketsHook, sleeps: list[float], exc: type) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, exc=exc("boom"))
        with pytest.raises(QticketsTransientError, match=exc.__name__) as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 4
    assert info.value.status is None and len(sleeps) == 3


def test_network_error_then_success(hook: QticketsHook) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"exc": requests.exceptions.ReadTimeout("slow")}, {"json": {"data": {"id": 7}}}])
        assert hook.request_json("GET", "orders/7")["data"]["id"] == 7
        assert m.call_count == 2


def test_token_never_in_logs_or_errors(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN, "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    hook = QticketsHook(sleep=lambda _s: None)
    # A hostile server that echoes the Authorization header back in bodies and in the URL.
    echo = {"error": f"bad token Bearer {TOKEN}", "status": 403}
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG), requests_mock.Mocker() as m:
        m.get(f"{BASE}/a", status_code=403, json=echo)
        m.get(f"{BASE}/b", status_code=503, text=f"upstream saw {TOKEN}")
        m.get(f"{BASE}/c", status_code=200, text=f"<html>{TOKEN}</html>")
        m.get(f"{BASE}/d", exc=requests.exceptions.ConnectionError(f"cannot connect with {TOKEN}"))
        m.get(f"{BASE}/color-themes", status_code=403, json=echo)
        m.get(f"{BASE}/e", status_code=302, headers={"Location": f"{BASE}/x?token={TOKEN}"})
        for path in ("a", "b", "c", "d", "e"):
            with pytest.raises(Exception) as info:  # noqa: B017 - any typed error; text is checked below
                hook.request_json("GET", f"{path}?token={TOKEN}")
            err = info.value
            errors += [str(err), repr(err), json.dumps(getattr(err, "as_dict", dict)(), default=str)]
        ok, message = hook.test_connection()
    assert not ok
    errors.append(message)
    # Our records only: requests-mock itself logs the raw URL the test handed in at DEBUG.
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(("requests_mock", "urllib3"))]
    assert any("retry 1/1" in line for line in ours)
    text = "\n".join(errors + ours)
    assert TOKEN not in text
    assert "***" in text  # the redaction really ran (the secret was there to leak)
