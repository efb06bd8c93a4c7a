"""Embedded folder contention between real OS processes.

Each test uses child processes on their own temporary folder; this pytest process never opens a
chDB folder here (chDB allows one per process), it only takes the plain file lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qtickets.exceptions import ClickHouseRetryableError
from qtickets.hooks import _chdb

pytestmark = pytest.mark.integration

HOLDER = textwrap.dedent("""
    import sys
    from qtickets.hooks.clickhouse import ClickHouseHook
    hook = ClickHouseHook()
    hook.execute("CREATE TABLE IF NOT EXISTS {{ db }}.t (id UInt64) ENGINE = MergeTree ORDER BY id")
    hook.insert("t", ["id"], [(1,), (2,)])
    print("ready", flush=True)
    sys.stdin.readline()          # hold the folder until the test says so
    hook.insert("t", ["id"], [(3,)])
    hook.close()
    print("closed", flush=True)
""")
WAITER = textwrap.dedent("""
    from qtickets.hooks.clickhouse import ClickHouseHook
    with ClickHouseHook() as hook:
        print("count", hook.fetch_all("SELECT count() FROM {{ db }}.t")[0][0], flush=True)
""")
RAW_CHDB = textwrap.dedent("""
    import sys
    from chdb import session
    s = session.Session(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    s.close()
""")
OPENER = textwrap.dedent("""
    from qtickets.exceptions import ClickHouseConfigError
    from qtickets.hooks.clickhouse import ClickHouseHook
    try:
        ClickHouseHook().fetch_all("SELECT 1")
    except ClickHouseConfigError as exc:
        print("config-error", exc, flush=True)
""")


def _env(folder: Path, lock_timeout: float = 60) -> dict[str, str]:
    conn = {"conn_type": "qtickets_clickhouse", "schema": "lockdb",
            "extra": {"embedded_path": str(folder), "lock_timeout": lock_timeout}}
    return {**os.environ, "AIRFLOW_CONN_CLICKHOUSE_DEFAULT": json.dumps(conn)}


def _spawn(code: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _expect_line(proc: subprocess.Popen[str], marker: str) -> str:
    """Read the child's output (logs included) up to the first line containing ``marker``."""
    seen = []
    for line in proc.stdout:
        if marker in line:
            return line.strip()
        seen.append(line)
    proc.kill()
    pytest.fail(f"child ended without {marker!r}; output: {''.join(seen)[-3000:]}")


def test_second_process_waits_for_the_folder_instead_of_failing(tmp_path: Path) -> None:
    folder = tmp_path / "wh"
    holder = _spawn(HOLDER, _env(folder))
    try:
        _expect_line(holder, "ready")
        assert (tmp_path / "wh.lock").read_text().strip() == str(holder.pid)
        waiter = _spawn(WAITER, _env(folder))
        # the waiter logs that it waits for the holder's PID (and does not fail)
        assert str(holder.pid) in _expect_line(waiter, "Waiting for embedded ClickHouse folder")
        holder.stdin.write("go\n")
        holder.stdin.flush()
        _expect_line(holder, "closed")
        out, _ = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, out[-3000:]
        assert "count 3" in out  # it opened the folder after the holder's last insert
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_lock_timeout_names_the_folder_and_the_holder_pid(tmp_path: Path) -> None:
    folder = tmp_path / "busy"
    holder = _spawn(HOLDER, _env(folder))
    try:
        _expect_line(holder, "ready")
        now = [0.0]
        naps: list[float] = []

        def fake_sleep(seconds: float) -> None:
            naps.append(seconds)
            now[0] += seconds

        with pytest.raises(ClickHouseRetryableError) as info:
            _chdb.acquire_folder_lock(str(folder), 1.0, sleep=fake_sleep, clock=lambda: now[0])
        assert str(folder) in str(info.value) and f"process {holder.pid}" in str(info.value)
        assert naps and all(n <= 0.5 for n in naps) and sum(naps) >= 1.0
    finally:
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.communicate(timeout=60)


def test_lock_is_free_again_after_the_holder_dies(tmp_path: Path) -> None:
    folder = tmp_path / "crash"
    holder = _spawn(HOLDER, _env(folder))
    _expect_line(holder, "ready")
    holder.kill()
    holder.wait(timeout=30)
    fd = _chdb.acquire_folder_lock(str(folder), 0.0)
    try:
        assert os.pread(fd, 32, 0).decode().strip() == str(os.getpid())
    finally:
        _chdb.release_folder_lock(fd)


def test_folder_used_outside_the_lock_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    raw = _spawn(RAW_CHDB, _env(folder), str(folder))
    try:
        _expect_line(raw, "ready")
        opener = _spawn(OPENER, _env(folder))
        line = _expect_line(opener, "config-error")
        opener.communicate(timeout=60)
        assert str(folder) in line and "Another process may be using it" in line
    finally:
        raw.stdin.write("go\n")
        raw.stdin.flush()
        raw.communicate(timeout=60)
