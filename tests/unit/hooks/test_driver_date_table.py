"""clickhouse-driver's date table is lazy in our processes (ADR 0011: ~22 MB of RSS per task otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import qtickets.hooks.clickhouse  # noqa: F401  (the package __init__ runs first)
from datetime import date
from clickhouse_driver.columns import datecolumn as d
print("PROBE", type(d._date_lut).__name__)
lut, reverse = d.DateColumn.date_lut, d.DateColumn.date_lut_reverse  # what the column reads and writes with
print("PROBE", [reverse[x] for x in (date(1970, 1, 1), date(2026, 12, 1), date(2149, 6, 6))], [lut[n] for n in (0, 20788, 65535)])
"""


def _probe(**env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CLICKHOUSE_DRIVER_LASY_DATE_LUT"} | env
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True, env=environ)
    return [line.removeprefix("PROBE ") for line in out.stdout.splitlines() if line.startswith("PROBE ")]


def test_importing_our_hooks_makes_the_driver_build_its_date_table_lazily_with_the_same_values() -> None:
    lazy = _probe()
    eager = _probe(CLICKHOUSE_DRIVER_LASY_DATE_LUT="")  # set by the user: the driver's static table
    assert lazy[0] == "LazyLUT"
    assert eager[0] == "dict"
    # Day numbers written and dates read are the driver's own, whichever table it uses.
    assert lazy[1] == eager[1]
    assert lazy[1] == ("[0, 20788, 65535] [datetime.date(1970, 1, 1), datetime.date(2026, 12, 1), "
                       "datetime.date(2149, 6, 6)]")
