"""Fault drills: the DAG (``dag.test``) against the sandbox over real sockets and embedded ClickHouse,
with the vendor behaving as a live account does — data changing between and during runs, failures
mid-window, a flaky API — and assertions on the numbers that land, not only on the run state.

Expected numbers come from the vendor's own payloads (``tests.dags.vendor``), never from the code
under test. A scheduled run is ``dag.test(logical_date=X, run_after=X)``: its window ends at ``X`` (a manual
run ends when it was triggered, ``run_after``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from qtickets.timeutil import MSK
from tests.dags.conftest import conf, runnable
from tests.dags.vendor import _all_orders, _expected_sales, _query, _result, _states

pytestmark = [pytest.mark.dag, pytest.mark.integration, pytest.mark.slow]

QUARTER = timedelta(minutes=15)
HISTORY_HOURS = 24 * 365 * 7


def _quarter_floor(value: datetime) -> datetime:
    return value.replace(minute=value.minute - value.minute % 15, second=0, microsecond=0)


def _conn(server, **extra) -> str:
    return json.dumps({"conn_type": "qtickets", "host": server.rest_url, "password": server.token,
                       "extra": {"timeout": 5, "backoff_base": 0.01, "backoff_max": 0.05, **extra}})


@pytest.fixture
def env(sandbox, embedded_clickhouse, monkeypatch):
    """The per-test sandbox (300 orders, real clock) with patient but fast retries."""
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _conn(sandbox, max_retries=2, retry_budget=2))
    return sandbox


def _vendor_sales_before(sandbox, end: datetime) -> tuple[int, Decimal, set[int]]:
    """Tickets sold, revenue and order ids of the vendor's orders last changed before ``end``: what a
    warehouse that has read the timeline up to ``end`` must hold."""
    orders = [o for o in _all_orders(sandbox) if datetime.fromisoformat(o["updated_at"]) < end]
    tickets, revenue = _expected_sales(orders)
    return tickets, revenue, {o["id"] for o in orders}


def _warehouse_sales() -> tuple[int, Decimal, set[int]]:
    (tickets, revenue), = _query("SELECT sum(tickets_sold), sum(revenue) FROM {{ db }}.fact_qtickets_sales_daily")
    ids = {oid for (oid,) in _query("SELECT order_id FROM {{ db }}.stg_qtickets_api_orders_raw FINAL")}
    return int(tickets or 0), Decimal(revenue or 0), ids


def _old_orders(sandbox, before: datetime) -> tuple[list[dict], list[dict]]:
    """Paid-and-active and pending orders last changed well before ``before`` (safe to change now)."""
    orders = [o for o in _all_orders(sandbox) if datetime.fromisoformat(o["updated_at"]) < before - timedelta(days=1)]
    paid = [o for o in orders if o["payed"] and o["deleted_at"] is None
            and all(b["refunded_at"] is None and b["deleted_at"] is None for b in o["baskets"])]
    pending = [o for o in orders if not o["payed"] and o["deleted_at"] is None]
    return paid, pending


def _change_orders(sandbox, at: list[datetime], paid: list[dict], pending: list[dict]) -> None:
    """The vendor's changes at the instants ``at``: refunds of old orders, reserved orders paid, new orders."""
    for i, moment in enumerate(at):
        sandbox.data.refund_order(paid[i]["id"], moment)
        if i < len(pending):
            sandbox.data.pay_order(pending[i]["id"], moment)
        sandbox.data.add_orders(1, moment, paid=True)


def _history_then_outage(dag, sandbox):
    """A history load ending two quarters ago; returns (end of history, end of the current quarter)."""
    now = datetime.now(UTC)
    current = _quarter_floor(now)
    history_end = current - 2 * QUARTER
    run = dag.test(logical_date=history_end, run_after=history_end, run_conf=conf(since_hours=HISTORY_HOURS, datasets=["orders"]))
    assert str(run.state) == "success", _states(run)
    return history_end, current


