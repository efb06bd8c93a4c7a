"""The one redaction point: every string that leaves a task (exception text, XCom values, run records,
alert text) passes through :func:`redact`.

Hooks and notifiers call :func:`register_secret` for every secret they read from a connection (API
token, partner key, ClickHouse password, PII hash key, bot token, webhook path). Registration

- adds the secret to a process-wide registry (thread-safe) that :func:`redact` matches, in the secret's
  raw form **and** in the forms a server, proxy or library may echo it in: JSON-escaped (``/`` as
  ``\\/``, any character as ``\\uXXXX``, ``\\n``), URL-encoded (``quote``/``quote_plus``, any case of
  hex digits), base64 (standard or URL-safe alphabet, at any byte alignment, so the secret is found
  inside an encoded ``Authorization: Basic`` or ``Bearer`` header value too), and each
  whitespace-separated piece of a secret pasted with a line break;
- tells Airflow's secrets masker (``airflow.sdk.log.mask_secret``) about the raw secret and its
  concrete encoded forms, so Airflow masks task-log lines itself, third-party ones included.

Besides registered secrets, :func:`redact` masks a few secret *shapes* no registry knows about:
``Bearer``/``Basic`` credentials, Telegram bot tokens, Slack webhook paths, ``user:password@`` in URLs
and ``password=…``/``token=…``-style assignments.

Secrets shorter than :data:`MIN_SECRET_CHARS` are not registered (masking them would garble ordinary
text; Airflow's masker skips them too).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import orjson

log = logging.getLogger(__name__)

#: What a secret is replaced with.
REDACTED = "***"
#: Shorter secrets are not registered (Airflow's ``[logging] min_length_masked_secret`` default is 5).
MIN_SECRET_CHARS = 5
#: Shortest base64 fragment matched for a secret (shorter fragments would match ordinary text).
_MIN_BASE64_CHARS = 6

# Secret shapes masked whether or not they were registered.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}"), r"\1 ***"),
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"), REDACTED),  # Telegram bot token
    (re.compile(r"(?i)(hooks\.slack\.com/services/)[^\s\"'<>]+"), r"\1***"),
    (re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+@"), r"\1***@"),  # user:password@ in URLs
    # name=value (any value), or name: value when the value is quoted or looks like a credential
    # (8+ characters with a digit): "token: set the Password field" stays readable.
    (
        re.compile(
            r"(?i)\b([\w-]*(?:password|passwd|pwd|token|secret|api[_-]?key|hash[_-]?key|partner[_-]?key"
            r"|authorization)[\w-]*)"
            r"(\s*=\s*|\s*:\s*(?=[\"']|(?=[^\s&,;\"'|]*\d)[^\s&,;\"'|]{8,}))(\"[^\"]*\"|'[^']*'|[^\s&,;\"'|]+)"
        ),
        r"\1\2***",
    ),
)

#: Query parameters whose values :func:`redact_url` replaces, whatever they hold.
_SENSITIVE_QUERY_KEYS = ("token", "key", "secret", "password", "auth", "signature")

_JSON_ESCAPES = {"/": r"\/", '"': r"\"", "\\": r"\\", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\b": r"\b",
                 "\f": r"\f"}

_lock = threading.Lock()
_secrets: dict[str, re.Pattern[str]] = {}  # secret -> its pattern (compiled once)
#: The patterns, longest secret first (a secret that contains another is replaced whole); replaced as a
#: whole on registration, so readers never lock.
_matchers: tuple[re.Pattern[str], ...] = ()


def _hex_any_case(digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char_pattern(ch: str) -> str:
    """A regex for one character of a secret in any of its plain, JSON-escaped or URL-encoded forms."""
    alternatives = [re.escape(ch)]
    code = ord(ch)
    if code > 0xFFFF:  # JSON writes it as a surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        alternatives.append(rf"\\u{_hex_any_case(f'{high:04x}')}\\u{_hex_any_case(f'{low:04x}')}")
    else:
        alternatives.append(rf"\\u{_hex_any_case(f'{code:04x}')}")
    if ch in _JSON_ESCAPES:
        alternatives.append(re.escape(_JSON_ESCAPES[ch]))
    alternatives.append("".join(f"%{_hex_any_case(f'{b:02x}')}" for b in ch.encode()))
    if ch == " ":
        alternatives.append(r"\+")
    return f"(?:{'|'.join(alternatives)})"


def _base64_fragments(secret: str) -> set[str]:
    """Base64 text that appears wherever ``secret`` is base64-encoded, at any of the 3 byte alignments.

    For ``k`` bytes before the secret, the characters that depend only on the secret's bytes are those
    from ``ceil(8k / 6)`` up to ``floor(8 (k + n) / 6)``; both alphabets (``+/`` and ``-_``).
    """
    raw = secret.encode()
    fragments: set[str] = set()
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw).decode()
        middle = encoded[-(-8 * k // 6): (8 * (k + len(raw))) // 6]
        if len(middle) >= _MIN_BASE64_CHARS:
            fragments.add(middle)
            fragments.add(middle.replace("+", "-").replace("/", "_"))
    return fragments


def _secret_pattern(secret: str) -> str:
    escaped = "".join(_char_pattern(ch) for ch in secret)
    fragments = sorted(_base64_fragments(secret), key=len, reverse=True)
    return "|".join([escaped, *(re.escape(f) for f in fragments)])


def encoded_forms(secret: str) -> set[str]:
    """The likeliest concrete forms of ``secret`` in a log line, for Airflow's masker (which matches
    literal strings only, and recompiles all its patterns for each one: keep them few). :func:`redact`
    matches these and many more."""
    json_text = orjson.dumps(secret).decode()[1:-1]
    forms = {secret, json_text, json_text.replace("/", r"\/"), repr(secret)[1:-1], quote(secret, safe=""),
             quote_plus(secret), base64.b64encode(secret.encode()).decode(),
             base64.b64encode(f"Bearer {secret}".encode()).decode()}
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


#: Values never registered (masking them would garble every message that holds the word).
_NOT_SECRETS = frozenset({"true", "false", "none", "null", "default", "password", "secret", "token", "airflow"})


def _pieces(secret: str) -> list[str]:
    """The secret as typed, stripped, and each whitespace-separated piece (a token pasted with a line
    break may be logged one line at a time)."""
    candidates = [secret, secret.strip(), *secret.split()]
    return [c for c in dict.fromkeys(candidates)
            if len(c) >= MIN_SECRET_CHARS and c.lower() not in _NOT_SECRETS]


def _mask_in_airflow(forms: Iterable[str]) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except Exception:  # pragma: no cover - Airflow is always installed with the provider
        return
    for form in forms:
        try:
            mask_secret(form)
        except Exception:  # the masker must never stop a task
            log.debug("Airflow's secrets masker refused a value", exc_info=True)


def register_secret(secret: Any) -> None:
    """Redact ``secret`` (and its encoded forms) from every string that leaves a task, and mask it in
    Airflow's task logs. Call it as soon as a secret is read, before validating it. ``None``, empty and
    too short values are ignored; registering twice is harmless."""
    global _matchers
    if not isinstance(secret, str) or not secret:
        return
    new = [piece for piece in _pieces(secret) if piece not in _secrets]
    if not new:
        return
    compiled = {piece: re.compile(_secret_pattern(piece)) for piece in new}
    with _lock:
        _secrets.update(compiled)
        _matchers = tuple(_secrets[s] for s in sorted(_secrets, key=len, reverse=True))
    _mask_in_airflow({form for piece in new for form in encoded_forms(piece)})


def register_secrets(values: Iterable[Any]) -> None:
    """:func:`register_secret` for each value."""
    for value in values:
        register_secret(value)


#: Extra names whose values are secrets (any connection): ``pii_hash_key``, ``api_key``, ``webhook_token`` …
#: (not ``pii_key_version`` or ``pii_allow_unkeyed``: settings, whose values are ordinary words).
_SECRET_EXTRA = re.compile(r"(?i)(?:^|_)(?:key|secret|password|passwd|token|credentials?)$")


def register_connection(conn: Any) -> None:
    """Register a connection's password and every string extra whose name says it is a secret."""
    if conn is None:
        return
    register_secret(getattr(conn, "password", None))
    try:
        extra = conn.extra_dejson or {}
    except Exception:  # unreadable extra: nothing more to register
        return
    if isinstance(extra, Mapping):
        register_secrets(v for k, v in extra.items() if isinstance(k, str) and _SECRET_EXTRA.search(k))


