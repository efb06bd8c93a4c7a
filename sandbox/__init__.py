"""Local double of the QTickets API: seeded synthetic data served over real HTTP (see README in server.py)."""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.data import SandboxData
from sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxData", "SandboxServer"]