def test_a_failed_run_loses_nothing_once_the_next_scheduled_run_succeeds(dagbag, env):
    dag = runnable(dagbag)
    history_end, current = _history_then_outage(dag, env)
    paid, pending = _old_orders(env, history_end)
    failed_interval_end = current - QUARTER
    # The failed run's own interval [history_end, current - 15 min): the vendor changes orders in it
    # before the run, the run fails on truncated /orders bodies, and more changes arrive after it.
    _change_orders(env, [history_end + timedelta(minutes=2), history_end + timedelta(minutes=4)], paid, pending)
    env.faults.truncate_next(1_000_000, match="/orders")
    failed = dag.test(logical_date=failed_interval_end, run_after=failed_interval_end, run_conf=conf(datasets=["orders"]))
    assert str(failed.state) == "failed"
    assert _states(failed)["loads.load_orders"] == "failed"
    _change_orders(env, [history_end + timedelta(minutes=9), history_end + timedelta(minutes=11)], paid[2:],
                   pending[2:])
    env.faults.clear()

    # catchup is off: the next run is the current quarter's, not the failed one again.
    run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["orders"]))
    assert str(run.state) == "success", _states(run)

    tickets, revenue, ids = _vendor_sales_before(env, current)
    assert _warehouse_sales() == (tickets, revenue, ids)


def test_a_skipped_interval_loses_nothing(dagbag, env):
    dag = runnable(dagbag)
    history_end, current = _history_then_outage(dag, env)
    paid, pending = _old_orders(env, history_end)
    # No run at all for [history_end, current - 15 min) (scheduler down), while the vendor changes orders.
    _change_orders(env, [history_end + timedelta(minutes=m) for m in (1, 6, 13)], paid, pending)

    run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["orders"]))
    assert str(run.state) == "success", _states(run)

    tickets, revenue, ids = _vendor_sales_before(env, current)
    assert _warehouse_sales() == (tickets, revenue, ids)
    spans = _query("SELECT toUnixTimestamp(range_start), toUnixTimestamp(range_end) FROM {{ db }}.meta_coverage "
                   "WHERE dataset = 'orders' ORDER BY range_start")
    assert spans[-1][1] == int(current.timestamp())
    assert all(a_end >= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)), spans


def test_a_history_failing_part_way_keeps_the_windows_it_finished_and_the_next_run_loads_the_rest(
        dagbag, embedded_clickhouse, monkeypatch):
    """A whole-history run is read window by window, the next window's pages read while the current one is
    flushed (``qtickets.read_ahead``). The vendor starts refusing half-way, inside a window some of whose pages
    were already read and mapped: exactly the windows recorded are in staging, and the next run reads the
    rest."""
    from qtickets.hooks._api import QticketsApiHook
    from qtickets.warehouse import coverage
    from sandbox import SandboxConfig, SandboxServer

    dag = runnable(dagbag)
    current = _quarter_floor(datetime.now(UTC))
    recorded: list = []
    record_coverage, send = coverage.record_coverage, QticketsApiHook._send
    with SandboxServer(SandboxConfig(orders=3000, seed=17)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _conn(server, concurrency=4))
        orders_requests: list[str] = []

        def record(ch, name, chunk, run_id):
            record_coverage(ch, name, chunk, run_id)
            recorded.append(chunk)

        def send_then_refuse(self, method, url, **kwargs):
            if "/orders" in url:
                orders_requests.append(url)
                if len(orders_requests) == 40:  # mid-history (~75 requests): from here the vendor refuses
                    server.faults.fail_next(1_000_000, status=403, match="/orders")
            return send(self, method, url, **kwargs)

        monkeypatch.setattr(coverage, "record_coverage", record)
        monkeypatch.setattr(QticketsApiHook, "_send", send_then_refuse)
        failed = dag.test(logical_date=current - QUARTER, run_after=current - QUARTER,
                          run_conf=conf(since_hours=HISTORY_HOURS, datasets=["orders"]))
        server.faults.clear()  # the vendor answers again (the numbers below are read from it)
        monkeypatch.setattr(coverage, "record_coverage", record_coverage)
        monkeypatch.setattr(QticketsApiHook, "_send", send)
        assert str(failed.state) == "failed"
        assert _states(failed)["loads.load_orders"] == "failed"
        assert len(recorded) >= 2 and all(a.end == b.start for a, b in zip(recorded, recorded[1:], strict=False))
        covered_end = recorded[-1].end
        beyond = {o["id"] for o in _all_orders(server) if datetime.fromisoformat(o["updated_at"]) >= covered_end}
        assert len(beyond) > 100, "the drill needs pages of orders beyond the windows the failed run finished"
        _, _, ids = _vendor_sales_before(server, covered_end)
        staged = {oid for (oid,) in _query("SELECT order_id FROM {{ db }}.stg_qtickets_api_orders_raw FINAL")}
        assert staged == ids  # nothing of a window that was not recorded, nothing missing of those that were

        run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["orders"]))
        assert str(run.state) == "success", _states(run)
        assert _warehouse_sales() == _vendor_sales_before(server, current)


