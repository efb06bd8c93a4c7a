"""QticketsHook retries and error classification (requests-mock, a fake clock; nothing sleeps for real)."""

from __future__ import annotations

import hashlib
import json
import logging
import random

import pytest
import requests
import requests_mock
from airflow.sdk.exceptions import AirflowFailException

from qtickets.exceptions import (
    QticketsAuthError,
    QticketsClientError,
    QticketsNotFoundError,
    QticketsResponseError,
    QticketsTransientError,
    QticketsUndecodableBodyError,
)
from qtickets.hooks._http import HookSettings, next_retry_wait
from qtickets.hooks.qtickets import QticketsHook

TOKEN = "s3cret-token-0123456789"
BASE = "https://qt.test/api/rest/v1"
URL = f"{BASE}/orders/7"
ERR_503 = {"error": "Unknown error", "status": 503, "code": "UNKNOWN_ERROR", "info": []}
# Personal data planted in 2xx bodies: none of it may reach an error's text or fields.
EMAIL, NAME = "ivan.petrov@example.ru", "Иван Петров"


class FakeClock:
    """Monotonic clock and sleep in one: sleeping advances the clock, requests can too (``advance``)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps(clock: FakeClock) -> list[float]:
    return clock.sleeps


def _connect(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, **extra) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=clock.sleep, clock=clock)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> QticketsHook:
    """A hook with a count cap of 3 retries (the budget-only default is tested with ``_connect``)."""
    return _connect(monkeypatch, clock, max_retries=3, backoff_base=1, backoff_max=30)


def _all_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), json.dumps(exc.as_dict(), ensure_ascii=False, default=str)])


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
    assert "attempt 1 failed" in warnings[0] and "attempt 2 failed" in warnings[1]
    assert "600 s retry budget left" in warnings[0] and TOKEN not in "\n".join(warnings)


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


def test_backoff_is_capped_by_backoff_max(monkeypatch: pytest.MonkeyPatch, clock: FakeClock,
                                         sleeps: list[float]) -> None:
    hook = _connect(monkeypatch, clock, max_retries=6, backoff_base=1, backoff_max=4)
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=502)
        with pytest.raises(QticketsTransientError):
            hook.request_json("GET", "orders/7")
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
    assert "max_retries=3 reached" in str(err) and err.attempts == 4
    assert err.elapsed_s == pytest.approx(sum(sleeps), abs=1e-3)
    assert len(sleeps) == 3 and err.retryable and not isinstance(err, AirflowFailException)


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


BAD_2XX_BODIES = [
    pytest.param(f'{{"data": [{{"id": 1, "email": "{EMAIL}", "name": "{NAME}"}}, {{"id"',
                 {"Content-Type": "application/json"}, "not valid JSON", id="truncated JSON"),
    pytest.param(f"Upstream hiccup for {NAME} <{EMAIL}>, try later", {"Content-Type": "text/plain"},
                 "not valid JSON", id="non-JSON"),
    pytest.param(f"<html><body>Технические работы; last buyer {NAME} {EMAIL}</body></html>",
                 {"Content-Type": "text/html; charset=utf-8"}, "HTML page", id="HTML 200"),
    pytest.param("", {}, "empty body", id="empty body"),
]


@pytest.mark.parametrize(("body", "headers", "message"), BAD_2XX_BODIES)
def test_bad_2xx_body_is_retried_then_succeeds(hook: QticketsHook, sleeps: list[float], body: str,
                                               headers: dict, message: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 200, "text": body, "headers": headers},
                    {"status_code": 200, "json": {"data": {"id": 7}}}])
        with caplog.at_level(logging.WARNING):
            assert hook.request_json("GET", "orders/7") == {"data": {"id": 7}}
        assert m.call_count == 2
    assert len(sleeps) == 1 and (hook.stats.requests, hook.stats.retries) == (2, 1)
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "HTTP 200 with" in warnings and message.split()[0] in warnings
    assert EMAIL not in warnings and NAME not in warnings


@pytest.mark.parametrize(("body", "headers", "message"), BAD_2XX_BODIES)
def test_bad_2xx_body_final_error_carries_no_body_text(monkeypatch: pytest.MonkeyPatch, clock: FakeClock,
                                                       body: str, headers: dict, message: str) -> None:
    hook = _connect(monkeypatch, clock, retry_budget=60, backoff_base=2, backoff_max=8)
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=200, text=body, headers=headers)
        with pytest.raises(QticketsUndecodableBodyError, match=message) as info:
            hook.request_json("GET", "orders/7")
        calls = m.call_count
    err = info.value
    # Retryable by Airflow (the budget was spent on something a later attempt may not meet).
    assert isinstance(err, QticketsTransientError) and not isinstance(err, AirflowFailException)
    assert calls > 3 and err.attempts == calls and "retry_budget of 60 s is spent" in str(err)
    assert "Traceback" not in str(err)
    raw = body.encode()
    assert (err.status, err.url, err.body_preview) == (200, URL, None)
    assert (err.body_bytes, err.body_sha256) == (len(raw), hashlib.sha256(raw).hexdigest()[:12])
    assert err.content_type == (headers.get("Content-Type") or None)
    assert err.parse_error and err.as_dict()["parse_error"] == err.parse_error
    text = _all_text(err)
    assert EMAIL not in text and NAME not in text and "ivan" not in text.lower()
    for fragment in ("Технические", "hiccup", '"data"', "<body>"):  # nothing of the body, not even the harmless part
        assert fragment not in text


def test_truncated_body_error_says_where_parsing_failed(monkeypatch: pytest.MonkeyPatch,
                                                        clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, max_retries=0)
    body = '{"data": [{"id": 1}, {"id"'
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=200, text=body, headers={"Content-Type": "application/json"})
        with pytest.raises(QticketsUndecodableBodyError) as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert info.value.parse_error == f"unexpected end of data at char {len(body)} (line 1, column {len(body) + 1})"
    assert info.value.parse_error in str(info.value) and "max_retries=0 reached" in str(info.value)


def test_valid_json_with_a_broken_envelope_is_not_retried(monkeypatch: pytest.MonkeyPatch,
                                                          clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, concurrency=1)
    payload = {"data": {"buyer": {"email": EMAIL, "name": NAME}}, "paging": {"perPage": 50, "total": 1}}
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders", json=payload)
        with pytest.raises(QticketsResponseError, match=r"expected \{'data': \[") as info:
            list(hook.iter_pages("orders"))
        assert m.call_count == 1
    err = info.value
    assert isinstance(err, AirflowFailException) and not err.retryable and clock.sleeps == []
    assert err.body_preview is None and err.body_bytes and err.body_sha256
    text = _all_text(err)
    assert EMAIL not in text and NAME not in text


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(requests.exceptions.ConnectTimeout, id="connect timeout"),
        pytest.param(requests.exceptions.ReadTimeout, id="read timeout"),
        pytest.param(requests.exceptions.ConnectionError, id="connection error"),
        pytest.param(requests.exceptions.ChunkedEncodingError, id="chunked encoding"),
        pytest.param(requests.exceptions.ContentDecodingError, id="cut gzip stream"),
    ],
)
def test_network_errors_are_retried_then_transient(hook: QticketsHook, sleeps: list[float], exc: type) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, exc=exc("boom"))
        with pytest.raises(QticketsTransientError, match=exc.__name__) as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 4
    assert info.value.status is None and len(sleeps) == 3


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(requests.exceptions.ReadTimeout("slow"), id="read timeout"),
        pytest.param(requests.exceptions.ConnectionError("Connection reset by peer"), id="connection reset"),
        pytest.param(requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
                     id="chunked encoding"),
    ],
)
def test_network_error_then_success(hook: QticketsHook, exc: Exception) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"exc": exc}, {"json": {"data": {"id": 7}}}])
        assert hook.request_json("GET", "orders/7")["data"]["id"] == 7
        assert m.call_count == 2
    assert (hook.stats.requests, hook.stats.retries) == (2, 1)


def test_token_never_in_logs_or_errors(monkeypatch: pytest.MonkeyPatch, clock: FakeClock,
                                      caplog: pytest.LogCaptureFixture) -> None:
    hook = _connect(monkeypatch, clock, max_retries=1)
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


# -- the retry budget ---------------------------------------------------------------------------


def test_twelve_503s_then_200_succeed_within_the_default_budget(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The drill: some pages met 8-12 503s in a row; with the defaults the page must still arrive."""
    hook = _connect(monkeypatch, clock)  # no retry extras at all: retry_budget 600 s, no count cap
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 503, "json": ERR_503}] * 12 + [{"json": {"data": {"id": 7}}}])
        with caplog.at_level(logging.WARNING):
            assert hook.request_json("GET", "orders/7") == {"data": {"id": 7}}
        assert m.call_count == 13
    assert (hook.stats.requests, hook.stats.retries) == (13, 12) and len(clock.sleeps) == 12
    assert clock.now - 1000.0 == pytest.approx(sum(clock.sleeps)) and sum(clock.sleeps) <= 600
    assert max(clock.sleeps) <= 30.0  # backoff_max
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 12
    assert "attempt 12 failed (HTTP 503); retry 12 in" in warnings[11]  # no "/N": no count cap
    assert "of the 600 s retry budget left" in warnings[11]


