"""The embedded engine (chDB): one shared session per process, one process per folder.

chDB allows one data folder per OS process and one process per folder; a second process gets an empty
"Error initializing EmbeddedServer" (the reason is only on stderr). So:

* a process-level registry shares one session per folder (refcounted) and refuses a second folder
  with a clear error;
* an ``fcntl.flock`` on the sibling file ``<folder>.lock`` (holding the owner's PID) serialises
  processes: parallel Airflow tasks on one folder wait their turn instead of failing at random.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from qtickets.exceptions import ClickHouseConfigError, ClickHouseRetryableError
from qtickets.redaction import first_line
from qtickets.timeutil import MSK_NAME

from ._ch_errors import classify
from ._ch_types import convert_json_rows

log = logging.getLogger(__name__)

SESSION_TZ = MSK_NAME
POLL_SECONDS = 0.2
# Quoted decimals/64-bit ints keep exact values through JSON.
_SESSION_SETTINGS = (
    "SET output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1, "
    "input_format_parallel_parsing = 0"
)


@dataclass
class _Entry:
    path: str
    session: Any
    lock_fd: int
    refs: int = 0
    current_db: str | None = None
    created_dbs: set[str] = field(default_factory=set)
    mutex: threading.RLock = field(default_factory=threading.RLock)


_registry: dict[str, _Entry] = {}
_registry_lock = threading.Lock()


def lock_path(folder: str) -> str:
    """The inter-process lock file of ``folder`` (a sibling, so the folder itself stays chDB's)."""
    return folder.rstrip("/") + ".lock"


def _read_pid(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 64).decode(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


def acquire_folder_lock(
    folder: str,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Take the exclusive flock of ``folder`` within ``timeout`` seconds; returns the locked fd."""
    path = lock_path(folder)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = clock() + timeout
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if clock() >= deadline:
                holder = _read_pid(fd)
                os.close(fd)
                raise ClickHouseRetryableError(
                    f"embedded ClickHouse folder {folder} is still in use by process {holder} after "
                    f"{timeout:g} s (lock file {path}); a retry may succeed once it finishes, or raise "
                    "the connection extra lock_timeout"
                ) from None
            if not waited:
                log.info("Waiting for embedded ClickHouse folder %s (held by process %s)", folder, _read_pid(fd))
                waited = True
            sleep(POLL_SECONDS)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_folder_lock(fd: int) -> None:
    """Drop the flock and forget the PID."""
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_session(folder: str) -> Any:
    from chdb import session as chdb_session

    try:
        sess = chdb_session.Session(f"{folder}?session_timezone={SESSION_TZ}")
    except RuntimeError as exc:
        raise ClickHouseConfigError(
            f"cannot open the embedded ClickHouse folder {folder}: {first_line(exc, 300)} "
            "Another process may be using it (chDB allows one process per folder), or the folder is not "
            "a chDB data folder."
        ) from None
    sess.query(_SESSION_SETTINGS)
    return sess


def acquire(folder: str, lock_timeout: float, *, sleep: Callable[[float], None] = time.sleep) -> _Entry:
    """Share the session of ``folder`` (opening it, after taking the folder lock, on first use)."""
    folder = str(Path(folder).expanduser().resolve())
    with _registry_lock:
        entry = _registry.get(folder)
        if entry is None:
            if _registry:
                other = next(iter(_registry))
                raise ClickHouseConfigError(
                    f"embedded ClickHouse folder {folder} cannot be opened: this process already uses "
                    f"{other} and chDB allows one folder per process. Use the same embedded_path, or close "
                    "the other hook first."
                )
            Path(folder).mkdir(parents=True, exist_ok=True)
            fd = acquire_folder_lock(folder, lock_timeout, sleep=sleep)
            try:
                sess = _open_session(folder)
            except BaseException:
                release_folder_lock(fd)
                raise
            entry = _registry[folder] = _Entry(path=folder, session=sess, lock_fd=fd)
        entry.refs += 1
        return entry


def release(entry: _Entry) -> None:
    """Drop one reference; the last one closes the session and frees the folder lock."""
    with _registry_lock:
        entry.refs -= 1
        if entry.refs > 0:
            return
        _registry.pop(entry.path, None)
        try:
            entry.session.close()
        finally:
            release_folder_lock(entry.lock_fd)


class EmbeddedEngine:
    """Queries and inserts on one shared chDB session, for one database."""

    def __init__(self, entry: _Entry, database: str) -> None:
        self.entry = entry
        self.database = database
        self.where = f"embedded {entry.path}"

    def _use_db(self) -> None:
        entry = self.entry
        if self.database not in entry.created_dbs:
            self.raw(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            entry.created_dbs.add(self.database)
        if entry.current_db != self.database:
            self.raw(f"USE {self.database}")
            entry.current_db = self.database

    def raw(self, sql: str, fmt: str = "JSONCompact") -> bytes:
        try:
            return self.entry.session.query(sql, fmt).bytes()
        except RuntimeError as exc:
            raise classify(exc, where=self.where) from None

    def query(self, sql: str) -> tuple[list[tuple], list[tuple[str, str]]]:
        """Run ``sql``; returns typed rows and ``[(name, type)]`` (both empty for statements)."""
        with self.entry.mutex:
            self._use_db()
            out = self.raw(sql)
        if not out.strip():
            return [], []
        doc = orjson.loads(out)
        meta = doc.get("meta", [])
        return convert_json_rows(meta, doc.get("data", []), SESSION_TZ), [(m["name"], m["type"]) for m in meta]

    def insert_batch(self, qualified: str, columns: str, payload: bytes) -> int:
        """Stream one batch (a ``JSONCompactColumns`` document) into ``qualified``."""
        with self.entry.mutex:
            self._use_db()
            try:
                with self.entry.session.send_insert(
                    f"INSERT INTO {qualified} ({columns})", "JSONCompactColumns"
                ) as ins:
                    ins.append(payload)
                    result = ins.finish()
            except RuntimeError as exc:
                raise classify(exc, where=self.where) from None
            self._release_memory()
        return int(getattr(result, "rows_written", 0) or 0)

    def _release_memory(self) -> None:
        """Hand the engine's freed memory back to the OS after an insert.

        The engine's allocator (jemalloc) otherwise keeps what an insert and the merges it starts freed, so a
        load task's RSS ratchets up with the window (ADR 0011: 126 000 orders peaked 20 % above 20 000; with
        this, within 10 %). A purge takes 0.2 ms, up to ~25 ms when it returns much; a failing one only costs memory,
        never the insert.
        """
        try:
            self.entry.session.query("SYSTEM JEMALLOC PURGE")
        except RuntimeError as exc:
            log.debug("SYSTEM JEMALLOC PURGE failed (memory is only returned later): %s", first_line(str(exc)))
