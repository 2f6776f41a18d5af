"""Audio enrichment speed: clips/s for 30 s excerpts (decode + descriptors + GTZAN features).

python -m bench.audio [--n 20] [--json]

Cases: generated 3-minute songs (wav and mp3, 44.1 kHz mono) and the real clip
(15.8 s, every format; music by Kevin MacLeod, incompetech.com, CC BY 3.0). One untimed pass
first pays the one-off costs (imports, librosa's numba compilation), reported as warm-up;
then each case is timed ``--n`` times and the median per step is shown. Single-threaded work
per clip: on a shared machine a busy neighbour core shows up directly in these figures.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import click
import orjson

from hitpred.features.audio import decode_audio, describe_audio

#: The real clip, resolved from the repository root (``../shared/audio``).
REAL_CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "audio"
REAL_STEM = "macleod_gs_16b_2c_44100hz"  # Kevin MacLeod, CC BY 3.0
STEPS = ("decode", "tempo", "key", "loudness", "gtzan")


class CaseResult(TypedDict):
    """Medians of one case."""

    runs: int
    median_s: float
    clips_per_s: float
    steps_ms: dict[str, float]


def _cases() -> dict[str, list[bytes]]:
    """Encoded files per case; two generated songs per format, cycled through the runs."""
    from tests.unit.features.audio_gen import encode, song

    songs = [song(180.0, 44100, bpm=bpm, seed=seed) for seed, bpm in enumerate((100.0, 128.0))]
    cases = {
        f"generated 3-min song ({fmt})": [encode(s, 44100, fmt) for s in songs]
        for fmt in ("wav", "mp3")
    }
    for fmt in ("wav", "flac", "ogg", "mp3"):
        path = REAL_CLIP / f"{REAL_STEM}.{fmt}"
        if path.is_file():
            cases[f"real clip 15.8 s ({fmt})"] = [path.read_bytes()]
    return cases


def _one(data: bytes) -> dict[str, float]:
    """Seconds per step for one file."""
    started = time.perf_counter()
    clip = decode_audio(data)
    decoded = time.perf_counter() - started
    description = describe_audio(clip)
    return {"decode": decoded, **description.timings_s}


def _time(blobs: list[bytes], n: int, run: Callable[[bytes], dict[str, float]]) -> CaseResult:
    runs = [run(blobs[i % len(blobs)]) for i in range(n)]
    totals = [sum(r.values()) for r in runs]
    median = statistics.median(totals)
    return {
        "runs": n,
        "median_s": median,
        "clips_per_s": 1.0 / median,
        "steps_ms": {s: statistics.median(r[s] for r in runs) * 1000 for s in STEPS},
    }


@click.command()
@click.option("--n", default=20, show_default=True, help="Timed runs per case.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def main(n: int, as_json: bool) -> None:
    """Time decode and description per step and print clips/s per case."""
    cases = _cases()
    started = time.perf_counter()
    _one(next(iter(cases.values()))[0])
    warm_up_s = time.perf_counter() - started
    results = {name: _time(blobs, n, _one) for name, blobs in cases.items()}
    command = f"python -m bench.audio --n {n}" + (" --json" if as_json else "")
    if as_json:
        document = {"command": command, "warm_up_s": warm_up_s, "cases": results}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"command: {command}")
    click.echo(f"warm-up (first clip: imports, numba compilation): {warm_up_s:.1f} s")
    for name, result in results.items():
        parts = ", ".join(f"{s} {ms:.0f}" for s, ms in result["steps_ms"].items())
        click.echo(
            f"{name:30s} {result['median_s'] * 1000:6.0f} ms/clip  "
            f"{result['clips_per_s']:5.2f} clips/s  (ms: {parts})"
        )


if __name__ == "__main__":
    main()
