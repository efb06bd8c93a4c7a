"""Row mappers: one module per dataset, pure functions from vendor records to staging-table tuples.

Each module has ``COLUMNS: dict[table, tuple[column, ...]]`` and ``map_<dataset>(records, ctx)``
returning ``{table: [tuple, ...]}`` in that column order (epoch ints for DateTime, str for money,
int ids, ``_ver`` from :func:`qtickets.timeutil.make_ver`, personal data per :mod:`qtickets.pii`).
"""

from __future__ import annotations
