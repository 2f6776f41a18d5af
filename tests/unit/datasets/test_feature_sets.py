"""tcc-ceds (scaled descriptors kept apart) and GTZAN features."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import detect_format, load_dataset
from hitpred.datasets.tcc_ceds import TOPICS, on_spotify_scale

TCC_HEADER = [
    "Unnamed: 0", "artist_name", "track_name", "release_date", "genre", "lyrics", "len",
    *TOPICS, "danceability", "loudness", "acousticness", "instrumentalness", "valence",
    "energy", "topic", "age",
]  # fmt: skip


def tcc_row(i: int, artist: str, track: str, loudness: float, dance: float) -> list[object]:
    topics = [round(0.01 * (k + 1), 6) for k in range(len(TOPICS))]
    audio = [dance, loudness, 0.345654, 0.0, 0.534126, 0.575840]
    return [i, artist, track, 1990 + i, "rock", "mind fade pink", 22, *topics, *audio, "sad", 0.4]


def test_scaled_descriptors_become_extras_not_canonical(tmp_path):
    rows = [tcc_row(1, "jakob ogawa", "velvet light", 0.667423, 0.524324),
            tcc_row(2, "the killers", "andy, you're a star", 0.304720, 0.093469)]  # fmt: skip
    path = tmp_path / "tcc.csv"
    pd.DataFrame(rows, columns=TCC_HEADER).to_csv(path, index=False)
    dataset = load_dataset(path)
    frame = dataset.frame
    assert detect_format(path) == "tcc-ceds-music-sample"
    assert frame["loudness"].isna().all() and frame["danceability"].isna().all()
    assert frame["loudness_scaled"].tolist() == [0.667423, 0.30472]
    assert {"loudness_scaled", "topic_world_life", "topic_shake_the_audience"} <= set(
        dataset.extra_features
    )
    assert "age" not in frame.columns or "age" not in dataset.extra_features
    assert frame["y_genre"].tolist() == ["rock", "rock"]
    assert frame["release_year"].tolist() == [1991.0, 1992.0]
    assert frame["title"].iloc[1] == "andy, you're a star"


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("loudness", [-5.634, -12.1, -3.2], True),
        ("loudness", [0.667423, 0.30472, 0.8764], False),  # 0..1: not dB
        ("danceability", [0.717, 0.76, 0.5], True),
        ("danceability", [0.524324, 0.093469, 0.969674], False),  # six significant digits
        ("instrumentalness", [0.0, 8.4e-05, 0.254], True),
        ("energy", [1.5, 0.2], False),  # outside the event range
    ],
)
def test_spotify_scale_check(name, values, expected):
    assert on_spotify_scale(name, pd.Series(values)) is expected


GTZAN_HEADER = "filename,length,chroma_stft_mean,rms_mean,tempo,mfcc1_mean,mfcc1_var,label"


def test_gtzan_label_tempo_extras_and_repeated_excerpts(write):
    path = write(
        "gtzan/features_30_sec.csv",
        "\n".join(
            [
                GTZAN_HEADER,
                "blues.00000.au,661794,0.35,0.13,123.05,-113.57,2564.2,blues",
                "pop.00054.au,661794,0.50,0.20,99.38,-50.1,1000.5,pop",
                "pop.00060.au,661794,0.50,0.20,99.38,-50.1,1000.5,pop",
                "rock.00001.au,661504,0.40,0.10,0,-80.0,900.0,rock",
            ]
        ),
    )
    dataset = load_dataset(path.parent)
    frame = dataset.frame
    assert detect_format(path.parent) == "gtzan-features"
    assert dataset.targets == {"genre": "y_genre"}
    assert frame["tempo"].iloc[0] == pytest.approx(123.05)
    assert pd.isna(frame["tempo"].iloc[3])  # 0 BPM is outside the event range
    assert set(dataset.extra_features) == {
        "chroma_stft_mean",
        "rms_mean",
        "mfcc1_mean",
        "mfcc1_var",
    }
    assert frame["group"].iloc[1] == frame["group"].iloc[2] != frame["group"].iloc[0]
    assert frame["artist"].isna().all()
    assert dataset.id_columns == ("filename",)