def test_spent_budget_raises_transient_naming_the_budget(monkeypatch: pytest.MonkeyPatch,
                                                         clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, retry_budget=60, backoff_base=10, backoff_max=10)  # waits of 5-10 s
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=503, json=ERR_503)
        with pytest.raises(QticketsTransientError) as info:
            hook.request_json("GET", "orders/7")
        calls = m.call_count
    err = info.value
    assert type(err) is QticketsTransientError and err.retryable
    waited = sum(clock.sleeps)
    assert 50 < waited <= 60  # it used the budget: one more wait of at most 10 s would have passed 60 s
    assert calls == len(clock.sleeps) + 1 == err.attempts and hook.stats.retries == calls - 1
    message = str(err)
    assert "retry_budget of 60 s is spent" in message and f"after {calls} attempts over {waited:.0f} s" in message
    assert "raise the connection extra retry_budget on 'qtickets_default'" in message
    assert (err.status, err.code) == (503, "UNKNOWN_ERROR") and "UNKNOWN_ERROR" in err.body_preview


def test_time_spent_in_requests_counts_against_the_budget(monkeypatch: pytest.MonkeyPatch,
                                                          clock: FakeClock) -> None:
    """Each attempt hangs 25 s before its 504: the budget is wall time since the first attempt."""
    hook = _connect(monkeypatch, clock, retry_budget=100, backoff_base=0.5, backoff_max=0.5)

    def slow_504(request, context):
        clock.advance(25)
        context.status_code = 504
        return "gateway timeout"

    with requests_mock.Mocker() as m:
        m.get(URL, text=slow_504)
        with pytest.raises(QticketsTransientError, match="retry_budget of 100 s is spent") as info:
            hook.request_json("GET", "orders/7")
        # ~25, 50, 75, 100+ s (waits of 0.25-0.5 s between): after the 4th attempt no wait fits in 100 s.
        assert m.call_count == 4
    assert info.value.elapsed_s == pytest.approx(4 * 25 + sum(clock.sleeps), abs=1e-3)