def test_coverage_check_fails_the_run_and_names_the_hole(dagbag, env):
    dag = runnable(dagbag)
    history_end, current = _history_then_outage(dag, env)
    # Someone deletes a stretch of the ledger (as if a load had never finished there): the next run
    # reads it again; a ledger hole the load cannot fill (the orders load was not run) fails the checks.
    _query("ALTER TABLE {{ db }}.meta_coverage DELETE WHERE 1 SETTINGS mutations_sync = 2")
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.warehouse.coverage import COLUMNS

    def row(start: datetime, end: datetime, version: int) -> tuple:
        return ("orders", int(start.timestamp()), int(end.timestamp()), "by-hand", int(end.timestamp()), version)

    with ClickHouseHook(clickhouse_conn_id="clickhouse_default") as ch:
        ch.insert("meta_coverage", COLUMNS, [row(history_end - timedelta(days=2), history_end - timedelta(days=1), 1),
                                             row(history_end - timedelta(hours=20), current, 2)])
    run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["events"]))
    assert str(run.state) == "failed"
    assert _states(run)["run_checks"] == "failed"
    (message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL WHERE run_id = %(r)s",
                         {"r": run.run_id})
    hole_start = (history_end - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert "orders_coverage" in message and hole_start in message, message

    healed = dag.test(logical_date=None, run_conf=conf(datasets=["orders"]))
    assert str(healed.state) == "success", _states(healed)


def test_a_flaky_vendor_costs_retries_not_the_run(dagbag, embedded_clickhouse, monkeypatch):
    """Two requests in three answer 503 (seeded), at concurrency 4, over a window of 30 pages: the run
    completes in one task attempt with every order exactly once."""
    from sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(orders=1500, seed=5, error_rate=2 / 3)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _conn(server, concurrency=4))
        run = runnable(dagbag).test(logical_date=None, run_conf=conf(since_hours=HISTORY_HOURS, datasets=["orders"]))
        assert str(run.state) == "success", _states(run)
        assert {ti.task_id: ti.try_number for ti in run.get_task_instances()}["loads.load_orders"] == 1
        failures, pages = server.log.count("/orders", status=503), server.log.count("/orders", status=200)
        server.faults.error_rate = 0.0
        expected_tickets, expected_revenue, expected_ids = _vendor_sales_before(server, datetime.now(UTC))

    assert pages >= 30 and failures >= pages, (pages, failures)
    (rows, distinct), = _query("SELECT count(), uniqExact(order_id) FROM {{ db }}.stg_qtickets_api_orders_raw")
    assert rows == distinct == len(expected_ids)
    assert _warehouse_sales() == (expected_tickets, expected_revenue, expected_ids)


