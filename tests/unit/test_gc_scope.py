"""The collector settings of a load are scoped: frozen objects and the young threshold are restored."""

from __future__ import annotations

import gc

import pytest

from qtickets import gc_scope


def test_bulk_load_freezes_raises_the_threshold_and_restores_both():
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with gc_scope.bulk_load():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(before[0], gc_scope.YOUNG_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.isenabled()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_restored_after_an_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="page failed"), gc_scope.bulk_load():
        raise RuntimeError("page failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_objects_someone_else_froze_stay_frozen():
    gc.freeze()  # as Airflow's executors do before they fork a worker
    try:
        frozen = gc.get_freeze_count()
        with gc_scope.bulk_load():
            pass
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()
