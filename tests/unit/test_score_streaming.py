"""`hitpred score` reads, scores and writes in chunks: same CSV as scoring the whole file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from hitpred.cli import main
from hitpred.cli.score import prediction_frame
from hitpred.datasets import LOADERS, DatasetLoader, iter_dataset, load_dataset
from hitpred.datasets import generic as generic_format
from hitpred.models.base import Task, TaskModel
from hitpred.registry import RegistryStore
from tests.unit.models.factories import fitted

N_ROWS = 53


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose hit champion is a small fitted pipeline (release features)."""
    root = tmp_path_factory.mktemp("registry")
    model, _ = fitted(Task.HIT, "logistic-regression", n=150)
    store = RegistryStore(root)
    info = store.register(model, metrics={}, evaluation={}, data={})
    store.promote(Task.HIT, info.version)
    return root


def _releases(n: int, seed: int = 3) -> pd.DataFrame:
    """Release-event rows with some dirt: missing cells, note-name keys, a bad tempo."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "track_id": [f"t{i}" for i in range(n)],
            "title": [f"song {i} {'love' if i % 3 else 'night'}" for i in range(n)],
            "artists": [
                f"artist {i % 7}; guest {i % 5}" if i % 4 else f"artist {i}" for i in range(n)
            ],
            "release_date": [f"{1990 + i % 30}-05-01" for i in range(n)],
            "genres": ["pop; dance" if i % 2 else "rock" for i in range(n)],
            "danceability": rng.uniform(0, 1, n).round(3),
            "energy": rng.uniform(0, 1, n).round(3),
            "key": ["C#" if i % 5 == 0 else str(i % 12) for i in range(n)],
            "tempo": rng.uniform(60, 180, n).round(2).astype(object),
            "loudness": rng.uniform(-20, -2, n).round(2),
            "extra": "ignored",
        }
    )
    frame.loc[5, "danceability"] = np.nan
    frame.loc[11, "tempo"] = "?"
    frame.loc[17, "artists"] = None
    frame.loc[1, "title"] = "Café Beyoncé"
    return frame


def _score(data: Path, out: Path, registry: Path, *extra: str) -> Result:
    args = ["score", "hit", "--data", str(data), "--out", str(out), "--registry", str(registry)]
    return CliRunner().invoke(main, [*args, *extra])


def _whole_file_csv(model: TaskModel, data: Path) -> str:
    """What `hitpred score` wrote before it streamed: load whole, predict, one CSV."""
    dataset = load_dataset(data)
    frame = dataset.frame
    ids = [c for c in dataset.id_columns if c in frame.columns]
    result = pd.concat(
        [
            pd.DataFrame({"row": np.arange(len(frame))}),
            frame[ids].reset_index(drop=True),
            prediction_frame(model.predict(frame)),
        ],
        axis=1,
    )
    buffer = io.StringIO()
    result.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".csv.gz", ".parquet"])
def test_chunked_output_equals_whole_file_output(
    tmp_path: Path, registry: Path, suffix: str
) -> None:
    data = tmp_path / f"releases{suffix}"
    frame = _releases(N_ROWS)
    if suffix == ".parquet":
        frame.astype({"tempo": str}).to_parquet(data)
    else:
        frame.to_csv(data, index=False, sep="\t" if suffix == ".tsv" else ",")
    expected = _whole_file_csv(RegistryStore(registry).load(Task.HIT), data)
    for chunk_rows in ("7", "53", "1000"):
        out = tmp_path / f"scores-{chunk_rows}.csv"
        result = _score(data, out, registry, "--chunk-rows", chunk_rows)
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8") == expected
    assert f"scored {N_ROWS:,} rows of releases" in result.output
    assert "rows/s" in result.output and "peak RSS" in result.output


def test_header_once_and_rows_continuous_across_chunks(tmp_path: Path, registry: Path) -> None:
    data = tmp_path / "releases.csv"
    _releases(N_ROWS).to_csv(data, index=False)
    out = tmp_path / "scores.csv"
    result = _score(data, out, registry, "--chunk-rows", "10")
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("row,") for line in lines) == 1
    scores = pd.read_csv(out)
    assert scores["row"].tolist() == list(range(N_ROWS))
    assert scores["track_id"].tolist() == [f"t{i}" for i in range(N_ROWS)]
    assert list(scores.columns[:5]) == ["row", "track_id", "title", "artists", "hit_probability"]
    assert scores["hit_probability"].between(0, 1).all()
    assert "6 chunks of up to 10" in result.output


def test_chunks_number_rows_and_tell_file_notes_once(tmp_path: Path) -> None:
    data = tmp_path / "releases.csv"
    _releases(N_ROWS).to_csv(data, index=False, encoding="cp1252")
    chunks = list(iter_dataset(data, 20))
    assert [c.first_row for c in chunks] == [0, 20, 40]
    assert [len(c.frame) for c in chunks] == [20, 20, 13]
    assert "group" not in chunks[0].frame.columns  # grouping needs every row
    assert any("not UTF-8" in note for note in chunks[0].notes)
    assert not any("not UTF-8" in note for note in chunks[1].notes)
    assert any("'tempo'" in n and "line 13" in n for n in chunks[0].notes)  # file line numbers


def test_a_bad_row_in_a_later_chunk_is_one_line_and_leaves_no_file(
    tmp_path: Path, registry: Path
) -> None:
    data = tmp_path / "broken.csv"
    text = _releases(30).drop(columns=["extra"]).to_csv(index=False)
    lines = text.splitlines()
    lines[26] += ",surplus"  # data row 25, line 27: well after the first chunk
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = _score(data, out, registry, "--chunk-rows", "5")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.output.strip().splitlines()
    assert message[-1].startswith("Error: ") and "broken.csv: cannot parse" in message[-1]
    assert "line 27" in message[-1] and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_a_bad_target_names_the_file_line(tmp_path: Path, registry: Path) -> None:
    data = tmp_path / "labelled.csv"
    frame = _releases(20).assign(hit=["1", "0"] * 5 + ["maybe"] + ["1"] * 9)
    frame.to_csv(data, index=False)
    result = _score(data, tmp_path / "o.csv", registry, "--chunk-rows", "4")
    assert result.exit_code == 1
    assert "labelled.csv: line 12, column 'hit'" in result.output
    assert "Traceback" not in result.output


def test_header_only_file_gives_a_header_only_csv(tmp_path: Path, registry: Path) -> None:
    data = tmp_path / "none.csv"
    data.write_text("track_id,title,artists,energy\n", encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = _score(data, out, registry)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == _whole_file_csv(
        RegistryStore(registry).load(Task.HIT), data
    )
    assert out.read_text(encoding="utf-8").splitlines() == [
        "row,track_id,title,artists,hit_probability,hit"
    ]
    assert "scored 0 rows" in result.output


def test_empty_file_is_a_one_line_error(tmp_path: Path, registry: Path) -> None:
    data = tmp_path / "empty.csv"
    data.write_bytes(b"")
    result = _score(data, tmp_path / "o.csv", registry)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {data}: the file is empty"


def test_a_format_that_cannot_stream_is_loaded_whole_with_the_same_output(
    tmp_path: Path, registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = DatasetLoader(
        name="whole-only",
        tasks=(Task.HIT,),
        description="a format that needs every row at once",
        detect=lambda path: path.name.endswith(".whole.csv"),
        load=generic_format.load,
    )
    monkeypatch.setitem(LOADERS, whole.name, whole)
    streamed, loaded = tmp_path / "releases.csv", tmp_path / "releases.whole.csv"
    _releases(N_ROWS).to_csv(streamed, index=False)
    _releases(N_ROWS).to_csv(loaded, index=False)
    outputs = []
    for data in (streamed, loaded):
        out = tmp_path / f"{data.name}.scores.csv"
        result = _score(data, out, registry, "--chunk-rows", "9")
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    assert "whole-only data sets cannot be read in chunks" in result.output
    assert [c.first_row for c in iter_dataset(loaded, 20)] == [0, 20, 40]


def test_spotify_folder_streams_file_by_file(tmp_path: Path, registry: Path) -> None:
    from tests.unit.training.test_round_trip import _spotify_files

    data = _spotify_files(tmp_path / "spotify", n=40)
    expected = _whole_file_csv(RegistryStore(registry).load(Task.HIT), data)
    out = tmp_path / "scores.csv"
    result = _score(data, out, registry, "--chunk-rows", "6")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == expected
    assert "cannot be read in chunks" not in result.output
