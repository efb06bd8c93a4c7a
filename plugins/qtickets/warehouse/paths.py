"""Where the SQL files live.

The repository keeps them in ``include/sql`` at the project root (an Airflow/Astro layout: the folder
ships next to ``dags/`` and ``plugins/``). ``QTICKETS_SQL_DIR`` overrides it for other deployments.
"""

from __future__ import annotations

import os
from pathlib import Path

SQL_DIR = Path(os.environ.get("QTICKETS_SQL_DIR") or Path(__file__).resolve().parents[3] / "include" / "sql")
SCHEMA_DIR = SQL_DIR / "schema"
FACTS_DIR = SQL_DIR / "facts"
CHECKS_DIR = SQL_DIR / "checks"
QUERIES_DIR = SQL_DIR / "queries"
