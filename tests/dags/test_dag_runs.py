"""The real DAG, run through Airflow (``dag.test``), against the sandbox API over real sockets and the
embedded ClickHouse engine.

The expected numbers come from the sandbox's own payloads, read with plain ``requests`` and the revenue
rule of the README — not from the code under test.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from qtickets.datasets import DATASETS
from qtickets.timeutil import MSK
from tests.dags.conftest import conf, runnable
from tests.dags.vendor import _all_orders, _expected_sales, _facts, _query, _result, _staging_counts, _states

pytestmark = [pytest.mark.dag, pytest.mark.integration]

ALL_HISTORY = conf(since_hours=24 * 365 * 7)


@pytest.fixture
def env(qtickets_env, embedded_clickhouse, monkeypatch):
    """Sandbox + embedded ClickHouse connections; returns the sandbox server."""
    monkeypatch.setenv("AIRFLOW_VAR_QTICKETS_PARTNER_FIND_REQUESTS", '[{"filter": {}}]')
    return qtickets_env


def test_full_run_loads_every_dataset_and_facts_match_the_vendor(dagbag, env):
    dag = runnable(dagbag)
    run = dag.test(logical_date=None, run_conf=ALL_HISTORY)
    assert str(run.state) == "success", _states(run)

    counts = _staging_counts()
    orders = _all_orders(env)
    assert counts["stg_qtickets_api_orders_raw"] == len(orders)
    assert counts["stg_qtickets_api_tickets_raw"] == sum(len(o["baskets"]) for o in orders)
    for table in (t for ds in DATASETS.values() for t in ds.tables):  # every staging table of every dataset
        assert counts[table] > 0, table

    tickets, revenue = _expected_sales(orders)
    (fact_tickets, fact_revenue), = _query(
        "SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily")
    assert (fact_tickets, Decimal(fact_revenue)) == (tickets, revenue)
    assert _query("SELECT countIf(city = '') FROM {{ db }}.fact_qtickets_sales_daily")[0][0] == 0

    (status, rows, http_status, run_type), = _query(
        "SELECT status, rows_processed, http_status, run_type FROM {{ db }}.meta_job_runs FINAL "
        "WHERE run_id = %(r)s", {"r": run.run_id})
    assert (status, http_status, run_type) == ("success", None, "manual")
    assert rows >= len(orders)


def test_same_run_twice_adds_nothing_and_keeps_facts(dagbag, env):
    dag = runnable(dagbag)
    assert str(dag.test(logical_date=None, run_conf=ALL_HISTORY).state) == "success"
    counts, facts = _staging_counts(), _facts()
    run = dag.test(logical_date=None, run_conf={**ALL_HISTORY, "datasets": ["orders", "events"]})
    assert str(run.state) == "success", _states(run)
    assert _staging_counts() == counts
    assert _facts() == facts


def test_refund_days_later_moves_the_payment_days_numbers(dagbag, env):
    dag = runnable(dagbag)
    assert str(dag.test(logical_date=None, run_conf=ALL_HISTORY).state) == "success"
    paid = next(o for o in _all_orders(env) if o["payed"] and o["deleted_at"] is None
                and all(b["refunded_at"] is None and b["deleted_at"] is None for b in o["baskets"]))
    pay_day = datetime.fromisoformat(paid["payed_at"]).date()
    before = dict(_query("SELECT sales_date, sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date"))
    env.data.refund_order(paid["id"], datetime.now(UTC) - timedelta(minutes=5))

    run = dag.test(logical_date=None, run_conf=conf(since_hours=1, datasets=["orders"]))
    assert str(run.state) == "success", _states(run)
    after = dict(_query("SELECT sales_date, sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date"))
    refunded = sum(Decimal(str(b["ticket_amount"])) for b in paid["baskets"])
    assert Decimal(before[pay_day]) - Decimal(after.get(pay_day, 0)) == refunded
    assert {d: v for d, v in after.items() if d != pay_day} == {d: v for d, v in before.items() if d != pay_day}


def test_payment_moved_to_another_month_leaves_the_old_month(dagbag, env):
    dag = runnable(dagbag)
    assert str(dag.test(logical_date=None, run_conf=ALL_HISTORY).state) == "success"
    now = datetime.now(UTC)
    this_month = now.astimezone(MSK).date().replace(day=1)
    moved = next(o for o in _all_orders(env) if o["payed"] and o["deleted_at"] is None
                 and datetime.fromisoformat(o["payed_at"]).astimezone(MSK).date() < this_month - timedelta(days=31)
                 and datetime.fromisoformat(o["created_at"]) < now - timedelta(hours=2)
                 and any(b["refunded_at"] is None and b["deleted_at"] is None for b in o["baskets"]))
    old_day = datetime.fromisoformat(moved["payed_at"]).astimezone(MSK).date()
    revenue = sum(Decimal(str(b["ticket_amount"])) for b in moved["baskets"]
                  if b["refunded_at"] is None and b["deleted_at"] is None)
    before = dict(_query("SELECT sales_date, sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date"))
    new_payment = now - timedelta(hours=1)
    env.data.move_payment(moved["id"], new_payment, now - timedelta(minutes=5))

    run = dag.test(logical_date=None, run_conf=conf(since_hours=1, datasets=["orders"]))
    assert str(run.state) == "success", _states(run)
    after = dict(_query("SELECT sales_date, sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date"))
    new_day = new_payment.astimezone(MSK).date()
    # The load itself names the old month (read from staging before overwriting the order), so the
    # rebuild covers it as touched, not as a month caught up after the fact.
    assert f"{old_day:%Y-%m}" in _result(run, "loads.load_orders")["sales_months"]
    assert _result(run, "rebuild_facts")["months_caught_up"] == []
    assert Decimal(before[old_day]) - Decimal(after.get(old_day, 0)) == revenue, "still counted on the old day"
    assert Decimal(after[new_day]) - Decimal(before.get(new_day, 0)) == revenue
    assert sum(map(Decimal, after.values())) == sum(map(Decimal, before.values()))


def test_next_run_rebuilds_the_months_a_failed_run_left_behind(dagbag, env):
    from qtickets import warehouse

    dag = runnable(dagbag)
    assert str(dag.test(logical_date=None, run_conf=ALL_HISTORY).state) == "success"
    paid = next(o for o in _all_orders(env) if o["payed"] and o["deleted_at"] is None
                and all(b["refunded_at"] is None and b["deleted_at"] is None for b in o["baskets"]))
    pay_day = datetime.fromisoformat(paid["payed_at"]).astimezone(MSK).date()
    before = dict(_query("SELECT sales_date, sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date"))
    env.data.refund_order(paid["id"], datetime.now(UTC) - timedelta(minutes=5))

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    with pytest.MonkeyPatch.context() as patch:  # the env's own monkeypatch holds the connections
        patch.setattr(warehouse, "rebuild_sales_facts", killed)
        failed = dag.test(logical_date=None, run_conf=conf(since_hours=1, datasets=["orders"]))
    assert _states(failed)["loads.load_orders"] == "success" and _states(failed)["rebuild_facts"] == "failed"

    run = dag.test(logical_date=None, run_conf=conf(since_hours=1, datasets=["clients"]))
    assert str(run.state) == "success", _states(run)
    assert _result(run, "rebuild_facts")["months_caught_up"] == [f"{pay_day:%Y-%m}"]
    after = dict(_query("SELECT sales_date, sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date"))
    refunded = sum(Decimal(str(b["ticket_amount"])) for b in paid["baskets"])
    assert Decimal(before[pay_day]) - Decimal(after.get(pay_day, 0)) == refunded


def test_two_interval_backfill_loads_exactly_those_windows(dagbag, env):
    dag = runnable(dagbag)
    orders = _all_orders(env)
    by_updated = defaultdict(set)
    for o in orders:
        by_updated[datetime.fromisoformat(o["updated_at"])].add(o["id"])
    newest = max(by_updated)
    end = newest.replace(minute=newest.minute - newest.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
    first_end = end - timedelta(minutes=15)
    intervals = []
    for logical_date in (first_end - timedelta(minutes=15), first_end):
        run = dag.test(logical_date=logical_date.astimezone(UTC), run_after=logical_date.astimezone(UTC), run_conf=conf())
        assert str(run.state) == "success", _states(run)
        intervals.append((run.data_interval_start, run.data_interval_end))
    quarter = timedelta(minutes=15)
    assert intervals == [(first_end - 2 * quarter, first_end - quarter), (first_end - quarter, first_end)]
    start = first_end - timedelta(minutes=30) - timedelta(minutes=5)  # two intervals + the overlap
    expected = {i for ts, ids in by_updated.items() if start <= ts < first_end for i in ids}
    loaded = {oid for (oid,) in _query("SELECT order_id FROM {{ db }}.stg_qtickets_api_orders_raw FINAL")}
    assert loaded == expected


def test_vendor_503_storm_fails_the_run_records_it_and_alerts_once(dagbag, env, fake_slack):
    env.faults.fail_next(10_000, status=503, match="/orders")
    dag = runnable(dagbag)
    run = dag.test(logical_date=None, run_conf=conf(datasets=["orders"]))
    states = _states(run)
    assert str(run.state) == "failed"
    assert states["loads.load_orders"] == "failed"
    (status, http_status, error_code, failed), = _query(
        "SELECT status, http_status, error_code, failed_tasks FROM {{ db }}.meta_job_runs FINAL")
    assert (status, http_status, error_code) == ("failed", 503, "UNKNOWN_ERROR")
    assert "loads.load_orders" in failed
    retried = [r for r in env.requests if "/orders" in r.path]
    assert len(retried) > 1, "the hook retries 5xx before giving up"
    assert len(fake_slack.messages) == 1, fake_slack.messages
    text = str(fake_slack.messages[0])
    assert "load_orders" in text and "503" in text and env.token not in text


def test_api_ignoring_filters_fails_loudly_and_loads_nothing(dagbag, env):
    env.faults.ignore_filters = True
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(datasets=["orders"], since_hours=1))
    assert str(run.state) == "failed"
    assert _states(run)["loads.load_orders"] == "failed"
    assert _query("SELECT count() FROM {{ db }}.stg_qtickets_api_orders_raw")[0][0] == 0
    (error_message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL")
    assert "filter" in error_message.lower() and "filter_transport" in error_message


def test_dry_run_makes_no_request_and_no_write(dagbag, env, ch_database, chdb_dir, monkeypatch):
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(dry_run=True))
    assert str(run.state) == "success", _states(run)
    assert env.requests == []
    # Look from another database: the run's own database must not even have been created.
    import json

    from qtickets.hooks.clickhouse import ClickHouseHook

    monkeypatch.setenv("AIRFLOW_CONN_CH_PROBE", json.dumps(
        {"conn_type": "qtickets_clickhouse", "schema": "default", "extra": {"embedded_path": str(chdb_dir)}}))
    with ClickHouseHook(clickhouse_conn_id="ch_probe") as probe:
        assert probe.fetch_all("SELECT count() FROM system.databases WHERE name = %(db)s",
                               {"db": ch_database}) == [(0,)]


FIXTURES_ROOT_ENV = "AIRFLOW__QTICKETS__FIXTURES_ROOT"


def _save_orders(folder, orders) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders.json").write_text(json.dumps({"data": orders, "paging": {
        "perPage": len(orders), "currentPage": 1, "total": len(orders)}}))


def test_fixtures_replay_loads_saved_responses_without_any_request(dagbag, env, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv(FIXTURES_ROOT_ENV, str(tmp_path))  # the deployment allows replays from here
    headers = {"Authorization": f"Bearer {env.token}"}
    orders = _all_orders(env)
    capture = tmp_path / "capture"
    _save_orders(capture, orders)
    events_dir = capture / "events"
    events_dir.mkdir()
    page = 1
    while True:
        body = requests.get(f"{env.rest_url}/events", json={"page": page}, headers=headers, timeout=10).json()
        (events_dir / f"page-{page}.json").write_text(json.dumps(body))
        if page * body["paging"]["perPage"] >= body["paging"]["total"]:
            break
        page += 1
    env.reset_log()
    monkeypatch.delenv("AIRFLOW_CONN_QTICKETS_DEFAULT")  # replay needs no credentials

    # Replayed orders get the window check of live ones: the run's window covers the whole history.
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(
        fixtures_dir="capture", datasets=["orders", "events"], since_hours=ALL_HISTORY["since_hours"]))
    assert str(run.state) == "success", _states(run)
    assert env.requests == []
    counts = _staging_counts()
    assert counts["stg_qtickets_api_orders_raw"] == len(orders)
    assert counts["stg_qtickets_api_events_raw"] > 0
    tickets, revenue = _expected_sales(orders)
    (fact_tickets, fact_revenue), = _query(
        "SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily")
    assert (fact_tickets, Decimal(fact_revenue)) == (tickets, revenue)


def test_fixtures_dir_that_does_not_exist_fails_with_a_clear_message(dagbag, env, tmp_path, monkeypatch):
    monkeypatch.setenv(FIXTURES_ROOT_ENV, str(tmp_path))
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(
        fixtures_dir=str(tmp_path / "nope"), datasets=["orders"]))
    assert str(run.state) == "failed"
    (error_message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL")
    assert "fixtures_dir" in error_message and "nope" in error_message


def test_replay_is_refused_when_the_deployment_sets_no_root(dagbag, env, tmp_path, monkeypatch):
    monkeypatch.delenv(FIXTURES_ROOT_ENV, raising=False)
    _save_orders(tmp_path, _all_orders(env))
    env.reset_log()
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(
        fixtures_dir=str(tmp_path), datasets=["orders"], since_hours=ALL_HISTORY["since_hours"]))
    assert str(run.state) == "failed"
    assert _states(run)["loads.load_orders"] == "failed"
    assert env.requests == []
    assert _query("SELECT count() FROM {{ db }}.stg_qtickets_api_orders_raw")[0][0] == 0
    (error_message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL")
    assert "replay is disabled" in error_message and FIXTURES_ROOT_ENV in error_message


def test_replayed_orders_outside_the_window_fail_the_load_like_live_ones(dagbag, env, tmp_path, monkeypatch):
    monkeypatch.setenv(FIXTURES_ROOT_ENV, str(tmp_path))
    orders = _all_orders(env)
    _save_orders(tmp_path / "capture", orders)
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(fixtures_dir="capture", datasets=["orders"]))
    assert str(run.state) == "failed"  # a manual run's window is the last 2 hours
    assert _states(run)["loads.load_orders"] == "failed"
    assert _query("SELECT count() FROM {{ db }}.stg_qtickets_api_orders_raw")[0][0] == 0
    (error_message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL")
    assert "outside this run's window" in error_message and "replayed /orders" in error_message


def test_replay_loads_only_datasets_with_files_unless_one_is_named(dagbag, env, tmp_path, monkeypatch):
    monkeypatch.setenv(FIXTURES_ROOT_ENV, str(tmp_path))
    orders = _all_orders(env)
    _save_orders(tmp_path / "capture", orders)
    # Nothing named: orders load, every dataset without saved responses is skipped with a reason.
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(
        fixtures_dir="capture", since_hours=ALL_HISTORY["since_hours"]))
    assert str(run.state) == "success", _states(run)
    assert _staging_counts()["stg_qtickets_api_orders_raw"] == len(orders)
    assert _result(run, "loads.load_orders")["status"] == "loaded"
    assert _states(run)["loads.load_events"] == "skipped"
    events = _result(run, "loads.load_events", key="skipped")
    assert events["status"] == "skipped" and "events.json" in events["reason"]
    (message,), = _query("SELECT message FROM {{ db }}.meta_job_runs FINAL WHERE run_id = %(r)s", {"r": run.run_id})
    assert "events.json" in json.loads(message)["datasets"]["events"]["reason"]
    # events named without its files: that load fails, naming the files it looked for.
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(
        fixtures_dir="capture", datasets=["orders", "events"], since_hours=ALL_HISTORY["since_hours"]))
    assert str(run.state) == "failed"
    assert _states(run)["loads.load_events"] == "failed" and _states(run)["loads.load_orders"] == "success"
    messages = [m for (m,) in _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL WHERE status = 'failed'")]
    assert any("events.json" in m and "events/page-*.json" in m for m in messages), messages


def test_hash_mode_without_a_key_fails_before_any_request(dagbag, env, ch_database, chdb_dir, monkeypatch):
    import json

    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", json.dumps(
        {"conn_type": "qtickets_clickhouse", "schema": ch_database, "extra": {"embedded_path": str(chdb_dir)}}))
    env.reset_log()
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(datasets=["orders"], since_hours=1))
    assert str(run.state) == "failed"
    assert _states(run)["loads.load_orders"] == "failed"
    assert env.requests == []
    (error_message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL")
    assert "pii_hash_key" in error_message and "secrets.token_urlsafe(32)" in error_message


def test_datasets_not_selected_end_skipped_with_their_reason_and_the_run_succeeds(dagbag, env, capfd, caplog):
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(datasets=["orders"], since_hours=1))
    states = _states(run)
    assert str(run.state) == "success", states
    assert states["loads.load_orders"] == "success"
    assert {states[f"loads.load_{n}"] for n in DATASETS if n != "orders"} == {"skipped"}
    # Skipped loads skip neither the facts (orders loaded) nor the verdict.
    assert (states["rebuild_facts"], states["run_checks"], states["finish"], states["record_run"]) == (
        "success", "success", "success", "success")
    skipped = _result(run, "loads.load_clients", key="skipped")
    assert skipped["status"] == "skipped" and "not selected" in skipped["reason"]
    (status, message), = _query("SELECT status, message FROM {{ db }}.meta_job_runs FINAL")
    datasets = json.loads(message)["datasets"]
    assert status == "success"
    assert datasets["orders"]["status"] == "loaded"
    assert datasets["clients"]["status"] == "skipped" and "not selected" in datasets["clients"]["reason"]
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert "Skipping clients: not selected" in logged  # the logs are captured here, reasons included
    assert "XCom not found" not in logged


def test_a_failed_load_fails_the_run_and_nothing_pulls_its_missing_result(dagbag, env, capfd, caplog):
    env.faults.fail_next(10_000, status=403, match="/orders")
    run = runnable(dagbag).test(logical_date=None, run_conf=conf(datasets=["orders"], since_hours=1))
    states = _states(run)
    assert str(run.state) == "failed", states
    assert (states["loads.load_orders"], states["finish"], states["record_run"]) == (
        "failed", "upstream_failed", "success")
    assert states["rebuild_facts"] == "skipped"  # nothing loaded
    out = capfd.readouterr()
    assert "XCom not found" not in out.out + out.err + caplog.text


def _run_window(run) -> tuple[datetime, datetime]:
    (start, end), = _query("SELECT window_start, window_end FROM {{ db }}.meta_job_runs FINAL WHERE run_id = %(r)s",
                           {"r": run.run_id})
    return tuple(v if v.tzinfo else v.replace(tzinfo=UTC) for v in (start, end))


def _ceil_second(value: datetime) -> datetime:
    return value.replace(microsecond=0) + timedelta(seconds=1) if value.microsecond else value


def test_the_window_of_each_way_to_start_a_run(dagbag, env):
    """README, "Manual runs and their window": a manual run ends when it was triggered, with or without
    a logical date; a scheduled run ends at its interval end."""
    from qtickets.params import MANUAL_SINCE_HOURS, WINDOW_OVERLAP

    dag = runnable(dagbag)
    # 1. The UI's trigger dialog (and `airflow dags trigger -l`): a logical date of now, so an interval
    #    inferred to end at the last 15-minute boundary; the window still reaches to when it was triggered.
    ui = dag.test(logical_date=datetime.now(UTC), run_conf=conf(datasets=["orders"]))
    assert str(ui.state) == "success", _states(ui)
    assert ui.data_interval_end < ui.run_after
    assert _run_window(ui) == (ui.data_interval_start - WINDOW_OVERLAP, _ceil_second(ui.run_after))
    # 2. A trigger without a logical date (REST API, `airflow dags trigger`): no interval, the last hours.
    bare = dag.test(logical_date=None, run_conf=conf(datasets=["orders"]))
    assert str(bare.state) == "success", _states(bare)
    assert bare.data_interval_end is None
    assert _run_window(bare) == ((bare.run_after - timedelta(hours=MANUAL_SINCE_HOURS)).replace(microsecond=0),
                                 _ceil_second(bare.run_after))
    # 3. A scheduled run starts once its interval is over (run_after = interval end): it reads that interval.
    now = datetime.now(UTC)
    boundary = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    scheduled = dag.test(logical_date=boundary, run_after=boundary, run_conf=conf(datasets=["orders"]))
    assert str(scheduled.state) == "success", _states(scheduled)
    assert _run_window(scheduled) == (scheduled.data_interval_start - WINDOW_OVERLAP, scheduled.data_interval_end)
    assert scheduled.data_interval_end == boundary
