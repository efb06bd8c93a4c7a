"""Hooks for the QTickets REST API (organiser token) and the Partners API (partner key).

Both sit on :class:`~airflow.providers.http.hooks.http.HttpHook` for the connection type, but keep one
cached ``requests.Session`` per hook, a default timeout on every request, retries bounded by a time
budget per request, and never
turn connection extras into headers (HttpHook does, and int extras break every request).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import cached_property
from typing import Any

import orjson
import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.exceptions import AirflowNotFoundException
from requests.adapters import HTTPAdapter

from qtickets import __version__
from qtickets.exceptions import (
    QticketsApiError,
    QticketsAuthError,
    QticketsConfigError,
    QticketsError,
    QticketsPartnersError,
    QticketsResponseError,
    QticketsTransientError,
    QticketsUndecodableBodyError,
)
from qtickets.hooks._http import (
    RETRYABLE_EXCEPTIONS,
    RETRYABLE_STATUSES,
    HookSettings,
    RequestStats,
    UndecodableBody,
    body_facts,
    decode_json,
    next_retry_wait,
    preview,
    raise_for_client_error,
    request_id_of,
    retry_after_seconds,
    sanitize_url,
    settings_from_connection,
    vendor_code_of,
)
from qtickets.pagination import Page, WindowGuard, iterate_pages
from qtickets.redaction import redact, register_connection
from qtickets.timeutil import format_api_ts

__all__ = ["QticketsHook", "QticketsPartnersHook", "RequestStats", "WindowGuard"]

USER_AGENT = f"qtickets-airflow/{__version__}"

#: requests errors that mean the request cannot be built from the connection (bad token or URL): no retry
#: helps, and their text quotes the header value or URL, so it is never kept.
CONFIG_EXCEPTIONS: dict[type[Exception], str] = {
    requests.exceptions.InvalidHeader: "a request header (the token) holds a character no HTTP header can carry",
    requests.exceptions.MissingSchema: "the base URL has no http:// or https:// scheme",
    requests.exceptions.InvalidSchema: "the base URL's scheme is not http or https",
    requests.exceptions.InvalidURL: "the base URL is not a valid URL",
    requests.exceptions.URLRequired: "no URL was given",
    UnicodeError: "the token or URL holds characters HTTP cannot carry",
}

# A stdlib logger rather than ``self.log``: in Airflow 3 ``self.log`` is a structlog logger that
# bypasses stdlib handlers (pytest's caplog cannot see it); stdlib records still reach the task log.
log = logging.getLogger(__name__)

#: Seat counters requested from ``shows/{id}/seats`` (without ``select`` the API returns no counters).
SEAT_COUNTER_FIELDS = (
    "id", "zone_id", "admission", "max_quantity", "free_quantity", "ordered_quantity", "payed_quantity",
    "in_basket_quantity", "available", "disabled", "price", "color_theme_id",
)


def _api_value(value: Any) -> Any:
    """Filter values for the vendor: datetimes as ``YYYY-MM-DDTHH:MM:SS+03:00``, recursively."""
    if isinstance(value, datetime):
        return format_api_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_api_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _api_value(v) for k, v in value.items()}
    return value


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _plain_query_value(value: Any) -> bool:
    """Strings and ints go into the query string as they are; everything else is JSON-encoded."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class QticketsHook(HttpHook):
    """Read the QTickets REST API v1 with the organiser token of an Airflow connection.

    Connection: Host = base URL (``https://qtickets.ru/api/rest/v1``), Password = API token. Extras
    (settings, never headers): ``timeout`` (60), ``connect_timeout`` (10), ``retry_budget`` (600 s per
    request, 0-86400), ``max_retries`` (unset: no count cap), ``backoff_base`` (1.0), ``backoff_max`` (30),
    ``concurrency`` (4, 1-16), ``filter_transport`` (``get_body`` | ``get_query``), ``post_fallback`` (false).

    :param qtickets_conn_id: Airflow connection id.
    :param sleep: function used to wait between retries (inject a no-op in tests).
    :param clock: monotonic clock, in seconds, that measures a request's retry budget (inject a fake in tests).
    """

    conn_name_attr = "qtickets_conn_id"
    default_conn_name = "qtickets_default"
    conn_type = "qtickets"
    hook_name = "QTickets REST API"

    def __init__(
        self,
        *,
        qtickets_conn_id: str = default_conn_name,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(method="GET", http_conn_id=qtickets_conn_id, tcp_keep_alive=False)
        self.qtickets_conn_id = qtickets_conn_id
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        self.stats = RequestStats()

    # -- configuration -------------------------------------------------------------------------

    @cached_property
    def settings(self) -> HookSettings:
        """Validated connection settings (read once, on first use)."""
        try:
            conn = self.get_connection(self.http_conn_id)
        except AirflowNotFoundException:
            raise QticketsConfigError(
                f"connection {self.http_conn_id!r} is not defined: create it (type {self.conn_type!r}) "
                f"or set AIRFLOW_CONN_{self.http_conn_id.upper()}"
            ) from None
        # Before validating: a malformed token is still a secret. Errors, XCom and run records are
        # redacted of it from now on, and Airflow's masker hides it in every task-log line.
        register_connection(conn)
        settings = settings_from_connection(
            self.http_conn_id,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            password=conn.password,
            extra=dict(conn.extra_dejson or {}),
        )
        self.base_url = settings.base_url
        self._base_url_initialized = True
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """The one session of this hook; its pool is sized so concurrent pages reuse connections."""
        settings = self.settings
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=settings.concurrency + 2, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(
            {
                "Authorization": f"Bearer {settings.token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Cache-Control": "no-cache",
            }
        )
        return session

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """Return the cached session (HttpHook builds a new one per call and copies extras into headers).

        :param headers: added to the shared session, so they apply to every later request of this hook.
        :param extra_options: ignored; settings come from the connection extras (see ``settings``).
        """
        session = self.session
        if headers:
            session.headers.update(headers)
        return session

    def _configure_session_from_extra(
        self, session: requests.Session, connection: Any, extra_options: dict[str, Any]
    ) -> requests.Session:
        """Extras are settings of this hook, never headers (see ``settings``)."""
        return session

    def _url(self, endpoint: str) -> str:
        return f"{self.settings.base_url}/{endpoint.lstrip('/')}"

    # -- transport ---------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, params: dict[str, Any] | None, body: Any
    ) -> requests.Response:
        """The single place that touches the network (swap it for replay or dry-run)."""
        return self.session.request(
            method, url, params=params, json=body, timeout=self.settings.timeout, allow_redirects=False
        )

    def _config_failure(self, exc: Exception, where: str) -> QticketsConfigError | None:
        """The typed error of a request that cannot be built (its text is dropped: it quotes the value)."""
        problem = next((text for kind, text in CONFIG_EXCEPTIONS.items() if isinstance(exc, kind)), None)
        if problem is None:
            return None
        return QticketsConfigError(
            f"QTickets {where}: {type(exc).__name__}: {problem}; fix the Host and Password fields of "
            f"connection {self.settings.conn_id!r}"
        )

    def _request(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, body: Any = None,
        page: int | None = None,
    ) -> Any:
        """Send with retries bounded by ``retry_budget`` (and ``max_retries``, if set); return the decoded JSON.

        A hand-written loop rather than tenacity: the wait depends on the response (``Retry-After``),
        the final error must carry that response's status and body facts, and sleep and clock are injectable.

        :raises QticketsTransientError: 429/5xx/timeouts/connection errors outlived the retry budget
            (:class:`QticketsUndecodableBodyError` when the last answer was a 2xx body that is not JSON).
        :raises QticketsApiError: a non-retryable answer (typed by status).
        """
        settings = self.settings
        url = self._url(endpoint)
        safe_path = sanitize_url(url)
        where = f"{safe_path}{f' page={page}' if page else ''}"
        started = self._clock()
        waited = 0.0
        attempts = 0
        while True:
            attempts += 1
            self.stats.add("requests")
            log.info("QTickets %s %s", method, where)
            response: requests.Response | None = None
            undecodable: UndecodableBody | None = None
            try:
                response = self._send(method, url, params=params, body=body)
            except RETRYABLE_EXCEPTIONS as exc:
                reason = f"{type(exc).__name__}: {redact(str(exc))}"
            except (requests.RequestException, UnicodeError) as exc:
                # Not the vendor's doing and not worth a retry; `from None`: the cause's text (and so the
                # task-log traceback) may quote the token or the URL.
                config = self._config_failure(exc, f"{method} {where}")
                if config is not None:
                    raise config from None
                raise QticketsApiError(
                    f"QTickets {method} {where}: the request failed ({type(exc).__name__}: {redact(str(exc))})",
                    url=safe_path, attempts=attempts,
                ) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return decode_json(response)
                    except UndecodableBody as exc:
                        undecodable = exc
                        reason = f"HTTP {status} with {exc.problem}"
                elif status in RETRYABLE_STATUSES:
                    reason = f"HTTP {status}"
                else:
                    raise_for_client_error(response)
            # The waits count even when the injected sleep does not really wait: a no-op sleep in a test
            # (or a frozen clock) must not turn the budget into an endless loop.
            elapsed = max(self._clock() - started, waited)
            retry_after = retry_after_seconds(response) if response is not None else None
            wait = next_retry_wait(settings, attempts=attempts, elapsed=elapsed, retry_after=retry_after,
                                   rng=self._rng)
            if wait is None:
                self._raise_transient(method, safe_path, where, reason, response, undecodable, attempts, elapsed)
            self.stats.add("retries")
            cap = f"/{settings.max_retries}" if settings.max_retries is not None else ""
            log.warning(
                "QTickets %s %s attempt %s failed (%s); retry %s%s in %.1f s, %.0f s of the %.0f s "
                "retry budget left",
                method, where, attempts, reason, attempts, cap, wait,
                max(settings.retry_budget - elapsed, 0.0), settings.retry_budget,
            )
            self._sleep(wait)
            waited += wait

    def _raise_transient(
        self, method: str, safe_path: str, where: str, reason: str, response: requests.Response | None,
        undecodable: UndecodableBody | None, attempts: int, elapsed: float,
    ) -> None:
        """Raise the error of a request that gave up; ``where`` is the sanitised path plus the page."""
        settings = self.settings
        fields: dict[str, Any] = {"url": safe_path, "attempts": attempts, "elapsed_s": round(elapsed, 3)}
        if response is not None:
            fields.update(
                status=response.status_code,
                request_id=request_id_of(response),
                url=sanitize_url(response.url or safe_path),
            )
        if settings.max_retries is not None and attempts > settings.max_retries:
            limit = (f"max_retries={settings.max_retries} reached ({elapsed:.0f} s of the "
                     f"{settings.retry_budget:.0f} s retry_budget used)")
        else:
            limit = f"the retry_budget of {settings.retry_budget:.0f} s is spent"
        todo = ("the task retry will start again later; if the API is often down this long, raise the "
                f"connection extra retry_budget on {settings.conn_id!r} (up to 86400 s) or the task's "
                "retries/retry_delay")
        if undecodable is not None and response is not None:
            # A 2xx body can hold buyers' personal data: keep its size, type and digest, never its text.
            raise QticketsUndecodableBodyError(
                f"QTickets {method} {where} still failing after {attempts} attempts over {elapsed:.0f} s "
                f"({reason}: {undecodable.parse_error}); {limit}. A proxy or maintenance page, a cut "
                f"connection or a wrong base URL answers like this: {todo}; check the base URL if it never "
                "parses",
                parse_error=undecodable.parse_error,
                **body_facts(response.content, response.headers.get("Content-Type")),
                **fields,
            )
        if response is not None:
            fields.update(code=vendor_code_of(response), body_preview=preview(response.text))
        raise QticketsTransientError(
            f"QTickets {method} {where} still failing after {attempts} attempts over {elapsed:.0f} s "
            f"({reason}); {limit}: {todo}",
            **fields,
        )

    def _envelope_error(self, endpoint: str, message: str, payload: Any) -> QticketsResponseError:
        """A 2xx JSON body whose shape breaks the API contract.

        No body text (it may hold buyers' personal data): ``message`` names the shape, and the body facts
        are those of the decoded JSON re-encoded compactly (``content_type`` says so).
        """
        return QticketsResponseError(
            message,
            status=200,
            code=None,
            url=sanitize_url(self._url(endpoint)),
            **body_facts(orjson.dumps(payload), "application/json (re-encoded)"),
        )

    def request_json(self, method: str, endpoint: str, *, body: dict[str, Any] | None = None) -> Any:
        """Send one request (with retries) and return the decoded JSON body.

        :param method: HTTP method (``GET``, ``POST`` ...).
        :param endpoint: path below the base URL, e.g. ``orders/1614202``.
        :param body: JSON body (datetime values are formatted for the vendor).
        """
        return self._request(method.upper(), endpoint, body=_api_value(body) if body is not None else None)

    # -- lists -------------------------------------------------------------------------------

    def _filters(self, where: list[dict] | None, order_by: dict | None, extra: dict | None) -> dict[str, Any]:
        filters: dict[str, Any] = dict(_api_value(extra or {}))
        if where is not None:
            filters["where"] = _api_value(where)
        if order_by is not None:
            filters["orderBy"] = order_by
        return filters

    def _get_filtered(
        self, endpoint: str, filters: dict[str, Any], *, page: int | None = None, list_request: bool = False
    ) -> Any:
        """GET with filters in the configured transport; optional POST fallback after 5xx storms.

        The fallback is for list requests only: on other routes POST creates things (barcodes ...).
        """
        if self.settings.filter_transport == "get_query":
            params = {k: v if _plain_query_value(v) else _json_text(v) for k, v in filters.items()}
            send = lambda: self._request("GET", endpoint, params=params, page=page)  # noqa: E731
        else:
            send = lambda: self._request("GET", endpoint, body=filters or None, page=page)  # noqa: E731
        try:
            return send()
        except QticketsTransientError as exc:
            if not (list_request and self.settings.post_fallback and exc.status is not None and exc.status >= 500):
                raise
            self.stats.add("post_fallbacks")
            log.warning(
                "QTickets GET %s kept failing (HTTP %s); post_fallback is on, re-sending as POST",
                endpoint, exc.status,
            )
            return self._request("POST", endpoint, body=filters, page=page)

    def _fetch_page(self, endpoint: str, filters: dict[str, Any], number: int) -> Page:
        payload = self._get_filtered(endpoint, {**filters, "page": number}, page=number, list_request=True)
        self.stats.add("pages")
        if isinstance(payload, list):
            return Page(number, payload, has_paging=False)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._envelope_error(
                endpoint, f"/{endpoint} page {number}: expected {{'data': [...], 'paging': {{...}}}}, got "
                f"{type(payload).__name__} with keys {sorted(payload)[:10] if isinstance(payload, dict) else '-'}",
                payload,
            )
        paging = payload.get("paging")
        if not isinstance(paging, dict):
            return Page(number, data, has_paging=False)
        try:
            per_page = int(paging["perPage"]) if paging.get("perPage") else None
            total = int(paging["total"]) if paging.get("total") is not None else None
        except (TypeError, ValueError):
            # Names and types only: the values are the vendor's (a record where a number belongs would
            # put buyers' personal data into the error).
            shape = ", ".join(f"{k}: {type(v).__name__}" for k, v in list(paging.items())[:10]
                              if isinstance(k, str) and len(k) <= 40)
            raise self._envelope_error(
                endpoint, f"/{endpoint} page {number}: unreadable paging ({shape}); perPage and total must be "
                "whole numbers", payload
            ) from None
        return Page(number, data, per_page=per_page, total=total)

    def iter_pages(
        self,
        endpoint: str,
        *,
        where: list[dict] | None = None,
        order_by: dict | None = None,
        guard: WindowGuard | None = None,
        extra: dict | None = None,
    ) -> Iterator[list[dict]]:
        """Yield each page's records (records seen on an earlier page dropped), in page order.

        With ``order_by={"id": "asc"}`` records that slid onto a page already read (the set changed
        while it was paged) are re-read by id afterwards, and an envelope without ``total`` is read
        keyset-style (see :func:`qtickets.pagination.iterate_pages`); ``stats.gap_reads`` and
        ``stats.gap_records`` count those re-reads.

        :param endpoint: list endpoint, e.g. ``orders``.
        :param where: vendor conditions ``[{"column", "operator", "value"}]``; datetimes are formatted.
        :param order_by: e.g. ``{"id": "asc"}``.
        :param guard: raise :class:`QticketsFilterIgnoredError` when a record falls outside the window.
        :param extra: more filter keys sent with every page.
        :raises QticketsPaginationError: the API repeats pages, pages run past their bound, or it
            ignores the ``id`` conditions of a keyset read.
        """
        filters = self._filters(where, order_by, extra)

        def fetch_between(after_id: int, before_id: int | None, number: int) -> Page:
            """The listing restricted to ``after_id < id < before_id``: its first page, labelled ``number``."""
            keyset = [*filters.get("where", ()), {"column": "id", "operator": ">", "value": after_id}]
            if before_id is not None:
                keyset.append({"column": "id", "operator": "<", "value": before_id})
            page = self._fetch_page(endpoint, {**filters, "where": keyset}, 1)
            return Page(number, page.records, per_page=page.per_page, total=page.total,
                        has_paging=page.has_paging)

        by_id_asc = isinstance(order_by, dict) and [(k, str(v).lower()) for k, v in order_by.items()] == [
            ("id", "asc")]
        yield from iterate_pages(
            lambda number: self._fetch_page(endpoint, filters, number),
            endpoint=endpoint.strip("/"),
            concurrency=self.settings.concurrency,
            guard=guard,
            fetch_between=fetch_between if by_id_asc else None,
            count=self.stats.add,
        )

    # -- helpers -----------------------------------------------------------------------------

    def get_show_seats(self, show_id: int) -> dict[str, dict]:
        """Flat seat map of a show with the inventory counters (``select`` + ``flat``)."""
        endpoint = f"shows/{int(show_id)}/seats"
        payload = self._get_filtered(endpoint, {"select": list(SEAT_COUNTER_FIELDS), "flat": True})
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, list) and not data:
            return {}  # PHP encodes an empty map as []
        if not isinstance(data, dict):
            raise self._envelope_error(
                endpoint, f"/{endpoint}: expected {{'data': {{seat_id: {{...}}}}}}, got {type(data).__name__}",
                payload,
            )
        return data

    def get_show_barcodes(self, show_id: int) -> list[dict]:
        """Barcodes current at the moment for a show (the API returns a bare array)."""
        endpoint = f"shows/{int(show_id)}/barcodes"
        payload = self._request("GET", endpoint)
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            return payload["data"]
        if not isinstance(payload, list):
            raise self._envelope_error(
                endpoint, f"/{endpoint}: expected a JSON array, got {type(payload).__name__}", payload
            )
        return payload

    def get_color_themes(self) -> list[dict]:
        """Price colour themes (``/color-themes``, a single unpaged list)."""
        return [record for page in self.iter_pages("color-themes") for record in page]

    def test_connection(self) -> tuple[bool, str]:
        """Check host and token with one cheap read (``GET /color-themes``)."""
        try:
            themes = self._request("GET", "color-themes")
        except QticketsError as exc:
            return False, str(exc)
        count = len(themes.get("data") or []) if isinstance(themes, dict) else len(themes or [])
        return True, f"Connected to {sanitize_url(self.settings.base_url)}: {count} colour themes"


