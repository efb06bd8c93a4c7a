"""Hooks of the QTickets provider (REST, Partners, ClickHouse).

Importing this package asks clickhouse-driver, if it is imported later in the process, for its lazy date
table: the driver otherwise builds a dict of every day from 1900 to 2299 both ways at import (146 097 dates,
~22 MB of RSS in every task process, measured, ADR 0011), although a load converts only the days it sees.
The lazy table computes the same ``date`` for a day number and caches it; reads and writes are unchanged.
``CLICKHOUSE_DRIVER_LASY_DATE_LUT`` is the driver's own switch (spelt so); a value already set wins.
"""
from __future__ import annotations

import os

os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "2020-01-01:2020-01-01")
