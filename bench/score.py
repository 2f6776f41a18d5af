"""Batch scoring of a large file: ``hitpred score`` rows/s and the scoring process's peak memory.

    python -m bench.score [--rows 1000000] [--rows 100000 ...] [--chunk-rows 50000]

1. Writes a training file of ``--train-rows`` synthetic releases (release-event columns and a
   ``hit`` target, from :func:`hitpred.baseline.synthetic_catalog`) into a temporary folder and
   trains a small hit model into a temporary registry with ``hitpred train`` (XGBoost, two
   folds): the champion ``hitpred score`` will use.
2. Per ``--rows``: writes that many synthetic releases (no targets: new releases to score) to a
   CSV, block by block so this process never holds the file, and runs ``hitpred score hit``
   on it in a subprocess.
3. Reports the scoring process's own figures: wall time (interpreter start to exit), rows/s,
   peak RSS (``ru_maxrss`` from ``wait4`` on that process alone), the input and output file
   sizes, and the time and rate ``hitpred score`` prints for its read-score-write loop
   (model loading and imports excluded). Several ``--rows`` show that memory stays flat while
   the file grows.

Prints one JSON object, then one summary line per run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import pandas as pd

from hitpred.baseline import synthetic_catalog
from hitpred.schemas import DESCRIPTOR_FIELDS

__all__ = ["main"]

#: Rows generated per block when writing a file (bounds this process's memory).
BLOCK_ROWS = 100_000
_LOOP = re.compile(r"([\d,]+) rows in ([\d.]+) s \(([\d,]+) rows/s")


def write_releases(path: Path, rows: int, *, seed: int, with_target: bool = False) -> None:
    """``rows`` synthetic releases as a generic release-event CSV, written block by block."""
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        while written < rows:
            n = min(BLOCK_ROWS, rows - written)
            catalog = synthetic_catalog(n, seed=seed + written)
            block = pd.DataFrame(
                {
                    "track_id": [f"bench-{written + i}" for i in range(n)],
                    "title": catalog["title"],
                    "artists": catalog["artists"],
                    "release_date": [d.isoformat() for d in catalog["release_date"]],
                    "genres": catalog["genre"],
                    **{name: catalog[name] for name in DESCRIPTOR_FIELDS},
                }
            )
            if with_target:
                block["hit"] = catalog["is_hit"]
            block.to_csv(handle, index=False, header=written == 0)
            written += n


def _hitpred() -> list[str]:
    """The ``hitpred`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("hitpred")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from hitpred.cli import main; main()"]


def _run_measured(command: list[str], log: Path) -> tuple[float, float, str]:
    """Run ``command``; (wall seconds, peak RSS MB of that process alone, its stderr)."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8")
    if process.returncode != 0:
        raise click.ClickException(
            f"{shlex.join(command)} exited with {process.returncode}:\n{text.strip()}"
        )
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes vs KiB
    return seconds, usage.ru_maxrss / scale, text


def _train(folder: Path, registry: Path, rows: int) -> dict[str, Any]:
    data = folder / "train.csv"
    write_releases(data, rows, seed=7, with_target=True)
    command = [
        *_hitpred(),
        "train",
        "hit",
        "--data",
        str(data),
        "--registry",
        str(registry),
        "--models",
        "xgboost",
        "--folds",
        "2",
        "--report-dir",
        str(folder / "reports"),
    ]
    seconds, _, _ = _run_measured(command, folder / "train.log")
    champion = json.loads((registry / "hit" / "champion.json").read_text())["version"]
    manifest = json.loads((registry / "hit" / champion / "manifest.json").read_text())
    return {
        "name": manifest["name"],
        "version": champion,
        "feature_set": manifest["feature_set"],
        "features": len(manifest["features"]),
        "train_rows": rows,
        "train_seconds": round(seconds, 1),
    }


def _score_run(folder: Path, registry: Path, rows: int, chunk_rows: int) -> dict[str, Any]:
    data = folder / f"releases-{rows}.csv"
    out = folder / f"scores-{rows}.csv"
    started = time.perf_counter()
    write_releases(data, rows, seed=1000)
    generate_seconds = time.perf_counter() - started
    command = [
        *_hitpred(),
        "score",
        "hit",
        "--data",
        str(data),
        "--out",
        str(out),
        "--registry",
        str(registry),
        "--chunk-rows",
        str(chunk_rows),
    ]
    seconds, peak_mb, log = _run_measured(command, folder / f"score-{rows}.log")
    loop = _LOOP.search(log)
    if loop is None or int(loop[1].replace(",", "")) != rows:
        raise click.ClickException(f"unexpected hitpred score output:\n{log.strip()}")
    result = {
        "rows": rows,
        "chunk_rows": chunk_rows,
        "input_mb": round(data.stat().st_size / 1e6, 1),
        "output_mb": round(out.stat().st_size / 1e6, 1),
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "loop_seconds": float(loop[2]),
        "loop_rows_per_s": int(loop[3].replace(",", "")),
        "peak_rss_mb": round(peak_mb, 1),
        "generate_seconds": round(generate_seconds, 1),
        "command": shlex.join(["hitpred", *command[len(_hitpred()) :]]),  # as a user would type it
    }
    data.unlink()
    out.unlink()
    return result


def _summary(run: dict[str, Any]) -> str:
    return (
        f"hitpred score: {run['rows']:,} rows in {run['seconds']:.1f} s "
        f"({run['rows_per_s']:,} rows/s; read-score-write loop {run['loop_seconds']:.1f} s, "
        f"{run['loop_rows_per_s']:,} rows/s), peak RSS {run['peak_rss_mb']:,.0f} MB "
        f"for a {run['input_mb']:,.0f} MB input file, chunks of {run['chunk_rows']:,} rows "
        f"| {run['command']}"
    )


@click.command()
@click.option(
    "--rows",
    "rows",
    multiple=True,
    type=click.IntRange(min=1),
    default=(1_000_000,),
    show_default=True,
    help="Rows of the file to score (repeat to compare sizes).",
)
@click.option("--chunk-rows", default=50_000, show_default=True, type=click.IntRange(min=1))
@click.option("--train-rows", default=5_000, show_default=True, type=click.IntRange(min=100))
def main(rows: tuple[int, ...], chunk_rows: int, train_rows: int) -> None:
    """Score synthetic release files with `hitpred score` and report rows/s and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        folder = Path(tmp)
        registry = folder / "registry"
        model = _train(folder, registry, train_rows)
        runs = [_score_run(folder, registry, n, chunk_rows) for n in rows]
    report = {
        "benchmark": "hitpred score (batch scoring, chunked)",
        "model": model,
        "runs": runs,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    click.echo(json.dumps(report, indent=2))
    for run in runs:
        click.echo(_summary(run))


if __name__ == "__main__":
    main()
