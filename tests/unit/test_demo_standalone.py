"""`make airflow` (scripts/demo.py standalone): a quiet terminal that ends with how to log in."""

from __future__ import annotations

import importlib.util
import io

from tests.conftest import ROOT


def _demo():
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_access_log_is_left_out_but_server_errors_and_the_rest_are_kept():
    demo = _demo()
    lines = [
        "api-server | 2026-11-30T16:38:36Z [info ] request finished [http.access] client_addr=127.0.0.1:1 "
        "method=GET path=/dags/qtickets_api query= status_code=200\n",
        "api-server | 2026-11-30T16:38:37Z [info ] request finished [http.access] method=GET path=/x status_code=500\n",
        "scheduler  | 2026-11-30T16:38:38Z [info ] Starting the scheduler\n",
    ]
    out = io.StringIO()
    demo._relay(io.StringIO("".join(lines)), out)
    assert out.getvalue() == lines[1] + lines[2]


def test_the_banner_names_the_login_the_env_connections_and_the_unpause_trap():
    demo = _demo()
    banner = demo.LOGIN_BANNER.format(url=demo.UI_URL, passwords=demo.PASSWORDS)
    assert 'user "admin"' in banner and "simple_auth_manager_passwords.json.generated" in banner
    assert "AIRFLOW_CONN_" in banner and "looks empty" in banner
    assert "Unpause qtickets_api on trigger" in banner and "15-minute schedule" in banner
    assert "Ctrl-C stops every Airflow component and the sandbox" in banner
