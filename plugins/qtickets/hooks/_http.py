# Over 300 lines: many small pure transport functions, each pinned by its own unit tests; split, none would be simpler.
"""Transport helpers of the QTickets hooks: settings, retry policy, response decoding, error fields.

Every text taken from a response passes through :func:`qtickets.redaction.redact` (the hooks register
their secrets there when they read their connection).

Kept apart from the hook classes so each piece is a small pure function that unit tests can pin down.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests

from qtickets.connections import extra_flag
from qtickets.exceptions import (
    QticketsApiError,
    QticketsAuthError,
    QticketsClientError,
    QticketsConfigError,
    QticketsNotFoundError,
)
from qtickets.redaction import redact, safe_request_id
from qtickets.redaction import redact_url as sanitize_url
from qtickets.timeutil import utcnow

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRYABLE_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    # A gzip stream cut mid-way: the same truncated answer as a ChunkedEncodingError, one layer up.
    requests.exceptions.ContentDecodingError,
)
FILTER_TRANSPORTS = ("get_body", "get_query")
BODY_PREVIEW_CHARS = 512
RETRY_AFTER_MAX_SECONDS = 120.0
RETRY_BUDGET_SECONDS = 600.0
RETRY_BUDGET_MAX_SECONDS = 86400.0
MAX_RETRIES_CAP = 1000
BODY_SHA256_CHARS = 12
#: The vendor's own request id header (header names are case-insensitive); none was ever seen live.
REQUEST_ID_HEADER = "X-Request-ID"
#: What a token may hold: printable ASCII without spaces (a header value cannot carry anything else).
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class HookSettings:
    """Everything the hook reads from its Airflow connection, validated and coerced."""

    conn_id: str
    base_url: str
    token: str = field(repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry_budget: float = RETRY_BUDGET_SECONDS
    max_retries: int | None = None
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    concurrency: int = 4
    filter_transport: str = "get_body"
    post_fallback: bool = False

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeout handed to requests."""
        return (self.connect_timeout, self.read_timeout)


class RequestStats:
    """Thread-safe request counters of one hook (read them after a fetch for logs and metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.pages = 0
        self.post_fallbacks = 0
        self.gap_reads = 0  # gaps between pages re-read by id (records slid onto pages already read)
        self.gap_records = 0  # records those gap re-reads found

    def add(self, name: str, n: int = 1) -> None:
        """Increment counter ``name`` by ``n``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        """Snapshot of the counters."""
        with self._lock:
            return {k: getattr(self, k) for k in ("requests", "retries", "pages", "post_fallbacks",
                                                    "gap_reads", "gap_records")}

    def __repr__(self) -> str:
        return f"RequestStats({self.as_dict()})"


def _coerce_number(conn_id: str, name: str, value: Any, default: float, *, lo: float, hi: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise QticketsConfigError(f"connection {conn_id!r}: extra {name!r} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise QticketsConfigError(
            f"connection {conn_id!r}: extra {name!r} must be a number, got {value!r}; fix the connection extra"
        ) from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise QticketsConfigError(
            f"connection {conn_id!r}: extra {name!r}={value!r} is out of range [{lo}, {hi}]"
        )
    return number


def _optional_count(conn_id: str, name: str, value: Any, *, hi: int) -> int | None:
    """A whole number in ``[0, hi]``, or ``None`` when unset (no cap)."""
    if value is None or value == "":
        return None
    number = _coerce_number(conn_id, name, value, 0, lo=0, hi=hi)
    if number != int(number):
        raise QticketsConfigError(f"connection {conn_id!r}: extra {name!r} must be a whole number, got {value!r}")
    return int(number)


def _coerce_bool(conn_id: str, name: str, value: Any, default: bool) -> bool:
    try:
        return extra_flag(value, default)
    except ValueError as exc:
        raise QticketsConfigError(f"connection {conn_id!r}: extra {name!r} {exc}") from None


def check_token(conn_id: str, token: str) -> None:
    """Refuse a token no HTTP header can carry, saying what is wrong and where, never the value.

    :raises QticketsConfigError: a line break, space, control or non-ASCII character inside the token.
    """
    if _TOKEN_CHARS.fullmatch(token):
        return
    position, char = next((i, c) for i, c in enumerate(token) if not _TOKEN_CHARS.fullmatch(c))
    if char in "\r\n":
        what = "a line break"
    elif char.isspace():
        what = "a space or tab"
    elif ord(char) < 0x20 or ord(char) == 0x7F:
        what = "a control character"
    else:
        what = "a non-ASCII character"
    raise QticketsConfigError(
        f"connection {conn_id!r}: the token in the Password field contains {what} (character "
        f"{position + 1} of {len(token)}), which no HTTP header can carry; paste the token again as one "
        "line, without spaces"
    )


def build_base_url(conn_id: str, host: str | None, schema: str | None, port: int | None) -> str:
    """Base URL from the connection: host may hold scheme and path; ``schema`` names the scheme otherwise."""
    host = (host or "").strip()
    if not host:
        raise QticketsConfigError(
            f"connection {conn_id!r} has no host: set the Host field to the API base URL, "
            "e.g. https://qtickets.ru/api/rest/v1"
        )
    if "://" not in host:
        scheme = (schema or "https").strip().lower()
        if scheme not in ("http", "https"):
            raise QticketsConfigError(
                f"connection {conn_id!r}: schema {schema!r} is not a URL scheme; put the full base URL "
                "(https://host/path) in the Host field or set schema to http or https"
            )
        host = f"{scheme}://{host}"
    # The Host text is never quoted back: it may hold credentials (https://user:password@host).
    try:
        parts = urlsplit(host)
        host_port = parts.port
    except ValueError:  # a port that is not a number, an unclosed [
        parts, host_port = None, None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or any(c.isspace() or ord(c) < 0x20 for c in host)):
        raise QticketsConfigError(
            f"connection {conn_id!r}: the Host field is not a valid http(s) URL (expected "
            "https://host/path: scheme http or https, a numeric port, no spaces or line breaks); fix the Host field"
        )
    netloc = parts.netloc
    if port and host_port is None:
        netloc = f"{netloc}:{int(port)}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")).rstrip("/")


