# Over 300 lines: the retry loop, its give-up error and the seam are one unit; split, each half would need the other.
"""What both QTickets APIs share: one Airflow connection, one cached session, timeouts, bounded retries.

:class:`QticketsApiHook` is the base of :class:`~qtickets.hooks.qtickets.QticketsHook` (REST) and
:class:`~qtickets.hooks.partners.QticketsPartnersHook`. It sits on Airflow's plain ``BaseHook``, not
``HttpHook``: HttpHook builds a session per call and copies connection extras into headers (int extras
break every request), and nothing here uses its ``run``. Every request goes through :meth:`_send`, the one
place that touches the network; a :class:`~qtickets.replay.Replay` given to the hook answers there
instead (saved responses, no connection needed), so replayed data takes exactly the live path after it.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
import requests
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from requests.adapters import HTTPAdapter

from qtickets import __version__
from qtickets.exceptions import (
    QticketsApiError,
    QticketsConfigError,
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
from qtickets.redaction import redact, register_connection
from qtickets.timeutil import format_api_ts

if TYPE_CHECKING:
    from qtickets.replay import Replay

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

# A stdlib logger rather than ``self.log`` in every hook of this package: in Airflow 3 ``self.log`` is a
# structlog logger that bypasses stdlib handlers (pytest's caplog cannot see it); stdlib records still
# reach the task log.
log = logging.getLogger(__name__)


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


class QticketsApiHook(BaseHook):
    """One QTickets API behind an Airflow connection (Host = base URL, Password = the secret).

    :param conn_id: Airflow connection id (not read when ``replay`` is given).
    :param sleep: function used to wait between retries (inject a no-op in tests).
    :param clock: monotonic clock, in seconds, that measures a request's retry budget (inject a fake in tests).
    :param replay: answer every request from saved responses instead of the network.
    """

    #: ``rest`` or ``partners``: which saved responses a replay answers with.
    api = "rest"

    def __init__(
        self,
        conn_id: str,
        *,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        replay: Replay | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.replay = replay
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        self.stats = RequestStats()

    # -- configuration -------------------------------------------------------------------------

    @cached_property
    def settings(self) -> HookSettings:
        """Validated connection settings (read once, on first use)."""
        if self.replay is not None:
            return self.replay.settings(self.conn_id, self.api)
        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            raise QticketsConfigError(
                f"connection {self.conn_id!r} is not defined: create it (type {self.conn_type!r}) "
                f"or set AIRFLOW_CONN_{self.conn_id.upper()}"
            ) from None
        # Before validating: a malformed token is still a secret. Errors, XCom and run records are
        # redacted of it from now on, and Airflow's masker hides it in every task-log line.
        register_connection(conn)
        settings = settings_from_connection(
            self.conn_id,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            password=conn.password,
            extra=dict(conn.extra_dejson or {}),
        )
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """The one session of this hook; its pool is sized so concurrent pages reuse connections."""
        settings = self.settings
        session = requests.Session()
        # The environment (proxy variables, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE) is read once, here, for the
        # vendor's base URL; requests would read it again on every request (~0.6 ms of CPU a page), and with
        # a ~/.netrc entry for the vendor's host it would replace the Bearer token with Basic auth.
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(settings.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
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

    def _url(self, endpoint: str) -> str:
        return f"{self.settings.base_url}/{endpoint.lstrip('/')}"

    # -- transport ---------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, params: dict[str, Any] | None, body: Any
    ) -> requests.Response:
        """The single place that touches the network; a replay answers here instead."""
        if self.replay is not None:
            return self.replay.send(self.api, method, url, params=params, body=body)
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
