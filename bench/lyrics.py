"""Lyrics encoder runtimes on real lyrics: lyrics/s, and cosine to the fp32 torch vectors.

python -m bench.lyrics [--n 512] [--runtimes torch,onnx,...] [--rounds 3] [--json]

Half the lyrics come from PopLyrics-1K, half from the Billboard lyrics set (nearly all reach
the token limit). Every runtime is loaded first, then timed in interleaved rounds, so a busy
neighbour on the machine slows all of them alike; the best round is the figure (the least
disturbed), the median is shown beside it. Language detection per 1,000 lyrics comes last.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import orjson

from hitpred.datasets import billboard, poplyrics
from hitpred.features.language import detect_languages
from hitpred.features.lyrics import RUNTIMES, LyricsEncoder, load_lyrics_encoder

#: The shared data sets, resolved from the repository root (``../shared/datasets``).
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def real_lyrics(n: int, datasets: Path = SHARED) -> list[str]:
    """``n`` non-empty lyrics, half PopLyrics-1K, half Billboard, in file order."""
    pop = poplyrics.load(datasets / "poplyrics-1k").frame["lyrics"].dropna().tolist()
    hot = billboard.load(datasets / "billboard-lyrics").frame["lyrics"].dropna().tolist()
    pop = [t for t in pop if t.strip()]
    hot = [t for t in hot if t.strip()]
    return pop[: n // 2] + hot[: n - min(n // 2, len(pop))]


def _cosines(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cos = np.sum(vectors * reference, axis=1)
    return {
        "cos_mean": float(cos.mean()),
        "cos_min": float(cos.min()),
        "cos_p1": float(np.percentile(cos, 1)),
    }


def _time(encoder: LyricsEncoder, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    return time.perf_counter() - started, vectors


@click.command()
@click.option("--n", default=512, show_default=True, help="Lyrics to encode.")
@click.option("--runtimes", default=",".join(RUNTIMES), show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Timed rounds per runtime.")
@click.option("--max-tokens", default=128, show_default=True)
@click.option("--batch", default=32, show_default=True)
@click.option("--datasets", type=click.Path(path_type=Path), default=SHARED, show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="ONNX exports.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def main(
    n: int,
    runtimes: str,
    rounds: int,
    max_tokens: int,
    batch: int,
    datasets: Path,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    """Time every runtime on real lyrics and compare its vectors to fp32 torch."""
    texts = real_lyrics(n, datasets)
    names = [name.strip() for name in runtimes.split(",") if name.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-lyrics-") as tmp:
        cache = cache_dir or Path(tmp)
        encoders = {
            name: load_lyrics_encoder(
                runtime=name, max_tokens=max_tokens, batch_size=batch, cache_dir=cache
            )
            for name in dict.fromkeys(["torch", *names])
        }
        for encoder in encoders.values():
            encoder.encode(texts[:batch])  # warm up: first-call allocations, kernel choice
        seconds: dict[str, list[float]] = {name: [] for name in encoders}
        vectors: dict[str, np.ndarray] = {}
        for _ in range(rounds):
            for name, encoder in encoders.items():
                elapsed, vectors[name] = _time(encoder, texts)
                seconds[name].append(elapsed)
    detect_languages(texts[:8])  # builds the detector
    started = time.perf_counter()
    detect_languages(texts)
    language_ms = (time.perf_counter() - started) / len(texts) * 1000 * 1000

    rows = [
        {
            "runtime": name,
            "runtime_id": encoders[name].runtime_id,
            "lyrics_per_s": len(texts) / min(seconds[name]),
            "lyrics_per_s_median": len(texts) / statistics.median(seconds[name]),
            **_cosines(vectors[name], vectors["torch"]),
        }
        for name in names
    ]
    command = (
        f"python -m bench.lyrics --n {n} --runtimes {','.join(names)} --rounds {rounds} "
        f"--max-tokens {max_tokens} --batch {batch}"
    )
    if as_json:
        report = {
            "command": command,
            "n": len(texts),
            "runtimes": rows,
            "language_ms_per_1000": language_ms,
        }
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"command: {command}")
    click.echo(
        f"{len(texts)} real lyrics, {max_tokens} tokens, batch {batch}; cosine to fp32 torch"
    )
    click.echo(f"{'runtime':12s} {'lyrics/s':>9s} {'(median)':>9s} {'cos mean':>9s} "
               f"{'cos min':>9s} {'cos p1':>9s}")  # fmt: skip
    for row in rows:
        click.echo(
            f"{row['runtime']:12s} {row['lyrics_per_s']:9.1f} {row['lyrics_per_s_median']:9.1f} "
            f"{row['cos_mean']:9.5f} {row['cos_min']:9.5f} {row['cos_p1']:9.5f}"
        )
    click.echo(f"language detection: {language_ms:.0f} ms per 1,000 lyrics")


if __name__ == "__main__":
    main()