class QticketsPartnersHook(QticketsHook):
    """Call the QTickets Partners API v1 with the partner key of an Airflow connection.

    Errors arrive as HTTP 200 bodies ``{"status": "error", "code": ...}`` and are raised as typed errors.

    :param qtickets_partners_conn_id: Airflow connection id (Host = ``https://qtickets.ru/api/partners/v1``,
        Password = partner key issued by QTickets support).
    :param sleep: function used to wait between retries.
    :param clock: monotonic clock that measures a request's retry budget.
    """

    conn_name_attr = "qtickets_partners_conn_id"
    default_conn_name = "qtickets_partners_default"
    conn_type = "qtickets_partners"
    hook_name = "QTickets Partners API"

    def __init__(
        self,
        *,
        qtickets_partners_conn_id: str = default_conn_name,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(qtickets_conn_id=qtickets_partners_conn_id, sleep=sleep, clock=clock)
        self.qtickets_partners_conn_id = qtickets_partners_conn_id

    def _partners_call(self, endpoint: str, body: dict[str, Any]) -> Any:
        payload = self._request("POST", endpoint, body=body)
        url = sanitize_url(self._url(endpoint))
        if not isinstance(payload, dict) or "status" not in payload:
            raise self._envelope_error(
                endpoint,
                f"Partners /{endpoint}: expected {{'status': ..., 'result': ...}}, got {type(payload).__name__}",
                payload,
            )
        if payload["status"] == "success":
            return payload.get("result")
        # Redacted before they are cut: a cut secret would no longer match.
        code = redact(str(payload.get("code") or "UNKNOWN_ERROR"))[:100]
        message = redact(str(payload.get("message") or ""))[:300]
        body_text = preview(_json_text(payload))
        # Match the message too: the vendor's code is the documented signal, but the text is as stable
        # (and the anonymised capture in ../shared has its code rewritten).
        if code == "WRONG_AUTHORIZATION" or message.strip().lower() == "wrong authorization":
            raise QticketsAuthError(
                f"Partners API refused the key ({message}); put the partner key issued by QTickets "
                f"support (not the organiser REST token) in connection {self.qtickets_partners_conn_id!r}",
                status=200, code=code, url=url, body_preview=body_text,
            )
        raise QticketsPartnersError(
            f"Partners /{endpoint} failed: {code} {message}", status=200, code=code, url=url,
            body_preview=body_text,
        )

    def find_tickets(
        self, filter: dict, *, event_id: int | None = None, show_id: int | None = None  # noqa: A002
    ) -> list[dict]:
        """Tickets this partner added, matching ``filter`` (``id``, ``barcode``, ``external_id`` ...).

        :raises QticketsAuthError: ``WRONG_AUTHORIZATION`` (no retry).
        :raises QticketsPartnersError: any other ``status: error``.
        """
        if show_id is not None and event_id is None:
            raise ValueError("find_tickets: show_id needs event_id (path tickets/find/{event_id}/{show_id})")
        endpoint = "tickets/find"
        if event_id is not None:
            endpoint += f"/{int(event_id)}"
            if show_id is not None:
                endpoint += f"/{int(show_id)}"
        result = self._partners_call(endpoint, {"filter": _api_value(filter)})
        if result is None:
            return []
        if not isinstance(result, list):
            raise self._envelope_error(
                endpoint, f"Partners /{endpoint}: expected a list in `result`, got {type(result).__name__}", result
            )
        return result

    def test_connection(self) -> tuple[bool, str]:
        """Check host and key with a read-only ``tickets/find`` for a ticket id that cannot exist."""
        try:
            self.find_tickets({"id": ["0"]})
        except QticketsError as exc:
            return False, str(exc)
        return True, f"Connected to {sanitize_url(self.settings.base_url)}: partner key accepted"
