"""This provider next to the official ``apache-airflow-providers-clickhousedb`` (ADR 0009).

Both are installed here (requirements-dev.txt). The official provider owns the connection type
``clickhouse`` (HTTP, clickhouse-connect); ours is ``qtickets_clickhouse``. Proven:

* every connection type, and every form field of it, has exactly one owner, and Airflow's provider
  discovery logs no warning at start-up (it did while both claimed ``clickhouse``: the probe's
  ``legacy`` mode puts that name back and the same check fails);
* connections still typed ``clickhouse`` (this project's name before ADR 0009) keep working with our hook;
* a connection made the way a user of the official provider makes it (port 8123/8443) fails the
  pipeline at once with one sentence saying which port to set; at a native port it works (the
  native-protocol server test in tests/integration/clickhouse_server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import pytest

from qtickets.exceptions import ClickHouseConfigError

OFFICIAL = "apache-airflow-providers-clickhousedb"

# Runs in a fresh interpreter: provider discovery happens once per process, and its warnings go to the
# process's log output (structlog), which is what an operator sees at start-up.
PROBE = r"""
import json, sys
if sys.argv[1] == "legacy":  # this provider as it was before ADR 0009: it also claimed "clickhouse"
    import qtickets  # patched before anything imports Airflow's provider discovery
    current = qtickets.get_provider_info
    def legacy():
        info = current()
        for entry in info["connection-types"]:
            if entry["connection-type"] == "qtickets_clickhouse":
                entry["connection-type"] = "clickhouse"
        return info
    qtickets.get_provider_info = legacy
    from qtickets.hooks.clickhouse import ClickHouseHook
    ClickHouseHook.conn_type = "clickhouse"
from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
pm = ProvidersManager()
hooks = {t: h.package_name for t, h in pm.hooks.items() if h is not None}
runtime = {t: h.package_name for t, h in ProvidersManagerTaskRuntime().hooks.items() if h is not None}
widgets = {k: w.package_name for k, w in pm.connection_form_widgets.items()}
behaviours = sorted(pm.field_behaviours)
classes = {t: pm.hooks[t].hook_class_name for t in ("clickhouse", "qtickets_clickhouse") if pm.hooks.get(t)}
print("PROBE-RESULT " + json.dumps({"hooks": hooks, "runtime": runtime, "widgets": widgets,
                                    "behaviours": behaviours, "classes": classes}))
"""

#: What Airflow's provider discovery says when two providers claim one connection type or field.
CONFLICT_MARKERS = ("already registered", "already added", "already exists", "Inconsistency")


def _official_installed() -> None:
    try:
        version(OFFICIAL)
    except PackageNotFoundError:
        message = f"{OFFICIAL} is not installed (requirements-dev.txt installs it: make setup)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)


def _probe(mode: str) -> tuple[dict, str]:
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-W", "default", "-c", PROBE, mode], env=env, capture_output=True,
                            text=True, timeout=180, check=True)
    output = result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("PROBE-RESULT "))
    return json.loads(line.removeprefix("PROBE-RESULT ")), output


def _conflicts(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(m in line for m in CONFLICT_MARKERS)]


def _warnings(output: str) -> list[str]:
    """Every warning of the start-up, but the one the probe causes itself (it reads the deprecated
    ``ProvidersManager.hooks`` to see what the UI sees)."""
    return [line for line in output.splitlines()
            if "warn" in line.lower() and "ProvidersManager.hooks is deprecated" not in line]


def _owner_problems(found: dict) -> list[str]:
    """Form fields (``extra__<type>__<field>``) and behaviours owned by another package than the type's hook."""
    problems = []
    for key, package in found["widgets"].items():
        conn_type = key.removeprefix("extra__").rsplit("__", 1)[0]
        if found["hooks"].get(conn_type) != package:
            problems.append(f"{key} belongs to {package}, the type {conn_type} to {found['hooks'].get(conn_type)}")
    return problems


def test_each_connection_type_has_one_owner_and_start_up_is_quiet() -> None:
    _official_installed()
    found, output = _probe("current")
    assert found["hooks"]["clickhouse"] == OFFICIAL
    assert found["hooks"]["qtickets_clickhouse"] == "qtickets-airflow"
    assert found["runtime"]["clickhouse"] == OFFICIAL and found["runtime"]["qtickets_clickhouse"] == "qtickets-airflow"
    assert found["classes"] == {"clickhouse": "airflow.providers.clickhousedb.hooks.clickhouse.ClickHouseHook",
                                "qtickets_clickhouse": "qtickets.hooks.clickhouse.ClickHouseHook"}
    for conn_type in ("qtickets", "qtickets_partners", "qtickets_clickhouse"):
        assert found["hooks"][conn_type] == "qtickets-airflow"
    assert _owner_problems(found) == []
    ours = {k for k, p in found["widgets"].items() if p == "qtickets-airflow"}
    assert "extra__qtickets_clickhouse__embedded_path" in ours and "extra__qtickets_clickhouse__cluster" in ours
    assert not any(k.startswith("extra__clickhouse__") for k in ours)
    assert {"clickhouse", "qtickets_clickhouse"} <= set(found["behaviours"])
    assert _conflicts(output) == [], "\n".join(_conflicts(output))
    assert _warnings(output) == [], "\n".join(_warnings(output))


