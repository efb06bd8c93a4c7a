"""Secrets drill: the DAG (``dag.test``) through every failure mode with planted secrets, then a scan of
every sink for them.

Planted: a distinctive API token, partner key, ClickHouse password, PII hash key, Telegram bot token and
Slack webhook path (each with ``/``, ``+`` or ``=`` so its JSON-escaped and URL-encoded forms differ from
the raw one). The vendor (sandbox), the alert channels (loopback fakes) and a fake ClickHouse server
fail in the ways a hostile or broken peer does: refusing the token, 5xx storms, timeouts, HTML and
truncated 200s, an envelope holding a buyer's record, echoing the ``Authorization`` value in a header or
in a JSON-escaped, URL-encoded or base64 body, refusing the ClickHouse password, refusing alerts while
echoing the bot token and webhook path.

Sinks scanned after each run: task logs (caplog records with their tracebacks, the console output
``dag.test`` writes, any file under ``$AIRFLOW_HOME/logs``), every XCom row of the run, every column of
every table of the warehouse database (``meta_job_runs``, ``meta_dataset_loads``, staging, facts,
coverage ...) and the alert payloads the fakes received. Needles: each secret raw and in its escaped and
encoded forms, and the buyers' clear e-mails, phones and names, card fragments and capability URLs read
from the sandbox's orders (hash mode, the default). ``test_the_scanner_finds_every_planted_needle``
shows each needle is found in each sink when it is there.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests

from tests.conftest import drop_embedded_database
from tests.dags.conftest import conf, runnable
from tests.dags.vendor import _all_orders, _states
from tests.fakes import FakeHttpEndpoint, _start_http, _telegram_reply

pytestmark = [pytest.mark.dag, pytest.mark.integration, pytest.mark.slow]

TOKEN = "qt-DRILL/tok+en=7f3a9c2e5b1d4a60"
PARTNER_KEY = "pk-DRILL/partner+key=91c4e7a0b3d2"
CH_PASSWORD = "ch-DRILL/pass+word=0e8b4d21c9f7"
HASH_KEY = "hk-DRILL/hash+key=7d1e0c9b5a3f60aa"
BOT_TOKEN = "987654321:DRILLbotTOKEN_q8w7e6r5t4y3u2i1o0p9"
WEBHOOK_PATH = "T0DRILL/B0DRILL/drillWebhook+Secret=42xyz"
#: A token pasted across two lines (requests would refuse the header and quote it whole).
NEWLINE_TOKEN = "qt-DRILL-line1-5c2e8a\nqt-DRILL-line2-9b7a3f"

SECRETS = {"api token": TOKEN, "partner key": PARTNER_KEY, "clickhouse password": CH_PASSWORD,
           "pii hash key": HASH_KEY, "bot token": BOT_TOKEN, "webhook path": WEBHOOK_PATH,
           "newline token": NEWLINE_TOKEN}
HISTORY = 24 * 365 * 7
RETRIES = {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.02, "retry_budget": 1}


# --------------------------------------------------------------------------------------------- needles


def secret_forms(secret: str) -> dict[str, str]:
    """A secret as it may leak: raw, JSON-escaped (PHP's ``\\/`` too), repr'd, URL-encoded, base64
    (alone and as the ``Bearer`` header value), and each line of a secret pasted with a line break.

    Written here, independently of ``qtickets.redaction``.
    """
    escaped = json.dumps(secret)[1:-1]
    forms = {"raw": secret, "json": escaped, "json \\/": escaped.replace("/", "\\/"),
             "repr": repr(secret)[1:-1], "quote": quote(secret, safe=""), "quote /": quote(secret),
             "quote_plus": quote_plus(secret), "quote lower-case": quote(secret, safe="").replace("%2F", "%2f")
             .replace("%2B", "%2b").replace("%3D", "%3d")}
    for label, text in (("base64", secret), ("base64 bearer", f"Bearer {secret}")):
        forms[label] = base64.b64encode(text.encode()).decode()
        forms[f"{label} url-safe unpadded"] = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    for n, line in enumerate(secret.splitlines()):
        if len(secret.splitlines()) > 1:
            forms[f"line {n + 1}"] = line
    return forms


def pii_needles(server) -> dict[str, str]:
    """Buyers' clear personal data and capability values from the vendor's orders."""
    needles: dict[str, str] = {}
    for order in _all_orders(server):
        client = order.get("client") or {}
        details = client.get("details") or {}
        people = [(client.get("email"), details.get("phone"), details.get("name"), details.get("surname"),
                   details.get("middlename"))]
        people += [(b.get("client_email"), b.get("client_phone"), b.get("client_name"), b.get("client_surname"),
                    b.get("client_middlename")) for b in order.get("baskets") or []]
        for email, phone, *names in people:
            if email:
                needles[f"e-mail {email}"] = email
            if phone:
                needles[f"phone {phone}"] = phone
                needles[f"phone digits {phone}"] = "".join(c for c in phone if c.isdigit())
            for name in filter(None, names):
                needles[f"name {name}"] = name
                needles[f"name {name} \\u-escaped"] = json.dumps(name)[1:-1]
        for key in ("payment_url", "cancel_url", "payment_card_number"):
            if order.get(key):
                needles[f"{key} {order[key]}"] = order[key]
                needles[f"{key} {order[key]} json \\/"] = order[key].replace("/", "\\/")
        for basket in order.get("baskets") or []:
            if basket.get("pdf_url"):
                needles[f"pdf_url {basket['pdf_url']}"] = basket["pdf_url"]
    return needles


def all_needles(server) -> dict[str, str]:
    needles = {f"{name} ({form})": value for name, secret in SECRETS.items()
               for form, value in secret_forms(secret).items()}
    return {**needles, **pii_needles(server)}


# --------------------------------------------------------------------------------------------- sinks


@dataclass
class Sinks:
    """Text of every place a run can write to, by sink name."""

    texts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, sink: str, text: str) -> None:
        self.texts.setdefault(sink, []).append(text)

    def hits(self, needles: dict[str, str]) -> list[tuple[str, str]]:
        """``(sink, needle label)`` for every needle found in a sink."""
        return [(sink, label) for sink, texts in self.texts.items() for label, needle in needles.items()
                if any(needle in text for text in texts)]


def _log_text(record: logging.LogRecord) -> str:
    text = f"{record.name} {record.levelname} {record.getMessage()}"
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value, as it is (keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _xcom_texts(dag_id: str, run_id: str) -> list[str]:
    """Every XCom row of the run: the stored text and every string of the deserialised value."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.dag_id == dag_id,
                                                       XComModel.run_id == run_id)).all()
        return [f"{row.task_id}/{row.key}: {row.value}\n" + "\n".join(_strings(XComModel.deserialize_value(row)))
                for row in rows]


