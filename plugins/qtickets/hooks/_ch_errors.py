"""Map clickhouse-driver and chDB failures onto the provider's typed ClickHouse errors.

A retry helps with network trouble, timeouts and overload; it never helps with a wrong statement or
wrong credentials. Messages keep the code and the first line of the server text (18.16 appends a
whole stack trace) and never contain the password.
"""

from __future__ import annotations

import re

from clickhouse_driver import errors as driver_errors

from qtickets.exceptions import (
    ClickHouseConfigError,
    ClickHouseError,
    ClickHouseQueryError,
    ClickHouseRetryableError,
)
from qtickets.redaction import first_line as redacted_first_line
from qtickets.redaction import redact, register_secrets

# Server codes a retry can fix: timeouts, overload, lost connections, transient storage states.
RETRYABLE_CODES = frozenset({
    3,    # UNEXPECTED_END_OF_FILE
    32,   # ATTEMPT_TO_READ_AFTER_EOF
    159,  # TIMEOUT_EXCEEDED
    160,  # TOO_SLOW
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    279,  # ALL_CONNECTION_TRIES_FAILED
    319,  # UNKNOWN_STATUS_OF_INSERT
    425,  # SYSTEM_ERROR
    999,  # KEEPER_EXCEPTION
})
# Credentials and permissions: fix the connection, not the SQL.
CONFIG_CODES = frozenset({192, 193, 194, 195, 516, 497})

_CODE_RE = re.compile(r"Code:\s*(\d+)")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_NETWORK_TYPES: tuple[type[BaseException], ...] = (
    driver_errors.NetworkError,
    driver_errors.SocketTimeoutError,
    driver_errors.UnexpectedPacketFromServerError,
    TimeoutError,
    EOFError,
    ConnectionError,
)


def first_line(text: str, limit: int = 400) -> str:
    """The server's message without the ``Code: NN.`` prefix, the stack trace and later lines
    (:func:`qtickets.redaction.first_line` of what is left, ending with a full stop)."""
    text = _CODE_RE.sub("", text, count=1).lstrip(". \n")
    text = text.replace("DB::Exception: ", "", 1)
    line = redacted_first_line(text.split("Stack trace:", 1)[0], limit + 1)
    return line.rstrip(".") + "." if line else "(no message)"


def error_code(exc: BaseException) -> int | None:
    """ClickHouse error code of a driver or chDB exception, when it carries one."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    match = _CODE_RE.search(str(exc))
    return int(match.group(1)) if match else None


def classify(exc: BaseException, *, where: str, secrets: tuple[str | None, ...] = ()) -> ClickHouseError:
    """Return the typed error for ``exc``; ``where`` says which ClickHouse (host:port or folder).

    :param secrets: registered with :mod:`qtickets.redaction` (the hook registers its own already).
    """
    if isinstance(exc, ClickHouseError):
        return exc
    register_secrets(secrets)
    raw = str(exc) if not isinstance(exc, driver_errors.ServerException) else f"Code: {exc.code}. {exc.message}"
    raw = redact(raw)  # before first_line cuts it: a cut secret would no longer match
    text = first_line(raw) if raw else type(exc).__name__
    code = error_code(exc)
    name_match = _NAME_RE.search(raw.split("Stack trace:", 1)[0].strip())
    label = f"code {code}" + (f" {name_match.group(1)}" if name_match else "") if code is not None else None
    prefix = f"ClickHouse ({where})"
    if isinstance(exc, _NETWORK_TYPES) or (code in RETRYABLE_CODES):
        kind = label or type(exc).__name__
        return ClickHouseRetryableError(
            f"{prefix}: {kind}: {text} A task retry may succeed once the server is reachable and not overloaded."
        )
    if code in CONFIG_CODES:
        return ClickHouseConfigError(
            f"{prefix}: {label}: {text} Check the login, password and grants of the ClickHouse connection."
        )
    if code is not None:
        return ClickHouseQueryError(
            f"{prefix}: {label}: {text} Fix the statement or the rows; a retry cannot help."
        )
    return ClickHouseQueryError(
        f"{prefix}: {type(exc).__name__}: {text} The rows or statement do not match the table; "
        "a retry cannot help."
    )