def test_zero_budget_means_no_retry(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, retry_budget=0)
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=503, json=ERR_503)
        with pytest.raises(QticketsTransientError, match="retry_budget of 0 s is spent"):
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert clock.sleeps == [] and hook.stats.retries == 0


def test_budget_is_per_request(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """Two pages that each need most of the budget both succeed: the clock restarts per request."""
    hook = _connect(monkeypatch, clock, retry_budget=40)
    busy = {"status_code": 503, "headers": {"Retry-After": "12"}}  # 3 waits of 12 s fit in 40 s, once
    with requests_mock.Mocker() as m:
        m.get(URL, [busy] * 3 + [{"json": {"data": {"id": 7}}}])
        m.get(f"{BASE}/orders/8", [busy] * 3 + [{"json": {"data": {"id": 8}}}])
        assert hook.request_json("GET", "orders/7")["data"]["id"] == 7
        assert hook.request_json("GET", "orders/8")["data"]["id"] == 8
    assert clock.sleeps == [12.0] * 6 and hook.stats.retries == 6


def test_retry_after_past_the_budget_gives_up_instead_of_sleeping(monkeypatch: pytest.MonkeyPatch,
                                                                  clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, retry_budget=60)
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=429, headers={"Retry-After": "90"}, text="slow down")
        with pytest.raises(QticketsTransientError, match="HTTP 429") as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert clock.sleeps == [] and info.value.status == 429


def test_retry_after_is_honoured_without_a_count_cap(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock)
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 429, "headers": {"Retry-After": "45"}}] * 3 + [{"json": {"data": {}}}])
        assert hook.request_json("GET", "orders/7") == {"data": {}}
        assert m.call_count == 4
    assert clock.sleeps == [45.0, 45.0, 45.0]


def test_max_retries_caps_before_the_budget(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, max_retries=2, retry_budget=86400)
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=500)
        with pytest.raises(QticketsTransientError, match="max_retries=2 reached") as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 3
    assert len(clock.sleeps) == 2 and info.value.attempts == 3