def _table_texts(conn_id: str) -> list[str]:
    """Every row of every table of the warehouse database, every column as text."""
    from qtickets.hooks.clickhouse import ClickHouseHook

    with ClickHouseHook(clickhouse_conn_id=conn_id) as ch:
        tables = [name for (name,) in ch.fetch_all(
            "SELECT name FROM system.tables WHERE database = %(db)s AND engine NOT LIKE '%%View'",
            {"db": ch.database})]
        texts = []
        for table in tables:
            for row in ch.fetch_all("SELECT * FROM {{ db }}.{{ t }}", t=table):
                texts.append(f"{table}: " + " | ".join(str(value) for value in row))
        assert "meta_job_runs" in tables and "meta_dataset_loads" in tables, tables
        return texts


def collect_sinks(run, *, caplog, capfd, alerts: list[FakeHttpEndpoint], scan_conn_id: str) -> Sinks:
    sinks = Sinks()
    for record in caplog.records:
        sinks.add("task log (records)", _log_text(record))
    out, err = capfd.readouterr()
    sinks.add("task log (console)", out + err)
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    for path in logs.rglob("*") if logs.is_dir() else ():
        if path.is_file():
            sinks.add("task log (files)", path.read_text(errors="replace"))
    for text in _xcom_texts(run.dag_id, run.run_id):
        sinks.add("xcom", text)
    for text in _table_texts(scan_conn_id):
        sinks.add(f"table {text.split(':', 1)[0]}", text)
    for endpoint in alerts:
        for message in endpoint.messages:
            sinks.add("alert payloads", "\n".join(_strings(message)))
    return sinks


