"""The release-event descriptors as the "Hit or Flop?" form shows them: range, step, default,
and one line saying what each one measures (after the Spotify Web API definitions).

The ranges are the form's, inside the :class:`~hitpred.schemas.ReleaseEvent` bounds (a test
checks that every slider value is a valid event value); the defaults are typical values of a
2010s pop single.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["SLIDERS", "Slider", "slider_table"]


@dataclass(frozen=True)
class Slider:
    """One descriptor input of the form."""

    name: str
    label: str
    minimum: float
    maximum: float
    step: float
    default: float
    explanation: str
    unit: str = ""
    #: The event field holds the value times this factor (duration: seconds on the form).
    scale: float = 1.0
    integer: bool = False


SLIDERS: tuple[Slider, ...] = (
    Slider("danceability", "Danceability", 0, 1, 0.01, 0.65,
           "How suitable for dancing: tempo, rhythm stability, beat strength, regularity."),
    Slider("energy", "Energy", 0, 1, 0.01, 0.7,
           "Perceived intensity and activity: fast, loud and noisy tracks score high."),
    Slider("valence", "Valence", 0, 1, 0.01, 0.5,
           "Musical positiveness: high sounds happy or euphoric, low sad or angry."),
    Slider("acousticness", "Acousticness", 0, 1, 0.01, 0.15,
           "Confidence that the track is acoustic (no electric or electronic instruments)."),
    Slider("instrumentalness", "Instrumentalness", 0, 1, 0.01, 0.0,
           "Likelihood of no vocals; above 0.5 the track is probably instrumental."),
    Slider("speechiness", "Speechiness", 0, 1, 0.01, 0.05,
           "Presence of spoken words: above 0.66 mostly speech, 0.33-0.66 rap-like."),
    Slider("liveness", "Liveness", 0, 1, 0.01, 0.12,
           "Presence of an audience; above 0.8 the track was very likely recorded live."),
    Slider("loudness", "Loudness", -60, 0, 0.5, -6.0,
           "Average loudness of the track in decibels (most masters sit between -14 and -4).",
           unit="dB"),
    Slider("tempo", "Tempo", 40, 220, 1, 118,
           "Estimated speed in beats per minute.", unit="BPM"),
    Slider("duration_ms", "Duration", 30, 900, 1, 205,
           "Length of the track.", unit="s", scale=1000.0, integer=True),
    Slider("key", "Key", -1, 11, 1, 0,
           "Pitch class of the key: 0 = C, 1 = C#/Db ... 11 = B; -1 = no key detected.",
           integer=True),
    Slider("mode", "Mode", 0, 1, 1, 1,
           "Modality of the key: 1 = major, 0 = minor.", integer=True),
    Slider("time_signature", "Time signature", 1, 7, 1, 4,
           "Estimated beats per bar (3 to 7 for 3/4 to 7/4).", integer=True),
    Slider("chorus_hit", "Chorus starts at", 0, 120, 0.5, 30,
           "When the chorus is estimated to start.", unit="s"),
    Slider("sections", "Sections", 1, 40, 1, 9,
           "Number of sections (verses, choruses, bridges...) the track divides into.",
           integer=True),
)  # fmt: skip


def slider_table() -> list[dict[str, Any]]:
    """The sliders as plain dicts (for the page template and its script)."""
    return [asdict(s) for s in SLIDERS]
