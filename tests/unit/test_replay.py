"""Replay of saved responses (``fixtures_dir``) at the hooks' network seam: only inside the deployment's
root, only complete, and through the same window check as live reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qtickets.apis import Apis, open_apis
from qtickets.datasets import DATASETS, Window
from qtickets.exceptions import QticketsConfigError, QticketsFilterIgnoredError
from qtickets.hooks.qtickets import QticketsHook
from qtickets.params import RunParams
from qtickets.replay import FIXTURE_FILES, FIXTURES_ROOT_ENV, Replay, fixtures_root

WINDOW = Window(datetime(2025, 11, 7, 9, 0, tzinfo=UTC), datetime(2025, 11, 7, 12, 0, tzinfo=UTC))


def _order(order_id: int, updated_at: str) -> dict:
    return {"id": order_id, "updated_at": updated_at, "baskets": []}


def _write(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path


def _rest(replay: Replay) -> QticketsHook:
    """The REST hook answering from ``replay`` (no connection needed)."""
    return QticketsHook(replay=replay)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A replay root holding one replay folder, ``capture``, with orders inside the window."""
    base = tmp_path / "root"
    _write(base / "capture" / "orders.json", {"data": [_order(1, "2025-11-07T12:30:00+03:00")]})
    return base


def test_root_comes_from_the_airflow_option(monkeypatch, tmp_path):
    monkeypatch.delenv(FIXTURES_ROOT_ENV, raising=False)
    assert fixtures_root() is None
    monkeypatch.setenv(FIXTURES_ROOT_ENV, "  ")
    assert fixtures_root() is None
    monkeypatch.setenv(FIXTURES_ROOT_ENV, str(tmp_path))
    assert fixtures_root() == tmp_path


def test_a_folder_inside_the_root_replays(root):
    source = Replay("capture", root=root)
    assert source.folder == (root / "capture").resolve()
    assert list(_rest(source).iter_pages("orders", window=WINDOW)) == [
        [_order(1, "2025-11-07T12:30:00+03:00")]]
    # an absolute path inside the root is the same folder
    assert Replay(str(root / "capture"), root=root).folder == source.folder


def test_no_root_means_replay_is_disabled(root):
    with pytest.raises(QticketsConfigError) as err:
        Replay("capture", root=None)
    assert "replay is disabled" in str(err.value) and FIXTURES_ROOT_ENV in str(err.value)
    assert "[qtickets] fixtures_root" in str(err.value)


@pytest.mark.parametrize("fixtures_dir", ["..", "../..", "capture/../..", "../root2/capture"])
def test_traversal_out_of_the_root_is_refused(root, fixtures_dir):
    _write(root.parent / "root2" / "capture" / "orders.json", {"data": []})
    with pytest.raises(QticketsConfigError, match="outside the replay root"):
        Replay(fixtures_dir, root=root)


