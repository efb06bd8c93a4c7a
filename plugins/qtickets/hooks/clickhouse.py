# Over 300 lines: one hook class serving both engines behind one API (engine internals live in _chdb/_ch_*).
"""ClickHouse warehouse hook: a server over the native protocol, or chDB embedded in-process.

One API for both modes (see ``docs/internals.md``): ``execute``, ``fetch_all``, ``run_sql_file``,
``insert``, ``close``. ``{{ name }}`` identifiers are validated and substituted (``{{ db }}`` is the
hook's database); ``%(name)s`` values are escaped by clickhouse-driver's escaper in both modes.
``get_conn()`` is a DB-API 2 connection, so ``SQLExecuteQueryOperator`` and the check operators work.

Connection (type ``qtickets_clickhouse``; connections of the older type ``clickhouse`` work the same,
ADR 0009): host, port (9000; 9440 with ``secure``), login, password, schema = database (``zakaz``).
Extras: ``secure``, ``verify``, ``compression``, ``settings`` (dict), ``connect_timeout`` (10),
``send_receive_timeout`` (120), ``sync_request_timeout`` (5); ``cluster`` runs the schema DDL
``ON CLUSTER`` with replicated engines (ADR 0008); ``embedded_path`` selects chDB on that folder,
``lock_timeout`` (600 s) bounds the wait for another process that holds the folder.

A port of ClickHouse's HTTP interface (8123, 8443: what a connection made for the official
``apache-airflow-providers-clickhousedb`` provider carries) fails at once with one sentence saying
which port to set: this hook speaks the native protocol.

Queries get ``query_id`` ``<dag>-<task>-<run>-<try>-<n>`` (or ``<query_id>-<n>`` from the hook
argument) on a server; chDB has no query log worth tagging, so embedded queries carry none.

A hook holds one driver client (or one reference to the process's chDB session): use one hook per
thread. Embedded queries of all hooks in a process are serialised on the shared session.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from airflow.providers.common.sql.hooks.sql import DbApiHook

from qtickets.connections import extra_flag
from qtickets.exceptions import ClickHouseConfigError, ClickHouseError, ClickHouseQueryError
from qtickets.redaction import register_connection

from . import _chdb
from ._ch_errors import classify, error_code
from ._ch_sql import (
    check_identifier,
    iter_query_ids,
    qualify_table,
    reject_inline_values,
    render_identifiers,
    split_statements,
    substitute_params,
)
from ._ch_types import normalize_driver_rows

# A stdlib logger, as in every hook of this package (see hooks/_api.py): Airflow 3's ``self.log`` is
# structlog and bypasses stdlib handlers.
log = logging.getLogger(__name__)

DEFAULT_DATABASE = "zakaz"
DEFAULT_BATCH_SIZE = 50_000
_LOW_CARDINALITY_REVISION = 54429  # older servers need allow_experimental_low_cardinality_type
_UNKNOWN_DATABASE = 81
_NOT_PERMITTED = frozenset({164, 291, 497})  # READONLY, DATABASE_ACCESS_DENIED, ACCESS_DENIED
NATIVE_PORT, NATIVE_SECURE_PORT = 9000, 9440
#: ClickHouse's HTTP(S) interface ports: the official provider's (clickhouse-connect) defaults.
HTTP_PORTS = frozenset({8123, 8443})


def _json_default(value: Any) -> Any:
    """orjson fallback for chDB rows: Decimal -> str, aware datetime -> epoch, date -> ISO."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value!r}: pass epoch seconds (int) or an aware datetime")
        return int(value.timestamp())
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} {value!r} to ClickHouse")


def _columns(batch: list[tuple]) -> list[tuple]:
    """The batch transposed (one tuple per column), in C; rows of unequal width raise ValueError."""
    return list(zip(*batch, strict=True))