def settings_from_connection(
    conn_id: str,
    *,
    host: str | None,
    schema: str | None,
    port: int | None,
    password: str | None,
    extra: dict[str, Any],
) -> HookSettings:
    """Validate a connection into :class:`HookSettings` (extras may be strings from a URI connection).

    :raises QticketsConfigError: a field is missing or an extra is invalid.
    """
    token = (password or "").strip()
    if not token:
        raise QticketsConfigError(
            f"connection {conn_id!r} has no API token: set the Password field to the QTickets token"
        )
    check_token(conn_id, token)
    transport = str(extra.get("filter_transport") or "get_body").strip().lower()
    if transport not in FILTER_TRANSPORTS:
        raise QticketsConfigError(
            f"connection {conn_id!r}: extra filter_transport={transport!r} is not one of {FILTER_TRANSPORTS}"
        )
    num = _coerce_number
    return HookSettings(
        conn_id=conn_id,
        base_url=build_base_url(conn_id, host, schema, port),
        token=token,
        connect_timeout=num(conn_id, "connect_timeout", extra.get("connect_timeout"), 10.0, lo=0.01, hi=600),
        read_timeout=num(conn_id, "timeout", extra.get("timeout"), 60.0, lo=0.01, hi=3600),
        retry_budget=num(conn_id, "retry_budget", extra.get("retry_budget"), RETRY_BUDGET_SECONDS,
                         lo=0, hi=RETRY_BUDGET_MAX_SECONDS),
        max_retries=_optional_count(conn_id, "max_retries", extra.get("max_retries"), hi=MAX_RETRIES_CAP),
        backoff_base=num(conn_id, "backoff_base", extra.get("backoff_base"), 1.0, lo=0, hi=600),
        backoff_max=num(conn_id, "backoff_max", extra.get("backoff_max"), 30.0, lo=0, hi=3600),
        # Clamped rather than refused: it is a tuning knob, any value works.
        concurrency=int(min(16, max(1, num(conn_id, "concurrency", extra.get("concurrency"), 4, lo=-1e9, hi=1e9)))),
        filter_transport=transport,
        post_fallback=_coerce_bool(conn_id, "post_fallback", extra.get("post_fallback"), False),
    )


