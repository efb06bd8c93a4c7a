"""Shared helpers of the row-mapper tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qtickets.pii import PiiPolicy
from qtickets.rows.common import MapContext

FETCHED = datetime(2025, 11, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx() -> MapContext:
    return MapContext(fetched_at=FETCHED, pii=PiiPolicy("hash", b"test-key"))


@pytest.fixture
def clear_ctx() -> MapContext:
    return MapContext(fetched_at=FETCHED, pii=PiiPolicy("clear", b""))


def load(captures_dir: Path, name: str) -> list[dict]:
    return json.loads((captures_dir / name).read_text(encoding="utf-8"))["data"]
