"""SQL text helpers of the ClickHouse hook: identifier templating, value escaping, statement splitting.

Identifiers (``{{ db }}``) are substituted as bare names after validation; values (``%(name)s``) are
escaped by clickhouse-driver's own escaper so both engines see exactly the same literal text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from clickhouse_driver.util.escape import escape_params

from qtickets.exceptions import ClickHouseQueryError
from qtickets.timeutil import MSK_NAME

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
_QUERY_ID_BAD = re.compile(r"[^A-Za-z0-9_.\-]")
_INLINE_VALUES = re.compile(r"^\s*INSERT\s+INTO\s+[^'\"]*?\bVALUES\s*\(", re.I | re.S)


def check_identifier(value: Any, what: str = "identifier") -> str:
    """Return ``value`` when it is a plain ClickHouse identifier, else raise a clear error."""
    if not isinstance(value, str) or not IDENTIFIER_RE.match(value):
        raise ClickHouseQueryError(
            f"invalid {what} {value!r}: use letters, digits and '_' only, not starting with a digit"
        )
    return value


def qualify_table(table: str, database: str) -> str:
    """``t`` -> ``db.t``; ``other.t`` stays; every part is validated."""
    parts = table.split(".")
    if len(parts) > 2:
        raise ClickHouseQueryError(f"invalid table name {table!r}: expected 'table' or 'database.table'")
    for part in parts:
        check_identifier(part, "table name")
    return table if len(parts) == 2 else f"{database}.{table}"


def render_identifiers(sql: str, identifiers: Mapping[str, Any]) -> str:
    """Replace every ``{{ name }}`` with its validated value; unknown names are an error."""

    def _sub(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if not IDENTIFIER_RE.match(name):
            raise ClickHouseQueryError(f"bad template {match.group(0)!r}: only {{{{ identifier }}}} is allowed")
        if name not in identifiers:
            raise ClickHouseQueryError(
                f"SQL uses {{{{ {name} }}}} but no identifier {name!r} was given "
                f"(known: {', '.join(sorted(identifiers))})"
            )
        return check_identifier(identifiers[name], f"value of identifier {name!r}")

    return _TEMPLATE_RE.sub(_sub, sql)


_MSK_CONTEXT = SimpleNamespace(server_info=SimpleNamespace(get_timezone=lambda: MSK_NAME))


def substitute_params(sql: str, params: Mapping[str, Any] | None, context: Any = None) -> str:
    """Format ``%(name)s`` placeholders with values escaped by clickhouse-driver's escaper.

    ``context`` supplies the server time zone for aware datetimes (embedded: Europe/Moscow).
    """
    if not params:
        return sql
    if not isinstance(params, Mapping):
        raise ClickHouseQueryError("params must be a dict used with %(name)s placeholders")
    escaped = escape_params(params, context or _MSK_CONTEXT)
    try:
        return sql % escaped
    except KeyError as exc:
        raise ClickHouseQueryError(f"SQL placeholder %({exc.args[0]})s has no value in params") from None
    except (TypeError, ValueError) as exc:
        raise ClickHouseQueryError(
            f"cannot substitute params ({exc}); write a literal % as %% when params are given"
        ) from None


def reject_inline_values(sql: str) -> None:
    """``INSERT ... VALUES (...)`` as text hangs clickhouse-driver until its timeout; refuse it early."""
    if _INLINE_VALUES.match(sql):
        raise ClickHouseQueryError(
            "INSERT ... VALUES (...) written into the SQL text is not supported (clickhouse-driver waits for a "
            "data block and hangs): use hook.insert(table, columns, rows) or INSERT ... SELECT"
        )


def _code_part(line: str) -> str:
    """The line without a trailing ``--`` comment (quotes are respected)."""
    quote: str | None = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
        elif line.startswith("--", i):
            return line[:i]
        i += 1
    return line


def split_statements(sql: str) -> list[str]:
    """Split a migration file on ``;`` at the end of a line; ``--`` comments are dropped."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        code = _code_part(line).rstrip()
        if code.endswith(";"):
            current.append(code[:-1])
            statements.append("\n".join(current))
            current = []
        else:
            current.append(code)
    statements.append("\n".join(current))
    return [s.strip() for s in statements if s.strip()]


def sanitize_query_id(value: str, limit: int = 240) -> str:
    """Characters ClickHouse accepts in ``query_id`` logs and ``KILL QUERY`` without quoting trouble."""
    return _QUERY_ID_BAD.sub("_", value)[:limit]


def iter_query_ids(base: str | None) -> Iterator[str | None]:
    """``base-1``, ``base-2`` ... (``None`` forever without a base)."""
    n = 0
    while True:
        n += 1
        yield sanitize_query_id(f"{base}-{n}") if base else None