# --------------------------------------------------------------------------------------------- fakes


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _binary_str(text: str) -> bytes:
    raw = text.encode()
    return _varint(len(raw)) + raw


class FakeClickHouse:
    """A loopback ClickHouse server that refuses every login the way a real one does: it reads the
    client's Hello (which carries the password) and answers the native protocol's Exception packet,
    code 516 AUTHENTICATION_FAILED."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.logins = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)  # the client's Hello: name, version, database, user, password
                except OSError:
                    continue
                self.logins += 1
                conn.sendall(_varint(2) + struct.pack("<i", 516) + _binary_str("DB::Exception")
                             + _binary_str("default: Authentication failed: password is incorrect, or there "
                                           "is no user with such name.")
                             + _binary_str("") + b"\0")

    def close(self) -> None:
        self.sock.close()


def _telegram_refusing(endpoint_box: list[FakeHttpEndpoint]) -> Callable[[dict], tuple[int, bytes, str]]:
    """A Bot API that refuses the message and quotes the request path (which holds the bot token)."""
    def reply(body: dict) -> tuple[int, bytes, str]:
        path = endpoint_box[0].paths[-1]
        return 400, json.dumps({"ok": False, "error_code": 400,
                                "description": f"Bad Request: chat not found for {path}"}).encode(), "application/json"
    return reply


# --------------------------------------------------------------------------------------------- set-up


@pytest.fixture(scope="module")
def drill_database(chdb_dir) -> Iterator[str]:
    """One warehouse database for the whole module: migrations run once, every mode's writes stay in it
    and every scan reads all of them."""
    name = f"t_drill_{uuid.uuid4().hex[:10]}"
    yield name
    drop_embedded_database(chdb_dir, name)


@pytest.fixture(scope="module")
def drill_dag(dagbag) -> Callable[[tuple[str, ...]], Any]:
    """The production DAG ``qtickets_api`` made runnable in-process (``runnable``: no task retries,
    deadline detached), restricted to the load tasks of a mode's datasets and what surrounds them:
    bootstrap_schema, the loads, rebuild_facts, run_checks, finish, record_run (a task costs ~1 s)."""
    base, subsets = runnable(dagbag), {}

    def for_datasets(datasets: tuple[str, ...]):
        if datasets not in subsets:
            subsets[datasets] = base.partial_subset([f"loads.load_{name}" for name in datasets],
                                                    include_downstream=True, include_upstream=True)
        return subsets[datasets]

    return for_datasets


def _qtickets_conn(server, token: str = TOKEN, **extra: Any) -> str:
    return json.dumps({"conn_type": "qtickets", "host": server.rest_url, "password": token,
                       "extra": {"timeout": 5, **RETRIES, **extra}})


def _clickhouse_conn(database: str, chdb_dir: Path) -> str:
    return json.dumps({"conn_type": "qtickets_clickhouse", "schema": database, "password": CH_PASSWORD,
                       "extra": {"embedded_path": str(chdb_dir), "pii_hash_key": HASH_KEY}})


@dataclass
class Drill:
    server: Any
    monkeypatch: pytest.MonkeyPatch
    telegram: FakeHttpEndpoint
    slack: FakeHttpEndpoint
    needles: dict[str, str] = field(default_factory=dict)
    scan_conn_id: str = "drill_scan"
    cleanups: list[Callable[[], None]] = field(default_factory=list)


def _alert_endpoints(monkeypatch: pytest.MonkeyPatch, *, refuse: bool) -> tuple[FakeHttpEndpoint, FakeHttpEndpoint]:
    box: list[FakeHttpEndpoint] = []
    telegram = _start_http(_telegram_refusing(box) if refuse else _telegram_reply)
    box.append(telegram)
    slack = _start_http((lambda body: (403, f"invalid_token: {WEBHOOK_PATH} is revoked".encode(), "text/plain"))
                        if refuse else (lambda body: (200, b"ok", "text/plain")))
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_TELEGRAM", json.dumps(
        {"conn_type": "telegram", "host": "-100123", "password": BOT_TOKEN,
         "extra": {"base_url": f"{telegram.url}/bot"}}))
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "host": f"{slack.url}/services", "password": WEBHOOK_PATH,
         "extra": {"timeout": 5}}))
    return telegram, slack


@pytest.fixture
def drill(request, monkeypatch, chdb_dir, drill_database, caplog) -> Iterator[Drill]:
    """Sandbox (50 orders, planted token and partner key), embedded ClickHouse (planted password and
    hash key), alert fakes (refusing when the test is parametrised with a ``refuse_alerts`` mode)."""
    from sandbox import SandboxConfig, SandboxServer

    caplog.set_level(logging.INFO)
    with SandboxServer(SandboxConfig(orders=50, seed=3, token=TOKEN, partner_key=PARTNER_KEY)) as server:
        conn = _clickhouse_conn(drill_database, chdb_dir)
        monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", conn)
        monkeypatch.setenv("AIRFLOW_CONN_DRILL_SCAN", conn)
        monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _qtickets_conn(server))
        monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_PARTNERS_DEFAULT", json.dumps(
            {"conn_type": "qtickets_partners", "host": server.partners_url, "password": PARTNER_KEY,
             "extra": {"timeout": 5, **RETRIES}}))
        monkeypatch.setenv("AIRFLOW_VAR_QTICKETS_PARTNER_FIND_REQUESTS", '[{"filter": {}}]')
        refuse = getattr(request, "param", None) == "refuse_alerts"
        telegram, slack = _alert_endpoints(monkeypatch, refuse=refuse)
        state = Drill(server, monkeypatch, telegram, slack)
        yield state
        for cleanup in state.cleanups:
            cleanup()
        telegram.close()
        slack.close()


# --------------------------------------------------------------------------------------------- modes


def _faults(name: str, n: int = 50, **kwargs: Any) -> Callable[[Drill], None]:
    def arrange(d: Drill) -> None:
        getattr(d.server.faults, name)(n, **kwargs)
    return arrange


def _newline_token(d: Drill) -> None:
    """The token is refused before any request is sent (a config error that names no value)."""
    d.monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _qtickets_conn(d.server, token=NEWLINE_TOKEN))


def _timeout(d: Drill) -> None:
    d.server.faults.latency_ms = 800
    d.monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", _qtickets_conn(d.server, timeout=0.3))


def _buyer_on_the_page(d: Drill) -> None:
    """Orders changed a moment ago (inside the run's window whatever the coverage ledger holds), so the
    first /orders page holds buyers' records, and the first such page carries one in ``paging.total``."""
    d.server.data.add_orders(3, datetime.now(UTC) - timedelta(seconds=1), paid=True)
    d.server.faults.bad_paging_next(50, match="/orders")


def _clickhouse_refuses(d: Drill) -> None:
    fake = FakeClickHouse()
    d.cleanups.append(fake.close)
    d.monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", json.dumps(
        {"conn_type": "qtickets_clickhouse", "host": "127.0.0.1", "port": fake.port, "login": "etl_writer",
         "password": CH_PASSWORD, "schema": "zakaz",
         "extra": {"pii_hash_key": HASH_KEY, "connect_timeout": 2, "send_receive_timeout": 2}}))


