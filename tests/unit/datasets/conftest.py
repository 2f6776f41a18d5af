"""Fixtures for the data set loader tests: small files written in tmp_path, and the real sets."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

#: The shared data sets, resolved from the repository root (``../shared/datasets``).
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"

SPOTIFY_HEADER = (
    "track,artist,uri,danceability,energy,key,loudness,mode,speechiness,acousticness,"
    "instrumentalness,liveness,valence,tempo,duration_ms,time_signature,chorus_hit,sections,target"
)


def spotify_row(track: str, artist: str, uri: str, target: int, tempo: str = "120.5") -> str:
    """One row of a Spotify hit predictor file with plausible descriptors."""
    return (
        f"{track},{artist},{uri},0.5,0.7,5,-6.1,1,0.05,0.2,0.0,0.1,0.6,{tempo},"
        f"200000,4,35.2,9,{target}"
    )


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write ``text`` to ``tmp_path / name`` (gzip when the name ends in .gz); return the path."""

    def _write(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode(encoding)
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return _write


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real data sets folder; skips the test when it is not there."""
    if not SHARED.is_dir():
        pytest.skip(f"real data sets not found at {SHARED}")
    return SHARED
