"""``python -m sandbox`` starts, announces its URLs, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--orders", "150", "--seed", "3", "--ready-file", str(ready)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # blocks until the server printed its URLs
        rest_line = next(line for line in lines if line.startswith("REST API:"))
        rest_url = rest_line.split()[2]
        assert ready.read_text().strip() == rest_url.removesuffix("/api/rest/v1")
        resp = requests.get(rest_url + "/orders", headers={"Authorization": "Bearer sandbox-token"}, timeout=10)
        assert resp.status_code == 200 and resp.json()["paging"]["total"] == 150
        assert "sandbox-partner-key" in "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_cli_rejects_bad_options() -> None:
    proc = subprocess.run([sys.executable, "-m", "sandbox", "--orders", "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode != 0
    assert "orders must be >= 1" in proc.stderr