def register_webhook_connection(conn: Any) -> None:
    """:func:`register_connection`, and for a webhook URL held in the password or host (Slack's
    ``https://hooks.slack.com/services/T…/B…/x…``) the path after ``/services/`` on its own."""
    if conn is None:
        return
    register_connection(conn)
    for value in (getattr(conn, "password", None), getattr(conn, "host", None)):
        if isinstance(value, str) and "/services/" in value:
            register_secret(value.split("/services/", 1)[1].strip("/"))

def _airflow_redact(text: str) -> str:
    """Values Airflow's masker knows from elsewhere (connections it fetched, Variables)."""
    try:
        from airflow.sdk.log import redact as airflow_redact

        return str(airflow_redact(text))
    except Exception:  # the masker must never stop an error from being reported
        return text


def redact(text: Any) -> str:
    """``text`` with every registered secret (in any of its forms) and every secret shape masked."""
    text = text if isinstance(text, str) else str(text)
    for matcher in _matchers:
        text = matcher.sub(REDACTED, text)
    text = _airflow_redact(text)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact_data(value: Any) -> Any:
    """Redact every string inside ``value`` (dicts, lists and tuples walked; keys kept; other types as
    they are): for XCom values and run records."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(v) for v in value)
    return value


def redact_url(url: str) -> str:
    """``url`` without user info, with sensitive query values replaced, then :func:`redact`-ed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(unreadable URL)"
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    query = [
        (k, REDACTED if any(s in k.lower() for s in _SENSITIVE_QUERY_KEYS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    clean = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
    return redact(clean)


def contains_secret(text: str) -> bool:
    """True when ``text`` holds a registered secret in any of its forms (request ids are dropped then)."""
    return any(matcher.search(text) is not None for matcher in _matchers)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def safe_request_id(value: Any) -> str | None:
    """``value`` when it looks like a request id (``[A-Za-z0-9._:-]{1,128}``) and holds no registered
    secret; ``None`` otherwise (a proxy that echoes the ``Authorization`` value into the id header)."""
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value) or contains_secret(value):
        return None
    if redact(value) != value:
        return None
    return value


def first_line(text: Any, limit: int = 300) -> str:
    """The first non-blank line of ``text``, stripped and redacted *before* it is cut (a cut secret would
    no longer match) to at most ``limit`` characters, ``…`` marking a cut; ``""`` for blank text."""
    line = next((part.strip() for part in redact(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