def test_absolute_path_outside_the_root_is_refused(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    _write(elsewhere / "orders.json", {"data": []})
    for fixtures_dir in (str(elsewhere), "/tmp", "/"):
        with pytest.raises(QticketsConfigError, match="outside the replay root"):
            Replay(fixtures_dir, root=root)


def test_a_symlinked_folder_out_of_the_root_is_refused(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    _write(elsewhere / "orders.json", {"data": [_order(9, "2025-11-07T12:30:00+03:00")]})
    (root / "link").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(QticketsConfigError, match="outside the replay root"):
        Replay("link", root=root)


def test_a_symlinked_file_out_of_the_root_is_refused(root, tmp_path):
    secret = _write(tmp_path / "elsewhere" / "events.json", {"data": [{"id": 1}]})
    (root / "capture" / "events.json").symlink_to(secret)
    (root / "capture" / "shows" / "7").mkdir(parents=True)
    (root / "capture" / "shows" / "7" / "seats.json").symlink_to(secret)
    hook = _rest(Replay("capture", root=root))
    with pytest.raises(QticketsConfigError, match="outside the replay root"):
        list(hook.iter_pages("events"))
    with pytest.raises(QticketsConfigError, match="outside the replay root"):
        hook.get_show_seats(7)


def test_a_symlink_within_the_root_is_fine(root):
    (root / "alias").symlink_to(root / "capture", target_is_directory=True)
    assert Replay("alias", root=root).folder == (root / "capture").resolve()


def test_a_root_that_is_not_a_folder_is_a_config_error(tmp_path):
    with pytest.raises(QticketsConfigError, match="not a folder"):
        Replay("capture", root=tmp_path / "missing")


def test_a_missing_folder_inside_the_root_names_it(root):
    with pytest.raises(QticketsConfigError, match="fixtures_dir .*nope.* is not a folder"):
        Replay("nope", root=root)


def test_replayed_order_outside_the_window_fails_like_a_live_one(root):
    _write(root / "capture" / "orders" / "page-1.json", {"data": [_order(1, "2025-11-07T12:30:00+03:00")]})
    _write(root / "capture" / "orders" / "page-2.json", {"data": [_order(2, "2025-11-07T15:00:00+03:00")]})
    (root / "capture" / "orders.json").unlink()
    pages = _rest(Replay("capture", root=root)).iter_pages("orders", window=WINDOW)
    with pytest.raises(QticketsFilterIgnoredError) as err:
        next(pages)  # page 1 is fine, but nothing is yielded before every page passed
    message = str(err.value)
    assert "id=2" in message and "2025-11-07T15:00:00+03:00" in message and "window" in message
    assert "since_hours" in message and "filter_transport" not in message


def test_replayed_order_without_updated_at_fails(root):
    _write(root / "capture" / "orders.json", {"data": [{"id": 3, "baskets": []}]})
    apis = Apis(rest=_rest(Replay("capture", root=root)))
    with pytest.raises(QticketsFilterIgnoredError, match="id=3"):
        list(DATASETS["orders"].fetch(apis, WINDOW))


def test_snapshot_endpoints_have_no_window_check(root):
    _write(root / "capture" / "events.json", {"data": [{"id": 1, "updated_at": "2020-01-01T00:00:00+03:00"}]})
    assert list(DATASETS["events"].fetch(Apis(rest=_rest(Replay("capture", root=root))), WINDOW)) == [
        [{"id": 1, "updated_at": "2020-01-01T00:00:00+03:00"}]]


def test_a_missing_response_fails_naming_the_files(root):
    hook = _rest(Replay("capture", root=root))
    with pytest.raises(QticketsConfigError) as err:
        list(hook.iter_pages("events"))
    assert "events.json" in str(err.value) and "events/page-*.json" in str(err.value)
    with pytest.raises(QticketsConfigError, match="shows/7/seats.json"):
        hook.get_show_seats(7)


def test_files_for_each_dataset(root):
    source = Replay("capture", root=root)
    assert set(FIXTURE_FILES) == set(DATASETS)
    assert [p.name for p in source.files_for("orders")] == ["orders.json"]
    assert source.files_for("events") == [] and source.files_for("inventory") == []
    _write(root / "capture" / "shows" / "7" / "seats.json", {"data": {}})
    assert [p.parent.name for p in source.files_for("inventory")] == ["7"]
    assert "shows/*/barcodes.json" in source.looked_for("barcodes")


# -- the pipeline's choice: load, skip, or fail --------------------------------------------------


@pytest.fixture
def replay_root(root, monkeypatch) -> Path:
    monkeypatch.setenv(FIXTURES_ROOT_ENV, str(root))
    return root


def test_replay_without_a_configured_root_fails_the_load(monkeypatch):
    monkeypatch.delenv(FIXTURES_ROOT_ENV, raising=False)
    with pytest.raises(QticketsConfigError, match="replay is disabled"):
        open_apis(DATASETS["orders"], RunParams(fixtures_dir="capture"), ch=None)


def test_unnamed_datasets_without_files_are_skipped_with_the_reason(replay_root):
    params = RunParams(fixtures_dir="capture")
    source, why_not = open_apis(DATASETS["orders"], params, ch=None)
    assert isinstance(source, Apis) and source.rest.replay is not None and why_not is None
    source, why_not = open_apis(DATASETS["events"], params, ch=None)
    assert source is None
    assert "no saved response for events" in why_not and "events.json" in why_not


def test_a_named_dataset_without_files_fails_naming_them(replay_root):
    params = RunParams(datasets=("orders", "inventory"), fixtures_dir="capture")
    assert open_apis(DATASETS["orders"], params, ch=None)[0] is not None
    with pytest.raises(QticketsConfigError) as err:
        open_apis(DATASETS["inventory"], params, ch=None)
    assert "shows/*/seats.json" in str(err.value) and "'datasets'" in str(err.value)


def test_traversal_through_the_dag_param_is_refused(replay_root):
    with pytest.raises(QticketsConfigError, match="outside the replay root"):
        open_apis(DATASETS["orders"], RunParams(fixtures_dir="../.."), ch=None)
