"""Typed errors of the QTickets provider.

Every error says what went wrong and what to do. Errors that a retry cannot fix derive from
``AirflowFailException`` so Airflow does not burn task retries on them.

:func:`error_fields` is the one place an exception becomes the fields that XCom, ``meta_job_runs`` and
alerts keep.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from qtickets.redaction import redact, redact_data, safe_request_id

#: Longest message kept of an exception that is not a vendor error (a failed check lists its violations on
#: the lines after the first, so the whole message is kept, bounded).
ERROR_MESSAGE_CHARS = 2000


class _Redacted:
    """Mixin: the message passes through :func:`qtickets.redaction.redact` when the error is built, so
    ``str(exc)``, tracebacks, XCom and run records never carry a registered secret."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(redact(message), *args)


class QticketsError(_Redacted, AirflowException):
    """Base class of every error raised by the QTickets provider."""


class QticketsConfigError(QticketsError, AirflowFailException, ValueError):
    """A connection or setting is missing or invalid; fix the configuration, a retry cannot help."""


class QticketsApiError(QticketsError):
    """The vendor API answered with an error (or did not answer); carries what the vendor said.

    :param message: human readable summary (never contains a secret).
    :param status: HTTP status code, ``None`` when no response arrived.
    :param code: vendor error code (``RESOURCE_NOT_FOUND``, ``UNKNOWN_ERROR`` ...).
    :param request_id: vendor request id header, when one was sent.
    :param url: request URL with secrets removed.
    :param body_preview: first characters of an error response body; ``None`` for 2xx bodies, which
        may hold buyers' personal data (those carry only the ``body_*`` facts below).
    :param body_bytes: size of the response body in bytes.
    :param content_type: ``Content-Type`` of the response.
    :param body_sha256: first hex digits of the body's sha256 (match it against a capture, if one exists).
    :param parse_error: what failed to parse (decoder message and position), never body text.
    :param attempts: attempts made for this request before giving up.
    :param elapsed_s: seconds from the first attempt to giving up.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
        body_preview: str | None = None,
        body_bytes: int | None = None,
        content_type: str | None = None,
        body_sha256: str | None = None,
        parse_error: str | None = None,
        attempts: int | None = None,
        elapsed_s: float | None = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = redact(code) if code else code
        self.request_id = safe_request_id(request_id)
        self.url = redact(url) if url else url
        self.body_preview = redact(body_preview) if body_preview else body_preview
        self.body_bytes = body_bytes
        self.content_type = redact(content_type) if content_type else content_type
        self.body_sha256 = body_sha256
        self.parse_error = redact(parse_error) if parse_error else parse_error
        self.attempts = attempts
        self.elapsed_s = elapsed_s

    def as_dict(self) -> dict[str, Any]:
        """Return the fields recorded in ``meta_job_runs`` and alerts (:func:`error_fields`)."""
        return error_fields(self)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"http_status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.url:
            parts.append(f"url={self.url}")
        if self.body_bytes is not None:
            parts.append(f"body={self.body_bytes} bytes {self.content_type or '(no content type)'} "
                         f"sha256:{self.body_sha256}")
        return " | ".join(parts)


class QticketsTransientError(QticketsApiError):
    """A retryable failure (429, 5xx, timeout, connection error) that outlived the hook's retry budget."""

    retryable = True


class QticketsUndecodableBodyError(QticketsTransientError):
    """A 2xx answer that was not JSON (truncated, HTML, empty) until the retry budget ran out; no body text."""


class QticketsClientError(QticketsApiError, AirflowFailException):
    """A 4xx answer other than 429: the request itself is wrong; retrying cannot help."""


class QticketsAuthError(QticketsClientError):
    """The token was refused (HTTP 401/403, or Partners ``WRONG_AUTHORIZATION``)."""


class QticketsNotFoundError(QticketsClientError):
    """JSON 404 ``RESOURCE_NOT_FOUND`` or an HTML 404 page for an unknown route."""


class QticketsResponseError(QticketsApiError, AirflowFailException):
    """A 2xx JSON answer whose shape breaks the API contract (bad envelope); a retry cannot help."""


class QticketsPartnersError(QticketsClientError):
    """The Partners API reported ``status: error`` inside an HTTP 200 body."""


class QticketsPaginationError(QticketsError, AirflowFailException):
    """Pagination misbehaved (a page repeated, or the page count ran past its bound)."""


class QticketsFilterIgnoredError(QticketsError, AirflowFailException):
    """A windowed request returned records outside the window: the API ignored the filter."""


class ClickHouseError(_Redacted, AirflowException):
    """Base class of warehouse errors."""


class ClickHouseRetryableError(ClickHouseError):
    """Network trouble or a timeout talking to ClickHouse; a task retry may succeed."""


class ClickHouseQueryError(ClickHouseError, AirflowFailException):
    """The statement itself is wrong (syntax, unknown table, type mismatch); a retry cannot help."""


class ClickHouseConfigError(ClickHouseError, AirflowFailException, ValueError):
    """The ClickHouse connection is missing or invalid, or the embedded folder cannot be opened."""


class DataQualityError(AirflowFailException):
    """Data failed a data-quality check or a pre-publish audit; the message lists every violation and
    says what to do. A retry cannot change the data, so Airflow does not retry the task: fix the data
    (at the vendor or in staging), then re-run.

    :param failed: names of the failed checks or audits.
    """

    def __init__(self, message: str, *, failed: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.failed = tuple(failed)


class StaleDataError(AirflowException):
    """Only freshness checks failed: the newest data is older than allowed. Retryable: a later attempt
    passes once a load or rebuild has caught up (if the loads keep failing, their own errors say why).

    :param failed: names of the failed freshness checks.
    """

    def __init__(self, message: str, *, failed: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.failed = tuple(failed)


def error_fields(exc: BaseException) -> dict[str, Any]:
    """What XCom (the ``error`` key), ``meta_job_runs`` and alerts keep of an exception.

    A vendor error (:class:`QticketsApiError`) gives every field it carries; any other exception gives
    ``error_type`` and ``message`` (the whole text, redacted before it is cut to
    :data:`ERROR_MESSAGE_CHARS`) with empty ``http_status``/``error_code``/``request_id``. Every string is
    :func:`qtickets.redaction.redact`-ed and the request id kept only when
    :func:`qtickets.redaction.safe_request_id` accepts it.
    """
    if not isinstance(exc, QticketsApiError):
        return {"error_type": type(exc).__name__, "message": redact(str(exc))[:ERROR_MESSAGE_CHARS],
                "http_status": None, "error_code": None, "request_id": None}
    fields = redact_data({
        "error_type": type(exc).__name__,
        "message": exc.message,
        "http_status": exc.status,
        "error_code": exc.code,
        "request_id": exc.request_id,
        "url": exc.url,
        "body_preview": exc.body_preview,
        "body_bytes": exc.body_bytes,
        "content_type": exc.content_type,
        "body_sha256": exc.body_sha256,
        "parse_error": exc.parse_error,
        "attempts": exc.attempts,
        "elapsed_s": exc.elapsed_s,
    })
    fields["request_id"] = safe_request_id(fields["request_id"])
    return fields