def test_the_check_fails_when_both_claim_clickhouse() -> None:
    """The same probe with this provider's old type name: the collision the rename removed is seen."""
    _official_installed()
    found, output = _probe("legacy")
    assert any("'clickhouse' has been already registered" in line for line in _conflicts(output)), output[-3000:]
    assert _owner_problems(found), "our fields merged into the official form must be reported"
    assert _warnings(output)


# ----------------------------------------------------------------------------------- our hook, their form
OFFICIAL_FORM_EXTRA = {"secure": False, "verify": True, "connect_timeout": 10, "send_receive_timeout": 300,
                       "compress": True, "client_name": "airflow"}


def _conn(monkeypatch: pytest.MonkeyPatch, **fields: object) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", json.dumps(fields))


@pytest.mark.parametrize(("port", "secure", "sentence"), [
    (8123, False, "ClickHouse connection 'clickhouse_default': port 8123 is ClickHouse's HTTP port; this hook "
                  "speaks the native protocol: set port 9000 (9440 with secure)."),
    (8443, True, "ClickHouse connection 'clickhouse_default': port 8443 is ClickHouse's HTTPS port; this hook "
                 "speaks the native protocol: set port 9440."),
])
def test_the_pipeline_refuses_an_http_port_in_one_sentence(monkeypatch: pytest.MonkeyPatch, port: int, secure: bool,
                                                           sentence: str) -> None:
    """A connection filled in the official provider's form: the first task fails before any network I/O."""
    from qtickets.params import RunParams
    from qtickets.pipeline import bootstrap_schema

    _conn(monkeypatch, conn_type="clickhouse", host="127.0.0.1", port=port, login="default", password="s3cret-pw",
          schema="zakaz", extra={**OFFICIAL_FORM_EXTRA, "secure": secure})
    with pytest.raises(ClickHouseConfigError) as caught:
        bootstrap_schema(RunParams())
    assert str(caught.value) == sentence
    assert "s3cret-pw" not in str(caught.value)


def test_native_port_defaults_follow_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    from qtickets.hooks.clickhouse import ClickHouseHook

    _conn(monkeypatch, conn_type="clickhouse", host="ch", extra={"secure": True})
    assert ClickHouseHook()._client_kwargs()["port"] == 9440
    _conn(monkeypatch, conn_type="qtickets_clickhouse", host="ch")
    assert ClickHouseHook()._client_kwargs()["port"] == 9000


def test_the_official_forms_session_settings_are_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from qtickets.hooks.clickhouse import ClickHouseHook

    _conn(monkeypatch, conn_type="clickhouse", host="ch", port=9000,
          extra={**OFFICIAL_FORM_EXTRA, "session_settings": {"max_threads": 2}})
    kwargs = ClickHouseHook()._client_kwargs()
    assert kwargs["settings"] == {"max_threads": 2} and kwargs["connect_timeout"] == 10


@pytest.mark.integration
def test_a_connection_still_typed_clickhouse_runs_the_pipeline(monkeypatch: pytest.MonkeyPatch, chdb_dir,
                                                               ch_database: str) -> None:
    """``AIRFLOW_CONN_CLICKHOUSE_DEFAULT`` with ``conn_type: clickhouse`` (before ADR 0009) keeps working."""
    from qtickets.params import RunParams
    from qtickets.pipeline import bootstrap_schema

    _conn(monkeypatch, conn_type="clickhouse", schema=ch_database, extra={"embedded_path": str(chdb_dir)})
    result = bootstrap_schema(RunParams())
    assert result["status"] == "ok" and "001_staging.sql" in result["applied"]


def test_a_connection_of_another_type_is_refused_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from qtickets.hooks.clickhouse import ClickHouseHook

    _conn(monkeypatch, conn_type="http", host="ch", port=9000)
    with pytest.raises(ClickHouseConfigError, match=r"^ClickHouse connection 'clickhouse_default' has type 'http'; "
                       r"this hook reads connections of type 'qtickets_clickhouse' \(or 'clickhouse'\): change its "
                       r"type\.$"):
        ClickHouseHook()._client_kwargs()
