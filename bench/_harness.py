"""Shared by the bench scripts: run one measurement in a fresh child process, with a loopback
ClickHouse test server around it when the engine is ``server``.

A fresh process per configuration gives a clean peak RSS and a chDB folder of its own (chDB allows one
folder per process).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = ROOT / "scripts" / "clickhouse-test-server.sh"
SCHEMA = ROOT / "include" / "sql" / "schema"


def use_clickhouse(engine: str, schema: str, folder: str, port: int) -> None:
    """Point ``clickhouse_default`` at the embedded folder (``engine == "chdb"``) or the loopback test server."""
    conn: dict = {"conn_type": "qtickets_clickhouse", "schema": schema}
    if engine == "chdb":
        conn["extra"] = {"embedded_path": folder}
    else:
        conn.update(host="127.0.0.1", port=port, extra={"send_receive_timeout": 300})
    os.environ["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps(conn)


def server_peak_mb(directory: Path) -> float | None:
    """Peak RSS (VmHWM) of the test server started in ``directory``, while it still runs."""
    try:
        pid = (directory / "server.pid").read_text().strip()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_child(script: str, engine: str, argv: list[str], server_dir: Path, port: int) -> dict:
    """Run ``script argv`` (its ``--child`` mode, printing one JSON line) and return that result.

    For ``engine == "server"`` a test server is started on ``port`` first and stopped afterwards; its
    peak RSS is added as ``server_mb``.
    """
    if engine == "server":
        subprocess.run([str(SERVER_SCRIPT), "start", str(server_dir), str(port)], check=True, capture_output=True)
    try:
        out = subprocess.run([sys.executable, script, *argv], check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        result["server_mb"] = server_peak_mb(server_dir) if engine == "server" else None
        return result
    finally:
        if engine == "server":
            subprocess.run([str(SERVER_SCRIPT), "stop", str(server_dir), str(port)], capture_output=True)


def server_ddl(tables: tuple[str, ...]) -> list[str]:
    """18.16-compatible CREATE TABLEs of the tables a load of orders touches, from the migrations."""
    text = "\n".join(p.read_text() for p in sorted(SCHEMA.glob("*.sql")))
    out = []
    for table in tables:
        match = re.search(r"CREATE TABLE IF NOT EXISTS \{\{ db \}\}\." + table + r"\s*\((.*?)\n\)\n(ENGINE[^;]*);",
                          text, re.S)
        body, engine = match.group(1), match.group(2)
        body = re.sub(r"\s*CODEC\([^)]*\)\)", "", body)
        body = re.sub(r"LowCardinality\((\w+)\)", r"\1", body)
        body = re.sub(r"\s*--[^\n]*", "", body)
        added = re.findall(r"ALTER TABLE \{\{ db \}\}\." + table + r" ADD COLUMN IF NOT EXISTS ([^;]*);", text)
        columns = [c.strip() for c in body.split(",\n") if c.strip()]
        columns += [re.sub(r"\s+COMMENT\s+'.*'$", "", c.strip(), flags=re.S) for c in added]
        columns = [re.sub(r"\s+COMMENT\s+'[^']*'", "", c) for c in columns]
        engine = re.sub(r"\s+TTL [^\n]*", "", engine)
        out.append(f"CREATE TABLE IF NOT EXISTS {{{{ db }}}}.{table} ({', '.join(columns)}) {engine}")
    return out