def _dump_columns(columns: list[tuple]) -> bytes:
    """Columns as one ``JSONCompactColumns`` document: transposing in C and one orjson call is ~4x
    faster than serialising row by row."""
    return orjson.dumps(columns, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _float(extra: Mapping[str, Any], key: str, default: float) -> float:
    value = extra.get(key)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ClickHouseConfigError(f"connection extra {key!r} must be a number of seconds, got {value!r}") from None


def _flag(extra: Mapping[str, Any], key: str, default: bool) -> bool:
    try:
        return extra_flag(extra.get(key), default)
    except ValueError as exc:
        raise ClickHouseConfigError(f"connection extra {key!r} {exc}") from None


class ClickHouseHook(DbApiHook):
    """ClickHouse through clickhouse-driver (server) or chDB (``extra.embedded_path``)."""

    conn_name_attr = "clickhouse_conn_id"
    default_conn_name = "clickhouse_default"
    conn_type = "qtickets_clickhouse"
    #: Connection types this hook reads: its own, and ``clickhouse`` (this project's name for it until
    #: ADR 0009, and the official provider's type, whose connections it reads when they use a native port).
    accepted_conn_types = ("qtickets_clickhouse", "clickhouse")
    hook_name = "ClickHouse (native or embedded)"
    supports_autocommit = False
    _test_connection_sql = "SELECT 1"

    def __init__(
        self,
        *args: Any,
        clickhouse_conn_id: str = default_conn_name,
        query_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, clickhouse_conn_id=clickhouse_conn_id, **kwargs)
        if batch_size < 1:
            raise ClickHouseConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._schema_override: str | None = kwargs.get("schema")
        self._query_id_arg = query_id
        self.batch_size = batch_size
        self._sleep = sleep
        self._client_obj: Any = None
        self._server_tz = "UTC"
        self._entry: _chdb._Entry | None = None
        self._engine: _chdb.EmbeddedEngine | None = None
        #: Column types per existing table, read once per hook (a load inserts into a table many times).
        self._table_types: dict[str, dict[str, str]] = {}

    # ----------------------------------------------------------------- configuration (lazy)
    @cached_property
    def _extra(self) -> dict[str, Any]:
        # Every query path reads the extras first: the password and the secret extras (pii_hash_key)
        # are redacted from errors and masked in task logs before anything can fail.
        register_connection(self.connection)
        conn_type = self.connection.conn_type
        if conn_type and conn_type not in self.accepted_conn_types:
            raise ClickHouseConfigError(
                f"ClickHouse connection {self.get_conn_id()!r} has type {conn_type!r}; this hook reads connections "
                f"of type {self.conn_type!r} (or {self.accepted_conn_types[1]!r}): change its type.")
        return dict(self.connection.extra_dejson)

    @cached_property
    def database(self) -> str:
        """Connection schema (default ``zakaz``), validated as an identifier."""
        name = self._schema_override or self.connection.schema or DEFAULT_DATABASE
        try:
            return check_identifier(name, "database (connection schema)")
        except ClickHouseQueryError as exc:
            raise ClickHouseConfigError(str(exc)) from None

    @property
    def is_embedded(self) -> bool:
        return bool(self._extra.get("embedded_path"))

    @cached_property
    def cluster(self) -> str | None:
        """Connection extra ``cluster``: the schema DDL runs ``ON CLUSTER`` it, with replicated engines (ADR 0008)."""
        name = self._extra.get("cluster")
        if name in (None, ""):
            return None
        if self.is_embedded:
            raise ClickHouseConfigError(
                "connection extras 'cluster' and 'embedded_path' exclude each other: the embedded engine is one "
                "process on one folder; remove 'cluster', or 'embedded_path' to use the cluster's servers")
        from qtickets.warehouse.cluster import check_cluster_name

        return check_cluster_name(name)

    @cached_property
    def port(self) -> int:
        """The native-protocol port: the connection's, else 9000 (9440 with ``secure``).

        :raises ClickHouseConfigError: the port is one of ClickHouse's HTTP ports.
        """
        secure = _flag(self._extra, "secure", False)
        port = int(self.connection.port or (NATIVE_SECURE_PORT if secure else NATIVE_PORT))
        if port in HTTP_PORTS:
            native = NATIVE_SECURE_PORT if secure or port == 8443 else NATIVE_PORT
            raise ClickHouseConfigError(
                f"ClickHouse connection {self.get_conn_id()!r}: port {port} is ClickHouse's HTTP"
                f"{'S' if port == 8443 else ''} port; this hook speaks the native protocol: set port {native}"
                f"{'' if native == NATIVE_SECURE_PORT else ' (9440 with secure)'}.")
        return port

    @cached_property
    def _where(self) -> str:
        if self.is_embedded:
            return f"embedded {self._extra['embedded_path']}"
        return f"{self.connection.host or 'localhost'}:{self.connection.port or self.port}"

    @cached_property
    def _query_ids(self) -> Iterator[str | None]:
        return iter_query_ids(self._query_id_arg or self._task_query_id())

    @staticmethod
    def _task_query_id() -> str | None:
        try:
            from airflow.sdk import get_current_context

            ti = get_current_context()["ti"]
            return f"{ti.dag_id}-{ti.task_id}-{ti.run_id}-{ti.try_number}"
        except Exception:  # not inside a task
            return None

    def _client_kwargs(self) -> dict[str, Any]:
        extra, conn = self._extra, self.connection
        # ``session_settings``: the same thing in a connection made with the official provider's form.
        settings = extra.get("settings") or extra.get("session_settings") or {}
        if isinstance(settings, str):
            try:
                settings = json.loads(settings)
            except ValueError:
                raise ClickHouseConfigError("connection extra 'settings' must be a JSON object") from None
        if not isinstance(settings, dict):
            raise ClickHouseConfigError("connection extra 'settings' must be a dict of ClickHouse settings")
        kwargs: dict[str, Any] = {
            "host": conn.host or "localhost",
            "port": self.port,
            "user": conn.login or "default",
            "password": conn.password or "",
            "database": self.database,
            "secure": _flag(extra, "secure", False),
            "verify": _flag(extra, "verify", True),
            "connect_timeout": _float(extra, "connect_timeout", 10),
            "send_receive_timeout": _float(extra, "send_receive_timeout", 120),
            "sync_request_timeout": _float(extra, "sync_request_timeout", 5),
            "settings": dict(settings),
            "client_name": "qtickets-airflow",
        }
        if extra.get("compression"):
            kwargs["compression"] = extra["compression"]
        return kwargs

    def _fail(self, exc: BaseException) -> ClickHouseError:
        return classify(exc, where=self._where)

    # ----------------------------------------------------------------- server mode
    def _client(self) -> Any:
        if self._client_obj is None:
            from clickhouse_driver import Client

            kwargs = self._client_kwargs()
            client = Client(**kwargs)
            try:
                self._probe(client, kwargs)
            except BaseException:
                client.disconnect()
                raise
            self._client_obj = client
        return self._client_obj

    def _probe(self, client: Any, kwargs: dict[str, Any]) -> None:
        """Connect, create the database when missing, adapt settings to the server's revision."""
        try:
            client.execute("SELECT 1")
        except Exception as exc:
            if error_code(exc) != _UNKNOWN_DATABASE:
                raise self._fail(exc) from exc
            self._create_database(kwargs)
            try:
                client.execute("SELECT 1")
            except Exception as exc2:
                raise self._fail(exc2) from exc2
        info = client.connection.server_info
        self._server_tz = info.timezone or "UTC"
        if info.revision < _LOW_CARDINALITY_REVISION:
            client.settings.setdefault("allow_experimental_low_cardinality_type", 1)

    def _create_database(self, kwargs: dict[str, Any]) -> None:
        from clickhouse_driver import Client

        admin = Client(**{**kwargs, "database": "default"})
        on_cluster = f" ON CLUSTER '{self.cluster}'" if self.cluster else ""
        try:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}{on_cluster}")
        except Exception as exc:
            if error_code(exc) in _NOT_PERMITTED:
                raise ClickHouseConfigError(
                    f"ClickHouse ({self._where}): database {self.database} does not exist and user "
                    f"{kwargs['user']} may not create it. Ask an administrator to run "
                    f"CREATE DATABASE {self.database}, or set the connection schema to an existing database."
                ) from None
            raise self._fail(exc) from exc
        finally:
            admin.disconnect()

    def _server_execute(self, client: Any, *args: Any, **kwargs: Any) -> Any:
        """``client.execute`` tagged with the next query id; failures become classified hook errors."""
        try:
            return client.execute(*args, query_id=next(self._query_ids), **kwargs)
        except Exception as exc:
            raise self._server_error(exc) from exc

    def _server_run(self, sql: str, params: Mapping[str, Any] | None) -> list[tuple]:
        client = self._client()
        sql = substitute_params(sql, params, client.connection.context)
        log.debug("ClickHouse %s: %s", self._where, sql[:1000])
        result = self._server_execute(client, sql, with_column_types=True)
        rows, columns = result if isinstance(result, tuple) else (result, [])
        return normalize_driver_rows(rows, [t for _, t in columns], self._server_tz)

    def _server_error(self, exc: BaseException) -> ClickHouseError:
        err = self._fail(exc)
        if not isinstance(err, ClickHouseQueryError) and self._client_obj is not None:
            self._client_obj.disconnect()  # reconnect cleanly next time
        return err

    # ----------------------------------------------------------------- embedded mode
    def _acquire_entry(self) -> _chdb._Entry:
        """A reference to the shared session of ``embedded_path`` (waits for the folder lock)."""
        return _chdb.acquire(str(self._extra["embedded_path"]), _float(self._extra, "lock_timeout", 600),
                             sleep=self._sleep)

    def _embedded(self) -> _chdb.EmbeddedEngine:
        if self._engine is None:
            self._entry = self._acquire_entry()
            self._engine = _chdb.EmbeddedEngine(self._entry, self.database)
        return self._engine

    # ----------------------------------------------------------------- public API
    def _render(self, sql: str, identifiers: Mapping[str, Any]) -> str:
        return render_identifiers(sql, {"db": self.database, **identifiers})

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> list[tuple]:
        """Run one statement and return its rows as tuples of typed Python values."""
        sql = self._render(sql, identifiers)
        reject_inline_values(sql)
        if self.is_embedded:
            return self._embedded().query(substitute_params(sql, params))[0]
        return self._server_run(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> None:
        """Run one statement and drop any rows it returns."""
        self.fetch_all(sql, params, **identifiers)

    def run_sql_file(
        self, path: str | Path, params: Mapping[str, Any] | None = None, **identifiers: Any
    ) -> list[tuple]:
        """Run every statement of a file (``;`` at line end separates them); returns the last one's rows."""
        statements = split_statements(Path(path).read_text(encoding="utf-8"))
        if not statements:
            raise ClickHouseQueryError(f"SQL file {path} holds no statement")
        rows: list[tuple] = []
        for statement in statements:
            rows = self.fetch_all(statement, params, **identifiers)
        return rows

    def _column_types(self, qualified: str, columns: Sequence[str]) -> dict[str, str]:
        found = self._table_types.get(qualified)
        if found is None:
            db, table = qualified.split(".")
            found = dict(self.fetch_all(
                "SELECT name, type FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                {"db": db, "t": table},
            ))
            if not found:
                raise ClickHouseQueryError(f"ClickHouse ({self._where}): table {qualified} does not exist; "
                                           "apply the migrations first")
            self._table_types[qualified] = found
        missing = [c for c in columns if c not in found]
        if missing:
            raise ClickHouseQueryError(f"table {qualified} has no column(s) {', '.join(missing)}")
        return {c: found[c] for c in columns}

    @staticmethod
    def _check_row(row: Sequence[Any], columns: Sequence[str], types: Mapping[str, str], table: str) -> None:
        """Cheap guard on the first row of a batch: width, floats for money, naive datetimes."""
        if len(row) != len(columns):
            raise ClickHouseQueryError(f"row for {table} has {len(row)} values but {len(columns)} columns "
                                       f"were named ({', '.join(columns)})")
        for name, value in zip(columns, row, strict=True):
            if isinstance(value, float) and "Decimal" in types[name]:
                raise ClickHouseQueryError(
                    f"column {table}.{name} is {types[name]} but got float {value!r}: pass str or Decimal "
                    "(floats lose cents)"
                )
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ClickHouseQueryError(
                    f"column {table}.{name} got naive datetime {value!r}: pass epoch seconds (int)"
                )

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        """Insert ``rows`` in batches of ``batch_size`` (memory bounded by a batch); returns the row count.

        Values go as data, never as SQL text: DateTime columns take epoch ints, Decimal columns take
        str (or Decimal). A float for a Decimal column or a naive datetime is rejected.
        """
        qualified = qualify_table(table, self.database)
        columns = [check_identifier(c, "column name") for c in columns]
        if not columns:
            raise ClickHouseQueryError("insert needs at least one column")
        types = self._column_types(qualified, columns)
        col_sql = ", ".join(columns)
        total, started = 0, time.monotonic()
        iterator = iter(rows)
        while batch := list(itertools.islice(iterator, self.batch_size)):
            self._check_row(batch[0], columns, types, qualified)
            total += self._insert_batch(qualified, col_sql, batch)
        log.info("Inserted %s rows into %s in %.2f s", total, qualified, time.monotonic() - started)
        return total

    def _insert_batch(self, qualified: str, col_sql: str, batch: list[tuple]) -> int:
        """One batch, sent column by column: chDB gets one ``JSONCompactColumns`` document, the driver
        ``columnar=True`` (it would otherwise transpose the rows itself, one Python loop per column)."""
        try:
            columns = _columns(batch)
            payload = _dump_columns(columns) if self.is_embedded else None
        except (TypeError, ValueError) as exc:  # unserialisable value, or rows of unequal width
            raise ClickHouseQueryError(f"cannot insert into {qualified}: {exc}") from None
        if payload is not None:
            del columns  # only the document goes to chDB: free the column tuples first
            self._embedded().insert_batch(qualified, col_sql, payload)
            return len(batch)
        self._server_execute(self._client(), f"INSERT INTO {qualified} ({col_sql}) VALUES", columns,
                             columnar=True)
        return len(batch)

    def close(self) -> None:
        """Disconnect from the server, or hand the embedded session (and folder lock) back."""
        if self._client_obj is not None:
            client, self._client_obj = self._client_obj, None
            client.disconnect()
        if self._entry is not None:
            entry, self._entry, self._engine = self._entry, None, None
            _chdb.release(entry)

    def __enter__(self) -> ClickHouseHook:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- DbApiHook integration
    def get_conn(self) -> Any:
        """A DB-API 2 connection (clickhouse_driver.dbapi, or a shim over the embedded session)."""
        if self.is_embedded:
            from ._ch_dbapi import Connection

            entry = self._acquire_entry()
            return Connection(_chdb.EmbeddedEngine(entry, self.database), lambda: _chdb.release(entry))
        from clickhouse_driver import dbapi

        self._client()  # creates the database on first use, with a clear error
        kwargs = self._client_kwargs()
        kwargs["settings"] = dict(self._client_obj.settings)
        return dbapi.connect(**kwargs)

    def get_uri(self) -> str:
        """``clickhouse://host:port/db`` (no credentials), or ``chdb://<folder>/db``."""
        if self.is_embedded:
            return f"chdb://{self._extra['embedded_path']}/{self.database}"
        return f"clickhouse://{self._where}/{self.database}"

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (``[core] test_connection = Enabled``): ``SELECT 1``, then the database
        exists (a server connection creates it when missing and the user may)."""
        try:
            self.fetch_all("SELECT 1")
            (found,), = self.fetch_all("SELECT count() FROM system.databases WHERE name = %(db)s",
                                       {"db": self.database})
        except ClickHouseError as exc:
            return False, str(exc)
        except Exception as exc:  # a config error (bad extra) reads better than a traceback in the UI
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            self.close()
        if not found:
            return False, f"Connected to ClickHouse ({self._where}), but database {self.database} does not exist"
        return True, f"Connected to ClickHouse ({self._where}); database {self.database} exists"