def _echo_partners_and_orders(into: str) -> Callable[[Drill], None]:
    """Both APIs echo their credential: /orders the token (HTTP 403), Partners the key (its 200 envelope)."""
    def arrange(d: Drill) -> None:
        d.server.faults.echo_auth_next(50, into, status=403, match="/orders")
        d.server.faults.echo_auth_next(50, into, match="/tickets/find")
    return arrange


@dataclass(frozen=True)
class Mode:
    """How the peers misbehave, and what must come of it: the task that fails, and the error type it
    leaves in XCom (the ``error`` row ``record_run`` turns into the run record)."""

    arrange: Callable[[Drill], None] | None
    failed_task: str | None = None
    error_type: str | None = None
    #: The fault the sandbox's request log must show it served (the drill really happened).
    fault: str | None = None
    datasets: tuple[str, ...] = ("orders",)
    since_hours: int | None = None


MODES: dict[str, Mode] = {
    # A clean history load first: staging and facts hold the orders (hashed), for every later scan.
    "success": Mode(None, since_hours=HISTORY),
    "403": Mode(_faults("fail_next", status=403), "loads.load_orders", "QticketsAuthError", "fail"),
    "500": Mode(_faults("fail_next", status=500), "loads.load_orders", "QticketsTransientError", "fail"),
    "503 storm": Mode(_faults("fail_next", status=503), "loads.load_orders", "QticketsTransientError", "fail"),
    "timeout": Mode(_timeout, "loads.load_orders", "QticketsTransientError"),
    "html 200": Mode(_faults("html_next", status=200), "loads.load_orders", "QticketsUndecodableBodyError", "html"),
    "truncated body": Mode(_faults("truncate_next"), "loads.load_orders", "QticketsUndecodableBodyError", "truncate",
                           since_hours=HISTORY),
    "envelope error": Mode(_buyer_on_the_page, "loads.load_orders", "QticketsResponseError", "bad_paging"),
    "token echoed in X-Request-ID": Mode(_faults("echo_auth_next", into="header", status=503), "loads.load_orders",
                                         "QticketsTransientError", "echo_auth"),
    "token echoed JSON-escaped": Mode(_echo_partners_and_orders("json"), "loads.load_orders", "QticketsAuthError",
                                      "echo_auth", datasets=("orders", "partner_tickets")),
    "token echoed URL-encoded": Mode(_faults("echo_auth_next", into="urlencoded", status=401), "loads.load_orders",
                                     "QticketsAuthError", "echo_auth"),
    "token with a newline": Mode(_newline_token, "loads.load_orders", "QticketsConfigError"),
    "clickhouse refuses the password": Mode(_clickhouse_refuses, "bootstrap_schema", "ClickHouseConfigError"),
}
# Run elsewhere: HTTP 401 by test_the_scanner_finds_every_planted_needle, the token echoed base64 (and
# alert channels that refuse) by test_alert_channels_that_refuse_and_echo_their_secrets_leak_nothing.


