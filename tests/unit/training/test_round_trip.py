"""End to end on small data: `hitpred train` registers a champion, `hitpred score` uses it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from hitpred.cli import main
from hitpred.schemas import DESCRIPTOR_FIELDS

HEADER = ["track", "artist", "uri", *DESCRIPTOR_FIELDS, "target"]


def _spotify_files(folder: Path, n: int = 320, seed: int = 1) -> Path:
    """Files in the Spotify hit predictor layout with a learnable target."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for decade, part in (("00s", 0), ("10s", 1)):
        rows = {
            "track": [f"song {part}-{i} {'love' if i % 3 else 'opus'}" for i in range(n // 2)],
            "artist": [f"artist {i % 30}" for i in range(n // 2)],
            "uri": [f"spotify:track:{part}x{i:020d}" for i in range(n // 2)],
            "danceability": rng.uniform(0, 1, n // 2),
            "energy": rng.uniform(0, 1, n // 2),
            "key": rng.integers(0, 12, n // 2),
            "loudness": rng.uniform(-20, -2, n // 2),
            "mode": rng.integers(0, 2, n // 2),
            "speechiness": rng.uniform(0, 0.5, n // 2),
            "acousticness": rng.uniform(0, 1, n // 2),
            "instrumentalness": rng.uniform(0, 1, n // 2),
            "liveness": rng.uniform(0, 1, n // 2),
            "valence": rng.uniform(0, 1, n // 2),
            "tempo": rng.uniform(60, 180, n // 2),
            "duration_ms": rng.integers(120_000, 300_000, n // 2),
            "time_signature": 4,
            "chorus_hit": rng.uniform(10, 60, n // 2),
            "sections": rng.integers(5, 15, n // 2),
        }
        logit = 5 * (rows["danceability"] - 0.5) - 3 * (rows["acousticness"] - 0.5)
        rows["target"] = (rng.uniform(0, 1, n // 2) < 1 / (1 + np.exp(-logit))).astype(int)
        pd.DataFrame(rows)[HEADER].to_csv(folder / f"dataset-of-{decade}.csv", index=False)
    return folder


@pytest.mark.slow
def test_train_register_score_round_trip(tmp_path: Path) -> None:
    data = _spotify_files(tmp_path / "spotify")
    registry = tmp_path / "registry"
    runner = CliRunner()
    args = [
        "train",
        "hit",
        "--data",
        str(data),
        "--registry",
        str(registry),
        "--models",
        "logistic-regression,xgboost",
        "--folds",
        "3",
        "--report-dir",
        str(tmp_path / "rep"),
    ]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "champion" in first.output
    manifest = json.loads((registry / "hit" / "1" / "manifest.json").read_text())
    assert manifest["feature_set"] == "release"
    assert "title" in manifest["features"]
    assert manifest["metrics"]["cv"]["roc_auc"]["std"] >= 0
    auc = manifest["metrics"]["primary"]["cv_mean"]
    assert 0.7 < auc <= 1.0  # the synthetic label is learnable
    reports = list((tmp_path / "rep").glob("hit-*/index.html"))
    assert len(reports) == 1
    page = reports[0].read_text()
    assert "Leaderboard" in page and "roc.png" in page
    assert (reports[0].parent / "calibration.png").is_file()

    # Same data, same protocol: a second run is compared and (equal score) not promoted.
    second = runner.invoke(main, [*args[:7], "logistic-regression", *args[8:]])
    assert second.exit_code == 0, second.output
    champion = json.loads((registry / "hit" / "champion.json").read_text())["version"]
    verdict = json.loads((registry / "hit" / "2" / "manifest.json").read_text())
    expected = "2" if verdict["metrics"]["primary"]["cv_mean"] > auc else "1"
    assert champion == expected

    # Another feature set competes only with its own kind: the first `core` model is its
    # champion, and the `release` champion stays what it was.
    core = runner.invoke(main, [*args[:7], "xgboost", "--features", "core", *args[8:]])
    assert core.exit_code == 0, core.output
    assert "first core model" in core.output
    champions = {
        p.stem: json.loads(p.read_text())["version"]
        for p in (registry / "hit" / "champions").glob("*.json")
    }
    assert champions == {"release": expected, "core": "3"}

    listed = runner.invoke(main, ["models", "list", "--registry", str(registry)])
    assert listed.exit_code == 0, listed.output
    assert "hit" in listed.output and "release" in listed.output
    shown = runner.invoke(main, ["models", "show", "hit", "1", "--registry", str(registry)])
    assert json.loads(shown.output)["version"] == "1"

    out = tmp_path / "scores.csv"
    scored = runner.invoke(
        main, ["score", "hit", "--data", str(data), "--out", str(out), "--registry", str(registry)]
    )
    assert scored.exit_code == 0, scored.output
    result = pd.read_csv(out)
    assert len(result) == 320
    assert result["row"].tolist() == list(range(320))
    assert {"track", "artist", "uri", "hit_probability", "hit"} <= set(result.columns)
    assert result["hit_probability"].between(0, 1).all()
    source = pd.read_csv(data / "dataset-of-00s.csv")
    assert result["uri"].iloc[:160].tolist() == source["uri"].tolist()


def test_train_refuses_a_task_without_target(tmp_path: Path) -> None:
    data = _spotify_files(tmp_path / "spotify", n=100)
    result = CliRunner().invoke(
        main, ["train", "genre", "--data", str(data), "--registry", str(tmp_path / "r")]
    )
    assert result.exit_code != 0
    assert "no target for genre" in result.output


def test_score_without_champion_says_how_to_train(tmp_path: Path) -> None:
    data = _spotify_files(tmp_path / "spotify", n=60)
    result = CliRunner().invoke(
        main,
        [
            "score",
            "hit",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "o.csv"),
            "--registry",
            str(tmp_path / "empty"),
        ],
    )
    assert result.exit_code != 0
    assert "hitpred train hit" in result.output
