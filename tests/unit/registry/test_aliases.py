"""Aliases, their history and rollback in the folder registry; the CLI's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hitpred.cli import main as cli
from hitpred.errors import RegistryError
from hitpred.models.base import Task
from hitpred.registry import RegistryStore
from hitpred.registry.live import served_state
from hitpred.settings import Settings, get_settings
from tests.unit.models.factories import fitted


@pytest.fixture(scope="module")
def models():  # type: ignore[no-untyped-def]
    release, _ = fitted(Task.HIT, "logistic-regression", n=120)
    offline, _ = fitted(Task.HIT, "logistic-regression", n=120, feature_set="all")
    return release, offline


def _store(path: Path, models, count: int = 3) -> RegistryStore:  # type: ignore[no-untyped-def]
    store = RegistryStore(path)
    for _ in range(count):
        store.register(models[0], metrics={}, evaluation={}, data={})
    return store


def test_history_records_every_change_and_rollback_returns(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, models)
    assert store.previous_champion(Task.HIT) is None
    store.promote(Task.HIT, "1", reason="first", who="a@h")
    store.promote(Task.HIT, "2", reason="better", who="b@h")
    entry = store.promote(Task.HIT, "3", alias="challenger", reason="try it")
    assert (entry["from"], entry["to"], entry["alias"]) == (None, "3", "challenger")
    assert store.champion(Task.HIT) == "2" and store.challenger(Task.HIT) == "3"
    assert store.previous_champion(Task.HIT) == "1"
    history = store.history(Task.HIT)
    assert [(h["alias"], h["from"], h["to"]) for h in history] == [
        ("champion", None, "1"),
        ("champion", "1", "2"),
        ("challenger", None, "3"),
    ]
    assert history[1]["who"] == "b@h" and history[1]["reason"] == "better"
    store.promote(Task.HIT, "1", reason="rollback")
    assert store.champion(Task.HIT) == "1"
    assert store.previous_champion(Task.HIT) == "2"  # a second rollback undoes the first
    assert store.clear_challenger(Task.HIT) is not None and store.challenger(Task.HIT) is None
    with pytest.raises(RegistryError, match="unknown alias"):
        store.promote(Task.HIT, "1", alias="canary")
    with pytest.raises(RegistryError, match="no version"):
        store.promote(Task.HIT, "9")


def test_served_state_names_every_pointer(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, models, count=2)
    settings = Settings(registry_uri=str(tmp_path))
    assert served_state(settings) == {}
    store.promote(Task.HIT, "1")
    assert served_state(settings) == {"hit": {"release": "1"}}
    store.promote(Task.HIT, "2", alias="challenger")
    assert served_state(settings) == {"hit": {"release": "1", "challenger": "2"}}


def _cli(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        env = {
            "HITPRED_REGISTRY_URI": str(tmp_path),
            # No Redis here: the announcement fails and says so; the folder is the record.
            "HITPRED_REDIS_URL": "redis://127.0.0.1:1/0",
            "COLUMNS": "200",  # rich tables at full width
        }
        return CliRunner().invoke(cli, list(args), env=env)
    finally:
        get_settings.cache_clear()


def test_cli_promote_rollback_history_and_refusals(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, models, count=2)
    store.register(models[1], metrics={}, evaluation={}, data={})  # v3 reads feature set "all"
    result = _cli(tmp_path, "models", "promote", "hit", "3")
    assert result.exit_code == 1 and "cannot supply" in result.output
    assert store.champion(Task.HIT) is None  # refused before any worker could see it
    assert _cli(tmp_path, "models", "promote", "hit", "3", "--offline").exit_code == 0
    result = _cli(tmp_path, "models", "promote", "hit", "1", "--reason", "good")
    assert result.exit_code == 0, result.output
    assert "champion is now v1 (was v3)" in result.output
    assert "next poll" in result.output  # Redis unreachable: said, not fatal
    assert _cli(tmp_path, "models", "promote", "hit", "2").exit_code == 0
    result = _cli(tmp_path, "models", "rollback", "hit")
    assert result.exit_code == 0 and "champion is now v1 (was v2)" in result.output
    result = _cli(tmp_path, "models", "history", "hit")
    assert result.exit_code == 0 and "good" in result.output and "rolled back" in result.output
    assert _cli(tmp_path, "models", "promote", "hit", "2", "--alias", "challenger").exit_code == 0
    listing = _cli(tmp_path, "models", "list", "hit").output
    cells = [line.split("│") for line in listing.splitlines() if "│" in line]
    aliases = {row[2]: row[3] for row in cells if len(row) > 3}
    assert {k.strip(): v.strip() for k, v in aliases.items()} == {
        "1": "champion",
        "2": "challenger",
        "3": "champion",  # the champion of feature set "all" (offline)
    }
    model_file = store.path(Task.HIT, "2") / "model.skops"
    model_file.write_bytes(b"tampered")
    result = _cli(tmp_path, "models", "promote", "hit", "2")
    assert result.exit_code == 1 and "model.skops" in result.output
    result = _cli(tmp_path, "models", "verify")
    assert result.exit_code == 1
    assert f"FAIL  {store.path(Task.HIT, '2')}" in result.output and "model.skops" in result.output
    assert f"ok    {store.path(Task.HIT, '1')}" in result.output


def test_a_challenger_that_cannot_load_costs_only_the_shadow(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    from streams.runtime import build_scorers

    store = _store(tmp_path / "registry", models, count=2)
    store.promote(Task.HIT, "1")
    store.promote(Task.HIT, "2", alias="challenger")
    settings = Settings(
        registry_uri=str(tmp_path / "registry"),
        redis_url="redis://127.0.0.1:1/0",
        state_dir=tmp_path / "state",
    )
    scorer, shadow = build_scorers(settings)
    assert shadow is not None and shadow.shadow
    assert [m.version for m in shadow.models[Task.HIT]] == ["2"]
    assert [m.version for m in scorer.models[Task.HIT]] == ["1"]
    (store.path(Task.HIT, "2") / "model.skops").write_bytes(b"tampered")
    scorer, shadow = build_scorers(settings)
    assert shadow is None and [m.version for m in scorer.models[Task.HIT]] == ["1"]
