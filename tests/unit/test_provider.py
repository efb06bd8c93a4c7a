"""The provider package registers its connection types the Airflow-3 way, and the code is lint-clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qtickets import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_provider_info_names_hooks_that_exist():
    import importlib

    info = get_provider_info()
    assert info["package-name"] == "qtickets-airflow"
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {"qtickets", "qtickets_partners", "qtickets_clickhouse"}
    for conn_type, entry in types.items():
        module, cls = entry["hook-class-name"].rsplit(".", 1)
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn_type
        assert entry["ui-field-behaviour"]["relabeling"], conn_type
    assert types["qtickets"]["ui-field-behaviour"]["relabeling"]["password"] == "API token"
    assert types["qtickets"]["ui-field-behaviour"]["placeholders"]["host"] == "https://qtickets.ru/api/rest/v1"
    assert "embedded_path" in types["qtickets_clickhouse"]["conn-fields"]
    assert types["qtickets_clickhouse"]["conn-fields"]["pii_hash_key"]["schema"]["format"] == "password"


def test_airflow_lists_the_hooks():
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([str(BIN / "airflow"), "providers", "hooks", "--output", "json"], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    hooks = {row["connection_type"]: row for row in json.loads(out[out.index("[{"):].splitlines()[0])}
    assert hooks["qtickets"]["class"] == "qtickets.hooks.qtickets.QticketsHook"
    assert hooks["qtickets_partners"]["class"] == "qtickets.hooks.partners.QticketsPartnersHook"
    assert hooks["qtickets_clickhouse"]["class"] == "qtickets.hooks.clickhouse.ClickHouseHook"
    assert hooks["qtickets"]["package_name"] == "qtickets-airflow"


def test_ruff_is_clean():
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        pytest.fail(f"ruff found problems (run `make lint`):\n{result.stdout[-4000:]}")