def test_a_load_of_an_overlapping_run_before_the_checks_is_pending_not_a_fault(dagbag, env, monkeypatch):
    """Runs overlap (a backfill beside the schedule, the history DAG beside the main one), so another run's
    load can land between this run's rebuild and its checks: staging then holds orders the facts do not
    yet. That is no data-quality fault (a stack run once failed a backfill and alerted on it); the checks
    report the months as pending and the next rebuild takes them in."""
    from qtickets import pipeline
    from qtickets.params import RunParams
    from qtickets.window import Window

    dag = runnable(dagbag)
    history_end, current = _history_then_outage(dag, env)
    paid, pending = _old_orders(env, history_end)
    run_end = current - QUARTER
    real_rebuild = pipeline.rebuild_facts
    overlapping: dict = {}

    def rebuild_then_an_overlapping_run_loads(*args, **kwargs):
        result = real_rebuild(*args, **kwargs)
        # after this run's window: a refund of an old order, a reserved order paid, a new order
        _change_orders(env, [run_end + timedelta(minutes=1)], paid, pending)
        overlapping.update(pipeline.load_dataset("orders", params=RunParams(datasets=("orders",)),
                                                 window=Window(run_end, current), run_id="overlapping"))
        return result

    monkeypatch.setattr(pipeline, "rebuild_facts", rebuild_then_an_overlapping_run_loads)
    published_tickets, published_revenue, _ = _vendor_sales_before(env, run_end)  # the vendor before the change
    run = dag.test(logical_date=run_end, run_after=run_end, run_conf=conf(datasets=["orders"]))
    assert str(run.state) == "success", _states(run)
    assert overlapping["status"] == "loaded" and overlapping["records"] >= 3, overlapping
    checked = _result(run, "run_checks")
    refunded_month = datetime.fromisoformat(paid[0]["payed_at"]).astimezone(MSK)
    assert int(refunded_month.strftime("%Y%m")) in checked["pending_months"], checked
    # the facts are what this run published; staging already holds the overlapping run's orders
    *_, ids = _vendor_sales_before(env, current)
    assert _warehouse_sales() == (published_tickets, published_revenue, ids)
    assert _vendor_sales_before(env, current)[:2] != (published_tickets, published_revenue)

    monkeypatch.setattr(pipeline, "rebuild_facts", real_rebuild)
    run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["orders"]))
    assert str(run.state) == "success", _states(run)
    assert _result(run, "run_checks")["pending_months"] == []
    assert _warehouse_sales() == _vendor_sales_before(env, current)


def test_a_backfill_before_the_first_load_leaves_no_hole_for_the_checks_of_a_run_beside_it(dagbag, env,
                                                                                            monkeypatch):
    """A new deployment's first scheduled run reads only its own interval; a backfill of an interval an
    hour back, landing beside it (before its checks), must read through to the first load: left unread,
    the stretch between them is a hole the scheduled run's coverage check fails on (the stack test saw a
    scheduled run fail so, with its retries, while a backfill ran beside it)."""
    from qtickets import pipeline
    from qtickets.params import RunParams
    from qtickets.window import Window

    dag = runnable(dagbag)
    current = _quarter_floor(datetime.now(UTC))
    backfill = Window(current - 80 * timedelta(minutes=1), current - 60 * timedelta(minutes=1))
    # the vendor's changes: one in the backfilled interval, one between it and the first run, one in the run's
    for minutes in (70, 40, 10):
        env.data.add_orders(1, current - timedelta(minutes=minutes), paid=True)
    real_rebuild = pipeline.rebuild_facts
    backfilled: dict = {}

    def rebuild_then_a_backfill_loads(*args, **kwargs):
        result = real_rebuild(*args, **kwargs)
        backfilled.update(pipeline.load_dataset("orders", params=RunParams(datasets=("orders",)), window=backfill,
                                                run_id="backfill__beside"))
        return result

    monkeypatch.setattr(pipeline, "rebuild_facts", rebuild_then_a_backfill_loads)
    run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["orders"]))
    assert str(run.state) == "success", _states(run)
    assert backfilled["status"] == "loaded", backfilled

    vendor = {o["id"] for o in _all_orders(env) if backfill.start <= datetime.fromisoformat(o["updated_at"]) < current}
    staged = {oid for (oid,) in _query("SELECT order_id FROM {{ db }}.stg_qtickets_api_orders_raw FINAL")}
    assert vendor <= staged and len(vendor) >= 3
    spans = _query("SELECT toUnixTimestamp(range_start), toUnixTimestamp(range_end) FROM {{ db }}.meta_coverage "
                   "WHERE dataset = 'orders' ORDER BY range_start")
    assert spans[0][0] <= int(backfill.start.timestamp()) and spans[-1][1] == int(current.timestamp())
    assert all(a_end >= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)), spans


