"""A real ClickHouse server (Debian's 18.16) on loopback for the native-protocol tests.

``scripts/clickhouse-test-server.sh`` does the set-up (config copied to a temp dir, paths and port
rewritten); the fixture picks a free port, waits for ``SELECT 1`` and stops the server at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "clickhouse-test-server.sh"
ETL_USER, ETL_PASSWORD = "etl", "etl-test-password"


def _server_binary() -> str | None:
    """``$CLICKHOUSE_SERVER``, else clickhouse-server on PATH or in the Debian locations."""
    if "CLICKHOUSE_SERVER" in os.environ:
        path = os.environ["CLICKHOUSE_SERVER"]
        return path if os.access(path, os.X_OK) else None
    return shutil.which("clickhouse-server") or next(
        (p for p in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerHandle:
    """A started server: its folder and native port."""

    directory: Path
    port: int

    def script(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), command, str(self.directory), str(self.port)],
                              capture_output=True, text=True, timeout=60, check=False)

    def conn_json(self, database: str, *, login: str = ETL_USER, password: str = ETL_PASSWORD,
                  **extra: object) -> str:
        extra = {"connect_timeout": 3, "send_receive_timeout": 20, **extra}
        return json.dumps({"conn_type": "qtickets_clickhouse", "host": "127.0.0.1", "port": self.port,
                           "login": login, "password": password, "schema": database, "extra": extra})


def start_server(directory: Path) -> ServerHandle:
    """Start a server in ``directory`` (fails the test, or skips without the binary)."""
    if _server_binary() is None:
        message = "install clickhouse-server (apt-get install clickhouse-server) — `make test` does it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    handle = ServerHandle(directory, _free_port())
    result = handle.script("start")
    if result.returncode != 0:
        pytest.fail(f"clickhouse-server did not start: {result.stdout}{result.stderr}")
    return handle


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_server(tmp_path_factory.mktemp("ch-server"))
    try:
        yield handle
    finally:
        handle.script("stop")


@pytest.fixture
def server_db() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server_conn(monkeypatch: pytest.MonkeyPatch, clickhouse_server: ServerHandle, server_db: str) -> str:
    """``clickhouse_default`` pointed at the test server with a fresh database; returns the conn id."""
    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", clickhouse_server.conn_json(server_db))
    return "clickhouse_default"
