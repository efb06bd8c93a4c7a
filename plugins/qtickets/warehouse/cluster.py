"""Schema DDL for a replicated ClickHouse cluster (ADR 0008).

The migrations in ``include/sql/schema`` are written for one server. When the ClickHouse connection has
the extra ``cluster``, :func:`render_for_cluster` rewrites every DDL statement before it runs:

* ``CREATE DATABASE``/``TABLE``/``VIEW``, ``ALTER TABLE``, ``DROP``, ``TRUNCATE``, ``RENAME`` and
  ``EXCHANGE`` get ``ON CLUSTER '<name>'``: every host of the cluster runs them (for ``ALTER`` of a
  replicated table, ClickHouse runs it on one replica per shard and Keeper replicates it);
* ``ENGINE = <X>MergeTree(<args>)`` becomes ``ENGINE = Replicated<X>MergeTree('<keeper path>',
  '{replica}', <args>)`` with the Keeper path ``/clickhouse/tables/{shard}/{database}/{table}``:
  ``{shard}`` and ``{replica}`` are each server's macros, ``{database}``/``{table}`` are filled in by
  ClickHouse. Columns, keys, partitions, codecs and TTLs stay as written.

``INSERT``, ``SELECT`` and ``OPTIMIZE`` pass through unchanged (they act on replicated tables, which
replicate by themselves); any other DDL is refused, so a new kind of statement in a future migration
cannot silently run on one host only.

The fact rebuild's scratch tables are *not* replicated (:func:`local_engine`): they live on the
replica the task is connected to, and ``REPLACE PARTITION`` from them into a replicated fact table is
itself replicated through Keeper (the other replicas fetch the new parts).
"""

from __future__ import annotations

import re

from qtickets.exceptions import ClickHouseConfigError, ClickHouseQueryError

#: Keeper path of every replicated table: one replication group per shard, database and table.
KEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"

_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_.{}-]+$")
_NAME = r"(?:\{\{\s*\w+\s*\}\}|`[^`]+`|\w+)(?:\.(?:\{\{\s*\w+\s*\}\}|`[^`]+`|\w+))?"
_IF_EXISTS = r"(?:\s+IF\s+(?:NOT\s+)?EXISTS)?"

# Statement kind -> regex whose end is where ``ON CLUSTER`` goes (right after the object name).
_AFTER_NAME: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("CREATE DATABASE", re.compile(rf"^\s*CREATE\s+DATABASE{_IF_EXISTS}\s+{_NAME}", re.I)),
    ("CREATE TABLE", re.compile(rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE{_IF_EXISTS}\s+{_NAME}", re.I)),
    ("CREATE VIEW", re.compile(
        rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+)?VIEW{_IF_EXISTS}\s+{_NAME}", re.I)),
    ("ALTER TABLE", re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}", re.I)),
    ("DROP", re.compile(rf"^\s*DROP\s+(?:TABLE|VIEW|DATABASE|DICTIONARY){_IF_EXISTS}\s+{_NAME}", re.I)),
    ("TRUNCATE", re.compile(rf"^\s*TRUNCATE(?:\s+TABLE)?{_IF_EXISTS}\s+{_NAME}", re.I)),
)
# ``RENAME TABLE a TO b[, c TO d]`` and ``EXCHANGE TABLES a AND b``: ON CLUSTER goes at the end.
_AT_END = re.compile(r"^\s*(?:RENAME\s+(?:TABLE|DATABASE|DICTIONARY)|EXCHANGE\s+(?:TABLES|DICTIONARIES))\s", re.I)
_PASS_THROUGH = re.compile(r"^\s*(?:INSERT|SELECT|WITH|OPTIMIZE|SYSTEM)\b", re.I)
_ALREADY = re.compile(r"\bON\s+CLUSTER\b", re.I)

# ENGINE = [Replacing|Summing|...]MergeTree[(args)] (not already Replicated*).
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?!Replicated)(?P<family>[A-Za-z]*)MergeTree\b(?P<args>\s*\((?P<inner>[^()]*)\))?")


def check_cluster_name(name: object) -> str:
    """The ``cluster`` extra as written in ``ON CLUSTER '<name>'`` (a name from ``remote_servers``, or
    the macro ``{cluster}``)."""
    if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
        raise ClickHouseConfigError(
            f"connection extra 'cluster' must be a cluster name from the servers' remote_servers (letters, digits, "
            f"'_', '-', '.'), or the macro {{cluster}}; got {name!r}")
    return name


def replicated_engine(sql: str) -> str:
    """``ENGINE = ReplacingMergeTree(_ver)`` -> ``ENGINE = ReplicatedReplacingMergeTree('<path>',
    '{replica}', _ver)``; ``ENGINE = MergeTree`` -> ``ReplicatedMergeTree('<path>', '{replica}')``."""

    def _sub(match: re.Match[str]) -> str:
        inner = (match.group("inner") or "").strip()
        args = ", ".join([f"'{KEEPER_PATH}'", f"'{REPLICA_NAME}'"] + ([inner] if inner else []))
        return f"ENGINE = Replicated{match.group('family')}MergeTree({args})"

    return _ENGINE.sub(_sub, sql)


def render_for_cluster(statement: str, cluster: str) -> str:
    """One statement of a migration, as it must run on ``cluster`` (see the module doc).

    :raises ClickHouseQueryError: a DDL statement this function does not know how to distribute.
    """
    cluster = check_cluster_name(cluster)
    on_cluster = f" ON CLUSTER '{cluster}'"
    sql = statement.strip().rstrip(";").rstrip()
    if _PASS_THROUGH.match(sql):
        return sql
    if _ALREADY.search(sql):
        raise ClickHouseQueryError(
            f"statement already names a cluster; migrations must not (the connection extra 'cluster' adds it): "
            f"{sql[:120]}")
    for kind, pattern in _AFTER_NAME:
        match = pattern.match(sql)
        if match:
            sql = sql[:match.end()] + on_cluster + sql[match.end():]
            return replicated_engine(sql) if kind == "CREATE TABLE" else sql
    if _AT_END.match(sql):
        return sql + on_cluster
    raise ClickHouseQueryError(
        "cannot run this migration statement on a cluster: only CREATE/ALTER/DROP/TRUNCATE/RENAME/EXCHANGE "
        f"(given ON CLUSTER) and INSERT/SELECT/OPTIMIZE/SYSTEM are known: {sql[:120]}")


_REPLICATED_ENGINE_FULL = re.compile(
    r"^Replicated(?P<family>[A-Za-z]*MergeTree)\(\s*'(?:[^'\\]|\\.)*'\s*,\s*'(?:[^'\\]|\\.)*'\s*(?:,\s*)?(?P<rest>.*)$",
    re.S)


def local_engine(engine_full: str) -> str | None:
    """The storage clause of a NON-replicated copy of a table whose ``system.tables.engine_full`` is
    given, or ``None`` when the table is not replicated (``CREATE TABLE ... AS`` copies it as is).

    ``CREATE TABLE scratch AS fact`` would copy a replicated fact's Keeper path: the scratch would join
    the fact's replication group. The scratch gets the same engine family, keys and settings instead,
    without Keeper: ``ReplicatedMergeTree('/p', '{replica}') PARTITION BY m ORDER BY k`` ->
    ``MergeTree() PARTITION BY m ORDER BY k``.
    """
    match = _REPLICATED_ENGINE_FULL.match(engine_full.strip())
    if not match:
        if engine_full.strip().startswith("Replicated"):
            raise ClickHouseQueryError(f"cannot derive a local engine from {engine_full[:200]!r}")
        return None
    return f"{match.group('family')}({match.group('rest')}"