def backoff_seconds(attempt: int, settings: HookSettings, rng: random.Random) -> float:
    """Exponential backoff with equal jitter for retry ``attempt`` (1-based), capped at ``backoff_max``."""
    ceiling = min(settings.backoff_max, settings.backoff_base * (2 ** (attempt - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def next_retry_wait(
    settings: HookSettings, *, attempts: int, elapsed: float, retry_after: float | None, rng: random.Random
) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` when the request must give up.

    It gives up when ``max_retries`` (if set) retries were made, or when waiting would take the time
    since the request's first attempt past ``retry_budget``.

    :param attempts: attempts made so far (all failed).
    :param elapsed: seconds since the first attempt.
    :param retry_after: the server's ``Retry-After``, which replaces the backoff when present.
    """
    if settings.max_retries is not None and attempts > settings.max_retries:
        return None
    wait = retry_after if retry_after is not None else backoff_seconds(attempts, settings, rng)
    if elapsed + wait > settings.retry_budget:
        return None
    return wait


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` (seconds or HTTP date) of a 429/503, capped; ``None`` when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - utcnow()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def request_id_of(response: requests.Response | None) -> str | None:
    """The vendor's ``X-Request-ID``, only when it looks like an id and holds no secret (a proxy that
    echoes the ``Authorization`` value there gets no id recorded); none was ever seen live."""
    if response is None:
        return None
    return safe_request_id(response.headers.get(REQUEST_ID_HEADER))


def preview(text: str) -> str:
    """First :data:`BODY_PREVIEW_CHARS` characters of ``text``, redacted *before* it is cut (a cut
    secret would no longer match)."""
    return redact(text[: BODY_PREVIEW_CHARS * 4])[:BODY_PREVIEW_CHARS]


def body_preview(response: requests.Response) -> str:
    """First :data:`BODY_PREVIEW_CHARS` characters of an error body, secrets removed."""
    return preview(response.content[: BODY_PREVIEW_CHARS * 8].decode(response.encoding or "utf-8", "replace"))


def _looks_like_html(response: requests.Response) -> bool:
    ctype = response.headers.get("Content-Type", "").lower()
    head = response.content[:256].lstrip().lower()
    return "text/html" in ctype or head.startswith((b"<!doctype", b"<html"))


def _vendor_code(payload: Any) -> str | None:
    if isinstance(payload, dict):
        code = payload.get("code") or payload.get("error")
        return str(code) if code is not None else None
    return None


def error_fields(response: requests.Response) -> dict[str, Any]:
    """The keyword fields every :class:`QticketsApiError` carries."""
    return {
        "status": response.status_code,
        "request_id": request_id_of(response),
        "url": sanitize_url(response.url or ""),
        "body_preview": body_preview(response),
    }


def body_facts(content: bytes, content_type: str | None) -> dict[str, Any]:
    """What an error may keep of a 2xx body: size, content type and a sha256 prefix, never its text."""
    return {
        "body_bytes": len(content),
        "content_type": (content_type or "")[:100] or None,
        "body_sha256": hashlib.sha256(content).hexdigest()[:BODY_SHA256_CHARS],
    }


class UndecodableBody(Exception):  # noqa: N818 - an outcome the retry loop handles, not an error raised to callers
    """A 2xx body that is not JSON; ``problem`` and ``parse_error`` never quote the body.

    :param problem: what the body was (``an HTML page``, ``an empty body``, ``a body that is not valid JSON``).
    :param parse_error: the decoder's message and position, when it got that far.
    """

    def __init__(self, problem: str, parse_error: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.parse_error = parse_error


def decode_json(response: requests.Response) -> Any:
    """Parse a 2xx body.

    :raises UndecodableBody: HTML, empty, truncated or non-JSON body (a proxy page or a cut connection:
        worth another attempt).
    """
    if _looks_like_html(response):
        raise UndecodableBody("an HTML page instead of JSON", "HTML, not JSON")
    if not response.content.strip():
        raise UndecodableBody("an empty body", "no JSON document")
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        # Only the decoder's fixed message and the numbers: str(exc) is the same today, but a future
        # decoder could quote the document, and the body may hold buyers' personal data.
        detail = f"{str(exc.msg)[:120]} at char {exc.pos} (line {exc.lineno}, column {exc.colno})"
        raise UndecodableBody("a body that is not valid JSON (truncated or not JSON)", detail) from None


def raise_for_client_error(response: requests.Response) -> None:
    """Raise the typed error of a non-retryable non-2xx answer (4xx other than 429, odd 5xx)."""
    fields = error_fields(response)
    status = response.status_code
    html = _looks_like_html(response)
    payload: Any = None
    if not html:
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            payload = None
    code = _vendor_code(payload)
    code = redact(code)[:100] if code else None  # redacted before cut: a cut secret would not match
    vendor_msg = payload.get("error") if isinstance(payload, dict) else None
    detail = f": {redact(str(vendor_msg))[:200]}" if vendor_msg else ""
    if status in (401, 403):
        raise QticketsAuthError(
            f"QTickets refused the token (HTTP {status}){detail}; put a valid organiser token in the "
            "connection's Password field",
            code=code,
            **fields,
        )
    if status == 404:
        if html or payload is None:
            raise QticketsNotFoundError(
                "QTickets has no such route (HTML 404 page, unknown route): the endpoint path is wrong",
                code=code,
                **fields,
            )
        raise QticketsNotFoundError(f"QTickets resource not found{detail}", code=code, **fields)
    if 400 <= status < 500:
        raise QticketsClientError(
            f"QTickets rejected the request (HTTP {status}){detail}; fix the request, a retry cannot help",
            code=code,
            **fields,
        )
    raise QticketsApiError(f"QTickets answered HTTP {status}{detail}", code=code, **fields)


def vendor_code_of(response: requests.Response) -> str | None:
    """Vendor ``code`` of an error body, when the body is JSON."""
    try:
        code = _vendor_code(orjson.loads(response.content))
    except orjson.JSONDecodeError:
        return None
    return redact(code)[:100] if code else None