def _published_facts() -> list[tuple]:
    return [*_query("SELECT * FROM {{ db }}.fact_qtickets_sales_daily ORDER BY ALL"),
            *_query("SELECT * FROM {{ db }}.fact_qtickets_sales_utm_daily ORDER BY ALL")]


def test_a_bad_value_fails_the_run_in_one_attempt_and_publishes_nothing(dagbag, env):
    dag = runnable(dagbag)
    history_end, current = _history_then_outage(dag, env)
    before = _published_facts()
    paid, _ = _old_orders(env, history_end)
    ticket = paid[0]["baskets"][0]["id"]
    env.data.corrupt_basket(ticket, history_end + timedelta(minutes=3), ticket_amount=-10000)
    # A retry cannot change the data: the audit's failure must not be retried (the copy keeps retries).
    dag.get_task("rebuild_facts").retries, dag.get_task("rebuild_facts").retry_delay = 2, timedelta(0)

    run = dag.test(logical_date=current, run_after=current, run_conf=conf(datasets=["orders"]))

    assert str(run.state) == "failed"
    rebuild = next(ti for ti in run.get_task_instances() if ti.task_id == "rebuild_facts")
    assert (str(rebuild.state), rebuild.try_number) == ("failed", 1)
    assert _published_facts() == before
    (message,), = _query("SELECT error_message FROM {{ db }}.meta_job_runs FINAL WHERE run_id = %(r)s",
                         {"r": run.run_id})
    assert str(ticket) in message and "negative" in message.lower(), message
    (staged,), = _query("SELECT ticket_amount FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL "
                        "WHERE ticket_id = %(t)s", {"t": ticket})
    assert Decimal(staged) == -10000, "the bad value is kept in staging for inspection, only not published"


def test_orders_changing_on_pages_already_read_are_not_skipped(dagbag, embedded_clickhouse, monkeypatch):
    """While a 25-page window is paged at concurrency 4, the vendor keeps changing orders on pages
    already read (each leaves the window, shifting every later order up one place): every order of the
    window is loaded by that run, and the changed ones' new versions by the next."""
    from sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(orders=300, seed=9)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _conn(server, concurrency=4))
        dag = runnable(dagbag)
        window_end = _quarter_floor(datetime.now(UTC)) - QUARTER
        window_start = window_end - timedelta(hours=3)
        for k in range(1200):  # a busy afternoon: 1 200 orders inside the window
            server.data.add_orders(1, window_start + timedelta(seconds=8 * k + 1), paid=k % 3 != 0)
        in_window = {o["id"] for o in _all_orders(server)
                     if window_start <= datetime.fromisoformat(o["updated_at"]) < window_end}
        server.faults.churn_orders(every_pages=2, per_churn=1)

        run = dag.test(logical_date=window_end, run_after=window_end, run_conf=conf(since_hours=3, datasets=["orders"]))

        assert str(run.state) == "success", _states(run)
        churned = set(server.faults.churned_ids)
        assert len(churned) >= 8, churned
        loaded = {oid for (oid,) in _query("SELECT order_id FROM {{ db }}.stg_qtickets_api_orders_raw FINAL")}
        assert loaded == in_window, (sorted(in_window - loaded), sorted(loaded - in_window))
        assert _result(run, "loads.load_orders")["gap_reads"] > 0, "the shifts were found by re-reading id gaps"

        server.faults.churn_orders(every_pages=0)
        after = dag.test(logical_date=None, run_conf=conf(datasets=["orders"]))
        assert str(after.state) == "success", _states(after)
        orders = [o for o in _all_orders(server) if datetime.fromisoformat(o["updated_at"]) >= window_start]
        tickets, revenue = _expected_sales(orders)
        assert _warehouse_sales() == (tickets, revenue, {o["id"] for o in orders})
