"""pytest fixtures that start the sandbox QTickets API on an ephemeral loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer

# A fixed "now" keeps every generated timestamp identical between runs (seeded data, fixed clock).
SANDBOX_NOW = datetime(2025, 11, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One shared, read-only-by-convention sandbox (3000 orders, seed 7) for the whole session.

    Do not mutate its data or set fault knobs: use the function-scoped ``sandbox`` for that.
    """
    with SandboxServer(SandboxConfig(orders=3000, seed=7, now=SANDBOX_NOW)) as server:
        yield server


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh small sandbox (300 orders) per test, so mutations and faults never leak."""
    with SandboxServer(SandboxConfig(orders=300, seed=11, now=SANDBOX_NOW)) as server:
        yield server


def connection_json(server: SandboxServer, *, partners: bool = False) -> str:
    """Airflow connection (JSON form) pointing a Qtickets hook at ``server``."""
    conn = {
        "conn_type": "qtickets_partners" if partners else "qtickets",
        "host": server.partners_url if partners else server.rest_url,
        "password": server.partner_key if partners else server.token,
        "extra": {"timeout": 5, "max_retries": 2, "backoff_base": 0.01},
    }
    return json.dumps(conn)


@pytest.fixture
def qtickets_env(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> SandboxServer:
    """Point ``qtickets_default`` and ``qtickets_partners_default`` at the per-test sandbox."""
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", connection_json(sandbox))
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_PARTNERS_DEFAULT", connection_json(sandbox, partners=True))
    return sandbox
