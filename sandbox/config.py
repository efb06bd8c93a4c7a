"""Settings of one sandbox instance (data scale, credentials, fault knobs at start-up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def _now_minute() -> datetime:
    """Current time rounded down to the minute, so two runs in the same minute share data."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass
class SandboxConfig:
    """Everything a :class:`sandbox.SandboxServer` needs; every value has a usable default.

    ``now`` anchors the synthetic timeline: orders run from 2021-05-18 up to ``now`` and some shows
    start after it. Fault knobs here are the initial values of ``server.faults`` (mutable later).
    """

    orders: int = 2000
    seed: int = 42
    now: datetime = field(default_factory=_now_minute)
    host: str = "127.0.0.1"
    port: int = 0
    token: str = "sandbox-token"
    partner_key: str = "sandbox-partner-key"
    latency_ms: float = 0.0
    response_ms: float = 0.0
    error_rate: float = 0.0
    ignore_filters: bool = False
    compat_post: bool = True

    def __post_init__(self) -> None:
        if self.orders < 1:
            raise ValueError(f"SandboxConfig.orders must be >= 1, got {self.orders}")
        if self.now.tzinfo is None:
            raise ValueError("SandboxConfig.now must be timezone-aware (e.g. datetime.now(UTC))")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"SandboxConfig.error_rate must be within [0, 1], got {self.error_rate}")
        if self.latency_ms < 0:
            raise ValueError(f"SandboxConfig.latency_ms must be >= 0, got {self.latency_ms}")
        if self.response_ms < 0:
            raise ValueError(f"SandboxConfig.response_ms must be >= 0, got {self.response_ms}")
