"""Generators of test signals (clicks, chords, noise, a synthetic song) and their encodings.

Used by the audio tests and ``bench.audio``; every signal is mono float32 in [-1, 1] and
deterministic for a given seed, so a failing assertion can be replayed.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = [
    "A_MAJOR",
    "A_MINOR",
    "FORMATS",
    "chord",
    "click_track",
    "encode",
    "midi_to_hz",
    "silence",
    "song",
    "white_noise",
]

#: The container/codec names :func:`encode` accepts (all written by libsndfile).
FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "mp3")
#: MIDI notes of chords spread over three octaves (root in the bass, as in a real voicing).
A_MAJOR: tuple[int, ...] = (45, 57, 61, 64, 69, 73, 76)  # A2 A3 C#4 E4 A4 C#5 E5
A_MINOR: tuple[int, ...] = (45, 57, 60, 64, 69, 72, 76)  # A2 A3 C4 E4 A4 C5 E5

_BLOCK = 1 << 16
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def midi_to_hz(note: float) -> float:
    """The frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return float(440.0 * 2.0 ** ((note - 69.0) / 12.0))


def click_track(
    bpm: float, duration_s: float = 30.0, sample_rate: int = 22050, level: float = 0.5
) -> np.ndarray:
    """A metronome: a 20 ms decaying 1 kHz + noise burst on every beat, accent on the one."""
    n = int(duration_s * sample_rate)
    out = np.zeros(n, dtype=np.float32)
    length = int(0.02 * sample_rate)
    t = np.arange(length) / sample_rate
    rng = np.random.default_rng(0)
    burst = (np.sin(2 * np.pi * 1000.0 * t) + 0.3 * rng.standard_normal(length)) * np.exp(
        -t / 0.004
    )
    period = 60.0 / bpm
    for beat, start_s in enumerate(np.arange(0.0, duration_s, period)):
        start = int(start_s * sample_rate)
        gain = level if beat % 4 == 0 else 0.6 * level
        stop = min(n, start + length)
        out[start:stop] += (gain * burst[: stop - start]).astype(np.float32)
    return out


def chord(
    notes: tuple[int, ...],
    duration_s: float = 10.0,
    sample_rate: int = 22050,
    harmonics: int = 5,
    level: float = 0.3,
) -> np.ndarray:
    """A sustained chord of MIDI ``notes``, each with decaying harmonics (a plucked-organ tone)."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    out = np.zeros_like(t)
    for note in notes:
        f0 = midi_to_hz(note)
        for h in range(1, harmonics + 1):
            if f0 * h < sample_rate / 2:
                out += np.sin(2 * np.pi * f0 * h * t) / h**1.5
    # A gentle attack per second keeps onset/beat trackers busy but leaves the spectrum tonal.
    envelope = 0.6 + 0.4 * np.exp(-(t % 1.0) / 0.3)
    out *= envelope
    return (level * out / np.max(np.abs(out))).astype(np.float32)


def white_noise(
    duration_s: float = 10.0, sample_rate: int = 22050, level: float = 0.2, seed: int = 0
) -> np.ndarray:
    """Gaussian white noise at ``level`` RMS."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(int(duration_s * sample_rate)) * level
    return np.clip(noise, -1.0, 1.0).astype(np.float32)


def silence(duration_s: float = 5.0, sample_rate: int = 22050) -> np.ndarray:
    """Digital silence (all zeros)."""
    return np.zeros(int(duration_s * sample_rate), dtype=np.float32)


def song(
    duration_s: float = 180.0, sample_rate: int = 44100, bpm: float = 120.0, seed: int = 0
) -> np.ndarray:
    """A crude pop song: I-V-vi-IV chords in A major, one chord per bar, kick/hat on the beats."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    bar_s = 4 * 60.0 / bpm
    progression = ((45, 57, 61, 64), (40, 52, 56, 59), (42, 54, 57, 61), (38, 50, 54, 57))
    out = np.zeros(n, dtype=np.float32)
    bar = int(bar_s * sample_rate)
    for index, start in enumerate(range(0, n, bar)):
        notes = progression[index % len(progression)]
        stop = min(n, start + bar)
        out[start:stop] += chord(notes, bar_s, sample_rate, level=0.25)[: stop - start]
    out += click_track(bpm, duration_s, sample_rate, level=0.4)[:n]
    out += white_noise(duration_s, sample_rate, level=0.01, seed=seed)[:n]
    out *= 1.0 + 0.05 * rng.standard_normal()  # a per-song level
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def encode(samples: np.ndarray, sample_rate: int, fmt: str = "wav") -> bytes:
    """``samples`` (mono, or ``(n, channels)``) encoded as ``fmt`` (one of :data:`FORMATS`)."""
    import soundfile as sf

    container, subtype = _SOUNDFILE_FORMATS[fmt]
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", sample_rate, channels, format=container, subtype=subtype) as out:
        # Written in blocks: libvorbis overflows its stack (alloca) when a long signal is
        # encoded in one call (libsndfile/libsndfile#1095, bastibe/python-soundfile#426).
        for start in range(0, len(samples), _BLOCK):
            out.write(samples[start : start + _BLOCK])
    return buffer.getvalue()
