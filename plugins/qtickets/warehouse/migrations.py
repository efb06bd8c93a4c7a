"""Ordered, idempotent schema migrations recorded in ``{db}.schema_migrations``.

Files are ``include/sql/schema/NNN_name.sql``, applied in number order, each once. Every statement
in them is ``CREATE ... IF NOT EXISTS`` (or ``CREATE OR REPLACE VIEW``) and none drops data, so a
migration interrupted half-way is simply applied again. An applied file must never change: its
checksum is recorded and a changed file stops the run -- ship a new numbered file instead.

On a cluster (the connection extra ``cluster``, exposed as ``ch.cluster``) every statement -- the
``schema_migrations`` table's too -- runs as :func:`qtickets.warehouse.cluster.render_for_cluster`
rewrites it: ``ON CLUSTER`` and ``Replicated*`` engines (ADR 0008). The checksum is the file's, so the
same files serve one server and a cluster.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from qtickets.exceptions import ClickHouseQueryError
from qtickets.hooks._ch_sql import split_statements
from qtickets.timeutil import MSK_NAME, utcnow
from qtickets.warehouse.cluster import render_for_cluster
from qtickets.warehouse.paths import SCHEMA_DIR

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {{ db }}.schema_migrations
(
    name       String,
    checksum   String,
    applied_at DateTime('""" + MSK_NAME + """')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name
"""


def checksum(path: Path) -> str:
    """SHA-256 of the file text (line endings normalised, so a checkout on Windows does not differ)."""
    return hashlib.sha256(path.read_text(encoding="utf-8").replace("\r\n", "\n").encode()).hexdigest()


def migration_files(directory: Path | None = None) -> list[Path]:
    """The migration files in apply order.

    :raises ClickHouseQueryError: a ``.sql`` file is misnamed or two files share a number.
    """
    directory = directory or SCHEMA_DIR
    files = sorted(directory.glob("*.sql"))
    seen: dict[str, str] = {}
    for path in files:
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise ClickHouseQueryError(
                f"migration file {path.name!r} in {directory} is misnamed: use NNN_lower_case_name.sql"
            )
        if match.group(1) in seen:
            raise ClickHouseQueryError(
                f"migrations {seen[match.group(1)]!r} and {path.name!r} share number {match.group(1)}: renumber one"
            )
        seen[match.group(1)] = path.name
    return files


def cluster_of(ch: Any) -> str | None:
    """The cluster the hook's DDL runs on (connection extra ``cluster``), or ``None`` for one server."""
    return getattr(ch, "cluster", None) or None


def migration_statements(path: Path, cluster: str | None = None) -> list[str]:
    """The statements of one migration file, as they run on ``cluster`` (or one server)."""
    statements = split_statements(path.read_text(encoding="utf-8"))
    if not statements:
        raise ClickHouseQueryError(f"SQL file {path} holds no statement")
    return [render_for_cluster(s, cluster) for s in statements] if cluster else statements


def bootstrap_statements(cluster: str | None = None) -> list[str]:
    """The database and ``schema_migrations`` DDL that precede the migrations."""
    statements = ["CREATE DATABASE IF NOT EXISTS {{ db }}", _CREATE_TABLE.strip()]
    return [render_for_cluster(s, cluster) for s in statements] if cluster else statements


def _bootstrapped(ch: Any) -> bool:
    """The database and its ``schema_migrations`` table exist on the server the hook talks to."""
    rows = ch.fetch_all("SELECT count() FROM system.tables WHERE database = '{{ db }}' AND name = 'schema_migrations'")
    return bool(rows and rows[0][0])


def applied_migrations(ch: Any) -> dict[str, str]:
    """Name -> checksum of every migration recorded as applied."""
    rows = ch.fetch_all("SELECT name, argMax(checksum, applied_at) FROM {{ db }}.schema_migrations GROUP BY name")
    return {name: digest for name, digest in rows}


def apply_migrations(ch: Any, directory: Path | None = None) -> list[str]:
    """Create the database and apply every pending migration; return the names applied now.

    :raises ClickHouseQueryError: an applied migration's file changed since it was applied.
    """
    files = migration_files(directory)
    cluster = cluster_of(ch)
    # ON CLUSTER DDL goes through Keeper's distributed DDL queue and waits for every host (a host that is
    # down makes it wait distributed_ddl_task_timeout): on a cluster it runs only when something is pending.
    if not (cluster and _bootstrapped(ch)):
        for statement in bootstrap_statements(cluster):
            ch.execute(statement)
    applied = applied_migrations(ch)
    changed = [p.name for p in files if p.name in applied and applied[p.name] != checksum(p)]
    if changed:
        raise ClickHouseQueryError(
            f"applied migration(s) {', '.join(changed)} changed since they were applied (checksum differs). "
            "Never edit an applied migration: restore the file and put the change in a new numbered file."
        )
    unknown = sorted(set(applied) - {p.name for p in files})
    if unknown:
        log.warning("Database has migrations this code does not know: %s (newer code deployed elsewhere?)", unknown)
    done: list[str] = []
    for path in files:
        if path.name in applied:
            continue
        log.info("Applying migration %s%s", path.name, f" on cluster {cluster}" if cluster else "")
        for statement in migration_statements(path, cluster):
            ch.execute(statement)
        ch.insert(
            "schema_migrations", ("name", "checksum", "applied_at"),
            [(path.name, checksum(path), int(utcnow().timestamp()))],
        )
        done.append(path.name)
    log.info("Schema up to date: %d applied now, %d before", len(done), len(applied))
    return done