def test_undecodable_then_503_then_good(hook: QticketsHook, sleeps: list[float]) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, [{"status_code": 200, "text": f'{{"email": "{EMAIL}"'}, {"status_code": 503},
                    {"status_code": 200, "json": {"data": {"id": 7}}}])
        assert hook.request_json("GET", "orders/7") == {"data": {"id": 7}}
        assert m.call_count == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422])
def test_4xx_is_never_retried(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, status: int) -> None:
    hook = _connect(monkeypatch, clock)  # the default budget must not make 4xx answers retry
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=status, json={"error": "no", "status": status})
        with pytest.raises(QticketsClientError) as info:
            hook.request_json("GET", "orders/7")
        assert m.call_count == 1
    assert isinstance(info.value, AirflowFailException) and info.value.status == status
    assert clock.sleeps == [] and (hook.stats.requests, hook.stats.retries) == (1, 0)


def test_config_error_is_not_retried(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, retry_budget="soon")
    with requests_mock.Mocker() as m, pytest.raises(AirflowFailException, match="retry_budget"):
        hook.request_json("GET", "orders/7")
    assert m.call_count == 0 and clock.sleeps == []


def test_no_op_sleep_without_a_clock_still_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """An injected no-op sleep with the real clock: the waits still count, so the budget still ends it."""
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN, "extra": {"retry_budget": 120}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    waits: list[float] = []
    hook = QticketsHook(sleep=waits.append)
    with requests_mock.Mocker() as m:
        m.get(URL, status_code=503)
        with pytest.raises(QticketsTransientError, match="retry_budget of 120 s is spent"):
            hook.request_json("GET", "orders/7")
        assert m.call_count == len(waits) + 1
    assert 90 < sum(waits) <= 120


def test_post_fallback_after_the_budget_is_spent(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, post_fallback=True, retry_budget=30, concurrency=1)
    where = [{"column": "payed", "value": 1}]
    with requests_mock.Mocker() as m:
        get = m.get(f"{BASE}/orders", status_code=503, json=ERR_503)
        post = m.post(f"{BASE}/orders", json={"data": [{"id": 1}], "paging": {"perPage": 50, "total": 1}})
        assert list(hook.iter_pages("orders", where=where)) == [[{"id": 1}]]
    assert get.call_count > 3 and post.call_count == 1 and hook.stats.post_fallbacks == 1
    assert post.last_request.json() == {"where": where, "page": 1}


def test_post_fallback_not_used_for_undecodable_bodies(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    hook = _connect(monkeypatch, clock, post_fallback=True, retry_budget=30, concurrency=1)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders", status_code=200, text="<html>proxy</html>", headers={"Content-Type": "text/html"})
        post = m.post(f"{BASE}/orders", json={"data": []})
        with pytest.raises(QticketsUndecodableBodyError):
            list(hook.iter_pages("orders", where=[{"column": "payed", "value": 1}]))
        assert post.call_count == 0


# -- the pure retry planner ------------------------------------------------------------------------


def _settings(**kw) -> HookSettings:
    return HookSettings(conn_id="c", base_url=BASE, token="t", **kw)


@pytest.mark.parametrize(
    ("kw", "attempts", "elapsed", "retry_after", "expected"),
    [
        pytest.param({}, 1, 0.0, 7.0, 7.0, id="Retry-After replaces the backoff"),
        pytest.param({}, 40, 0.0, 7.0, 7.0, id="no count cap by default"),
        pytest.param({"retry_budget": 10.0}, 1, 3.0, 7.0, 7.0, id="wait ends exactly at the budget"),
        pytest.param({"retry_budget": 10.0}, 1, 3.5, 7.0, None, id="wait would pass the budget"),
        pytest.param({"max_retries": 2}, 2, 0.0, 1.0, 1.0, id="under the cap"),
        pytest.param({"max_retries": 2}, 3, 0.0, 1.0, None, id="cap reached"),
        pytest.param({"max_retries": 0}, 1, 0.0, 0.0, None, id="cap of zero"),
    ],
)
def test_next_retry_wait(kw: dict, attempts: int, elapsed: float, retry_after: float | None,
                         expected: float | None) -> None:
    got = next_retry_wait(_settings(**kw), attempts=attempts, elapsed=elapsed, retry_after=retry_after,
                          rng=random.Random(0))
    assert got == expected


def test_next_retry_wait_backoff_has_jitter_and_cap() -> None:
    settings = _settings(backoff_base=1.0, backoff_max=30.0)
    rng = random.Random(1)
    waits = [next_retry_wait(settings, attempts=n, elapsed=0.0, retry_after=None, rng=rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(30.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(waits)) == len(waits)  # jittered
