"""The production stack for real, without Docker (marker ``stack``; ``make stack`` starts the same thing).

Postgres and Redis from Debian's packages on free loopback ports, compose's ``airflow-init`` script run
verbatim, then api-server, scheduler, dag-processor, triggerer and a CeleryExecutor worker (concurrency 4)
as separate processes, each with the environment ``docker compose config`` gives its container
(scripts/stack.py: only addresses change, and ClickHouse is an embedded chDB folder). The production DAG
``qtickets_api`` reads the sandbox QTickets API over sockets: a scheduled run, a manual whole-history run,
an ``airflow backfill create`` of two intervals and a failure that must reach a fake Slack webhook. The
FAB roles are proved through the public REST API with JWTs from /auth/token.

Without Postgres or Redis the test skips; with ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from scripts import stack as S
from tests.dags.vendor import _all_orders, _expected_sales, _query, _staging_counts
from tests.fakes import SLACK_TOKEN, _start_http

pytestmark = [pytest.mark.stack, pytest.mark.integration]

RUN_TIMEOUT = 420


@pytest.fixture(scope="module")
def sandbox():
    from sandbox import SandboxConfig, SandboxServer

    # a random token: the secrets scan below must be able to find it if anything logs it
    with SandboxServer(SandboxConfig(orders=300, seed=11, token=f"tok-{secrets.token_hex(12)}")) as server:
        yield server


@pytest.fixture(scope="module")
def slack():
    endpoint = _start_http(lambda body: (200, b"ok", "text/plain"))
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def st(sandbox, slack, tmp_path_factory) -> S.Stack:
    workdir = tmp_path_factory.mktemp("stack")
    try:
        S.postgres_bin(), S.redis_bin(), S.compose_binary()
    except S.MissingService as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and a service of the stack is missing: {exc}")
        pytest.skip(str(exc))
    ports = S.Ports(postgres=0, redis=0)
    qtickets = json.dumps({"conn_type": "qtickets", "host": sandbox.rest_url, "password": sandbox.token,
                           "extra": {"timeout": 10}})
    slack_conn = json.dumps({"conn_type": "slackwebhook", "host": f"{slack.url}/services", "password": SLACK_TOKEN})
    values = S.compose_values(qtickets_conn=qtickets, admin_password=secrets.token_urlsafe(16),
                              base_url=f"http://127.0.0.1:{ports.api}", slack_conn=slack_conn)
    with S.stack(workdir, values, ports) as running:
        running.add_users(S.ROLE_USERS)
        yield running


def _runs_done(*run_ids: str):
    def done(runs: list[tuple]) -> bool:
        states = {r[0]: r[2] for r in runs}
        return all(states.get(i) in ("success", "failed") for i in run_ids)
    return done


def _trigger(st: S.Stack, token: str, conf: dict) -> str:
    resp = st.api("POST", "dags/qtickets_api/dagRuns", token, json={"logical_date": None, "conf": conf})
    assert resp.status_code == 200, resp.text
    return resp.json()["dag_run_id"]


def test_the_stack_runs_compose_settings(st):
    """Every Airflow process got compose's environment: same keys, values differing only in addresses."""
    for service in S.COMPONENTS:
        compose_env = st.resolved["services"][service]["environment"]
        env = st.envs[service]
        assert set(compose_env) <= set(env), service
        for key, value in compose_env.items():
            if key == "AIRFLOW_CONN_CLICKHOUSE_DEFAULT":
                ours, theirs = json.loads(env[key]), json.loads(value)
                assert ours["schema"] == theirs["schema"] and ours["extra"].items() >= theirs["extra"].items()
            elif any(host in (value or "") for host in ("@postgres/", "@redis:", "//airflow-apiserver:")):
                assert env[key] != value and "127.0.0.1" in env[key], key
            else:
                assert env[key] == (value or ""), key
    assert st.envs["airflow-worker"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "FabAuthManager" in st.envs["airflow-apiserver"]["AIRFLOW__CORE__AUTH_MANAGER"]
    pools = dict(st.sql("SELECT pool, slots FROM slot_pool"))
    assert pools["qtickets_api"] == 4 and pools["qtickets_publish"] == 1


def test_each_role_can_do_what_adr_0007_says_and_no_more(st):
    viewer, operator, admin = (st.token(u) for u in ("viewer", "operator", "admin"))

    # viewer: sees DAGs, runs and task instances; cannot trigger, backfill, or read connections/variables
    for path in ("dags/qtickets_api", "dags/qtickets_api/dagRuns", "dags/~/dagRuns/~/taskInstances"):
        assert st.api("GET", path, viewer).status_code == 200, path
    assert st.api("POST", "dags/qtickets_api/dagRuns", viewer, json={"logical_date": None}).status_code == 403
    assert st.api("PATCH", "dags/qtickets_api", viewer, json={"is_paused": False}).status_code == 403
    backfill = {"dag_id": "qtickets_api", "from_date": "2026-11-20T00:00:00Z", "to_date": "2026-11-20T00:30:00Z"}
    assert st.api("POST", "backfills/dry_run", viewer, json=backfill).status_code == 403
    assert st.api("GET", "connections/qtickets_default", viewer).status_code == 403
    assert st.api("GET", "connections", viewer).status_code == 403
    assert st.api("GET", "variables", viewer).status_code == 403
    assert st.api("GET", "config", viewer).status_code == 403

    # operator: may plan a backfill and trigger (the whole-history run of the next test; the DAG is paused,
    # so it waits); still no connections
    assert st.api("POST", "backfills/dry_run", operator, json=backfill).status_code == 200
    st.full_run = _trigger(st, operator, {"since_hours": S.ALL_HISTORY_HOURS})
    probe = {"connection_id": "qtickets_probe", "conn_type": "qtickets", "host": "https://example.invalid",
             "password": "probe-secret"}
    assert st.api("POST", "connections", operator, json=probe).status_code == 403
    assert st.api("GET", "connections/qtickets_default", operator).status_code == 403
    assert st.api("GET", "variables", operator).status_code == 403

    # admin: changes and reads connections
    assert st.api("POST", "connections", admin, json=probe).status_code == 201
    read = st.api("GET", "connections/qtickets_probe", admin)
    assert read.status_code == 200 and read.json()["host"] == "https://example.invalid"
    assert read.json()["password"] != "probe-secret"  # the API masks passwords, even for an admin
    assert st.api("GET", "connections/qtickets_probe", viewer).status_code == 403
    assert st.api("DELETE", "connections/qtickets_probe", operator).status_code == 403
    assert st.api("DELETE", "connections/qtickets_probe", admin).status_code == 204
    # a wrong password gets no token
    assert _token_status(st, "viewer", "not-the-password") in (400, 401, 403)


def _token_status(st: S.Stack, username: str, password: str) -> int:
    import requests

    return requests.post(f"{st.url}/auth/token", json={"username": username, "password": password}, timeout=30).status_code


def test_scheduled_manual_and_backfill_runs_land_the_vendors_numbers(st, sandbox, slack, monkeypatch):
    full = st.full_run  # the operator's whole-history run, queued while the DAG was paused
    # two 15-minute intervals an hour back (clear of what the schedule itself creates); a backfill's runs
    # run beside the schedule's (max_active_runs counts per backfill)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    second = now.replace(minute=now.minute - now.minute % 15) - timedelta(hours=1)
    first = second - timedelta(minutes=15)
    with S.MemorySampler(st) as memory:
        st.airflow("dags", "unpause", "qtickets_api")  # the scheduler now creates the latest interval's run
        st.airflow("backfill", "create", "--dag-id", "qtickets_api", "--from-date", first.isoformat(),
                   "--to-date", second.isoformat())
        S.wait_runs(st, lambda rs: _runs_done(full)(rs) and any(r[1] == "scheduled" and r[2] in ("success", "failed")
                                                                for r in rs)
                    and len([r for r in rs if r[1] == "backfill" and r[2] in ("success", "failed")]) == 2, RUN_TIMEOUT)
    # a 15-minute boundary crossed while waiting adds a scheduled run: let it finish before pausing
    runs = S.pause_when_idle(st, RUN_TIMEOUT)

    by_type: dict[str, list[tuple]] = {}
    for run in runs:
        by_type.setdefault(run[1], []).append(run)
    assert all(r[2] == "success" for r in runs), runs
    assert [r[0] for r in by_type["manual"]] == [full]
    assert by_type["scheduled"], runs
    backfills = sorted((r[3], r[4]) for r in by_type["backfill"])
    assert backfills == [(first, second), (second, second + timedelta(minutes=15))]

    # what landed equals what the vendor sold (read from its payloads, not through the code under test)
    orders = _all_orders(sandbox)
    tickets, revenue = _expected_sales(orders)
    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", st.envs["airflow-worker"]["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"])
    assert _staging_counts()["stg_qtickets_api_orders_raw"] == len(orders)
    (fact_tickets, fact_revenue), = _query("SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily")
    assert (fact_tickets, Decimal(fact_revenue)) == (tickets, revenue)
    recorded = {r[0] for r in _query("SELECT run_id FROM {{ db }}.meta_job_runs FINAL WHERE status = 'success'")}
    assert {r[0] for r in runs} <= recorded
    assert slack.messages == []

    metrics = {"full_run": S.run_metrics(st, full), "worker": memory.summary(),
               "all_tasks_queue_latency_s": _latencies(st)}
    _report(st, metrics)


def _latencies(st: S.Stack) -> dict[str, float]:
    rows = st.sql("SELECT extract(epoch FROM start_date - queued_dttm) FROM task_instance "
                  "WHERE queued_dttm IS NOT NULL AND start_date IS NOT NULL ORDER BY 1")
    values = [float(v) for (v,) in rows]
    return {"n": len(values), "median": round(values[len(values) // 2], 2), "p90": round(values[int(len(values) * 0.9)], 2),
            "max": round(values[-1], 2)} if values else {"n": 0}


def _report(st: S.Stack, metrics: dict) -> None:
    out = Path(os.environ.get("STACK_METRICS", st.workdir / "metrics.json"))
    out.write_text(json.dumps(metrics, indent=2, default=str))
    print(f"\nstack metrics ({out}):\n{json.dumps(metrics, indent=2, default=str)}")


def test_a_failed_run_alerts_once_and_no_secret_reaches_a_log(st, sandbox, slack):
    admin = st.token("admin")
    sandbox.faults.fail_next(10_000, status=403, match="/orders")
    st.airflow("dags", "unpause", "qtickets_api")
    try:
        failed = _trigger(st, admin, {"datasets": ["orders"], "since_hours": 1})
        S.wait_runs(st, _runs_done(failed), RUN_TIMEOUT)
    finally:
        sandbox.faults.clear()
        S.pause_when_idle(st, RUN_TIMEOUT)
    states = dict(st.sql("SELECT task_id, state FROM task_instance WHERE dag_id = 'qtickets_api' AND run_id = %s", failed))
    assert (states["loads.load_orders"], states["record_run"]) == ("failed", "success"), states
    assert st.sql("SELECT state FROM dag_run WHERE run_id = %s", failed) == [("failed",)]
    deadline = time.monotonic() + 60
    while not slack.messages and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(5)  # a duplicate would follow within seconds
    # a scheduled run that a 15-minute boundary started meanwhile may fail on the same fault and alert for
    # itself; this run must alert exactly once
    alerts = [m["text"] for m in slack.messages if failed in m["text"]]
    assert len(alerts) == 1, slack.messages
    text = alerts[0]
    assert "load_orders" in text and "403" in text

    # no secret of the stack in any log it wrote: components, task logs, init
    secrets_ = {"sandbox token": sandbox.token, "admin password": st.admin_password,
                **{f"{u} password": p for u, p in st.passwords.items()},
                **{k: st.values[k] for k in ("AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "POSTGRES_PASSWORD",
                                            "QTICKETS_PII_HASH_KEY")}}
    scanned = 0
    for path in st.workdir.rglob("*"):
        if path.is_file() and (path.suffix == ".log" or "logs" in path.parts):
            text = path.read_text(errors="replace")
            scanned += 1
            leaked = [name for name, value in secrets_.items() if value and value in text]
            assert not leaked, f"{path}: {leaked}"
    assert scanned >= 10