def _xcom_error(run, task_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(select(XComModel).where(
            XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.task_id == task_id,
            XComModel.key == "error")).one()
        return XComModel.deserialize_value(row)


def _run(drill_dag, d: Drill, mode: Mode):
    if mode.arrange is not None:
        mode.arrange(d)
    try:
        return drill_dag(mode.datasets).test(logical_date=None, run_conf=conf(datasets=list(mode.datasets),
                                                                             since_hours=mode.since_hours))
    finally:
        d.server.faults.clear()
        # Read now: the faults would answer these reads too, and a mode may have added orders.
        d.needles = all_needles(d.server)


def _assert_clean(run, d: Drill, caplog, capfd) -> Sinks:
    sinks = collect_sinks(run, caplog=caplog, capfd=capfd, alerts=[d.telegram, d.slack],
                          scan_conn_id=d.scan_conn_id)
    hits = sinks.hits(d.needles)
    assert hits == [], hits
    return sinks


@pytest.mark.parametrize("name", list(MODES))
def test_no_secret_and_no_personal_data_reaches_any_sink(name, drill_dag, drill, caplog, capfd):
    mode = MODES[name]
    run = _run(drill_dag, drill, mode)

    states = _states(run)
    if mode.failed_task is None:
        assert str(run.state) == "success", states
    else:
        assert str(run.state) == "failed" and states[mode.failed_task] == "failed", states
        assert _xcom_error(run, mode.failed_task)["error_type"] == mode.error_type
        for task_id in (t for t, state in states.items() if state == "failed" and t != "record_run"):
            error = _xcom_error(run, task_id)
            assert error["request_id"] is None, error  # the sandbox sends no id; an echoed token is no id
            if name.startswith("token echoed") and "X-Request-ID" not in name:
                assert "***" in json.dumps(error), error  # there was something to redact, and it was
        if mode.fault is not None:
            assert any(r.fault == mode.fault for r in drill.server.requests), mode.fault
        # The failure was reported: a message reached the alert fakes (and they are scanned below).
        assert drill.telegram.messages and drill.slack.messages
    sinks = _assert_clean(run, drill, caplog, capfd)
    if mode.failed_task is not None and mode.failed_task != "bootstrap_schema":
        # record_run wrote the failure (the run record is one of the scanned rows).
        assert any(run.run_id in text for text in sinks.texts.get("table meta_job_runs", [])), name


@pytest.mark.parametrize("drill", ["refuse_alerts"], indirect=True)
def test_alert_channels_that_refuse_and_echo_their_secrets_leak_nothing(drill_dag, drill, caplog, capfd):
    """The vendor echoes the token base64-encoded (401); then both alert channels refuse the message,
    Telegram quoting its request path (the bot token), Slack its webhook path."""
    run = _run(drill_dag, drill, Mode(_faults("echo_auth_next", into="base64", status=401)))

    assert str(run.state) == "failed", _states(run)
    error = _xcom_error(run, "loads.load_orders")
    assert error["error_type"] == "QticketsAuthError" and "***" in error["body_preview"], error
    assert drill.telegram.messages and drill.slack.messages  # both were tried, and both refused
    warnings = [r.getMessage() for r in caplog.records if "Alert channel" in r.getMessage()]
    assert any("telegram failed" in w for w in warnings) and any("slack failed" in w for w in warnings), warnings
    _assert_clean(run, drill, caplog, capfd)


def test_the_scanner_finds_every_planted_needle(drill_dag, drill, caplog, capfd):
    """After a real failing run (HTTP 401, alert fakes answering) the scan is clean; then every needle is
    planted in every sink and the scan finds each of them there."""
    run = _run(drill_dag, drill, Mode(_faults("fail_next", status=401)))
    assert str(run.state) == "failed", _states(run)
    assert _xcom_error(run, "loads.load_orders")["error_type"] == "QticketsAuthError"
    _assert_clean(run, drill, caplog, capfd)

    needles = drill.needles
    planted = list(needles.values())
    # Task log: a record with the needles in its message, and one in the traceback of an exception.
    logging.getLogger("drill.plant").warning("planted %s", "\n".join(planted))
    try:
        raise RuntimeError("\n".join(planted))
    except RuntimeError:
        logging.getLogger("drill.plant").exception("planted in a traceback")
    print("\n".join(planted))  # the console
    # XCom of the run.
    from airflow.models.xcom import XComModel

    XComModel.set(key="planted", value=planted, task_id="record_run", dag_id=run.dag_id, run_id=run.run_id)
    # Warehouse: a meta_job_runs row (every text column), and a table of its own (the scan reads every table).
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.warehouse.runs import RUN_COLUMNS

    with ClickHouseHook(clickhouse_conn_id=drill.scan_conn_id) as ch:
        row = ("drill", f"planted-{uuid.uuid4().hex}", "d", "manual", 0, 0, "failed", 0, "\n".join(planted),
               None, None, None, "\n".join(planted), "\n".join(planted), "\n".join(planted), [], 1)
        ch.insert("meta_job_runs", RUN_COLUMNS, [row])
        ch.execute("CREATE TABLE IF NOT EXISTS {{ db }}.drill_planted (s String) ENGINE = MergeTree ORDER BY tuple()")
        ch.insert("drill_planted", ["s"], [(value,) for value in planted])
    # The alert payloads.
    requests.post(drill.slack.url, json={"text": "\n".join(planted)}, timeout=5)

    sinks = collect_sinks(run, caplog=caplog, capfd=capfd, alerts=[drill.telegram, drill.slack],
                          scan_conn_id=drill.scan_conn_id)
    found = set(sinks.hits(needles))
    for sink in ("task log (records)", "task log (console)", "xcom", "table meta_job_runs", "table drill_planted",
                 "alert payloads"):
        missed = [label for label in needles if (sink, label) not in found]
        assert missed == [], (sink, missed)
    with ClickHouseHook(clickhouse_conn_id=drill.scan_conn_id) as ch:
        ch.execute("DROP TABLE {{ db }}.drill_planted")
        ch.execute("ALTER TABLE {{ db }}.meta_job_runs DELETE WHERE job = 'drill' SETTINGS mutations_sync = 2")
