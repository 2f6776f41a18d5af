"""Decode a release's audio bytes into a :class:`Clip`, and describe it (:func:`describe_audio`).

- :func:`decode_audio`: wav, flac, ogg or mp3 bytes (libsndfile, from memory) -> the mono
  excerpt (30 s from the middle) at 22050 Hz, with the duration of the whole file. Only the
  excerpt's frames are decoded (a seek), so a 20-minute file costs what a 30 s one does.
- :func:`estimate_descriptors`: the :data:`~hitpred.features.vector.ESTIMABLE_DESCRIPTORS`
  (tempo, key, mode, loudness, duration_ms) with Essentia, in the ``ReleaseEvent`` ranges.
- :func:`gtzan_features`: the :data:`~hitpred.features.vector.GTZAN_FEATURES` layout, computed
  with librosa exactly as the Kaggle GTZAN ``features_30_sec.csv`` was (one STFT shared).

Bad bytes raise :class:`~hitpred.errors.EnrichmentError` with a reason; soundfile, soxr, librosa
and Essentia are imported on first use (the ``audio`` extra).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import math
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import numpy as np

from hitpred.errors import EnrichmentError, require
from hitpred.features.vector import ESTIMABLE_DESCRIPTORS, GTZAN_FEATURES

__all__ = [
    "GTZAN_SAMPLE_RATE",
    "KEY_PROFILE",
    "SILENCE_FLOOR_DBFS",
    "AudioDescription",
    "Clip",
    "decode_audio",
    "describe_audio",
    "estimate_descriptors",
    "gtzan_features",
]

logger = logging.getLogger(__name__)

#: The rate of the GTZAN clips and of librosa's defaults the CSV features were computed with.
GTZAN_SAMPLE_RATE = 22050
#: An excerpt whose RMS is below this level is "silent audio", not a song.
SILENCE_FLOOR_DBFS = -70.0
#: Essentia's key profile. 'bgate' (Faraldo et al. 2017: median profiles of a large Beatport
#: corpus, the 4 least relevant degrees zeroed) was learnt on produced, beat-driven music, the
#: closest corpus to current pop; zeroing makes it robust to drums and noise, and unlike
#: 'edmm' it does not push major songs to minor. 'krumhansl' and 'edma' agree on our tests.
KEY_PROFILE = "bgate"
#: RhythmExtractor2013 confidence below which the tempo is left out: Essentia documents
#: [0, 1) as "very low" (e.g. white noise scores about 0.4, a click track above 3).
_MIN_TEMPO_CONFIDENCE = 1.0
#: Essentia's rhythm extractor has no sample-rate parameter: it assumes 44100 Hz.
_RHYTHM_SAMPLE_RATE = 44100
_PITCH_CLASSES = {
    name: index
    for index, names in enumerate(
        ("C", "C#/Db", "D", "D#/Eb", "E", "F", "F#/Gb", "G", "G#/Ab", "A", "A#/Bb", "B")
    )
    for name in names.split("/")
}
_MIN_SAMPLE_RATE, _MAX_SAMPLE_RATE, _MAX_CHANNELS = 4000, 384_000, 8
_TAIL_S = 0.1  # length read at the end of a file to prove it is all there


@dataclass(frozen=True)
class Clip:
    """The decoded excerpt of an audio file."""

    samples: np.ndarray = field(repr=False)  # mono float32 at sample_rate: the excerpt
    sample_rate: int
    duration_s: float  # of the whole file, not of the excerpt
    sha256: str  # of the encoded bytes, so equal files are recognised


@dataclass(frozen=True)
class AudioDescription:
    """What :func:`describe_audio` found: canonical descriptors, GTZAN features, timings."""

    descriptors: dict[str, float | int]  # a subset of ESTIMABLE_DESCRIPTORS: unknown = absent
    gtzan: dict[str, float]  # every name of GTZAN_FEATURES
    timings_s: dict[str, float] = field(default_factory=dict)


# -- decoding ---------------------------------------------------------------------------------


def decode_audio(
    data: bytes,
    *,
    sample_rate: int = GTZAN_SAMPLE_RATE,
    excerpt_s: float = 30.0,
    max_duration_s: float = 1200.0,
) -> Clip:
    """Decode wav/flac/ogg/mp3 ``data`` into the mono excerpt at ``sample_rate``.

    The excerpt is ``excerpt_s`` seconds from the middle of a longer file (the whole file
    otherwise). Raises :class:`EnrichmentError` for empty, non-audio, corrupt or truncated
    bytes ("not a decodable audio file (...)"), a file longer than ``max_duration_s``, and
    silence ("silent audio"). Fails fast: libsndfile rejects garbage on its header.
    """
    if not data:
        raise EnrichmentError("not a decodable audio file (empty)")
    truncated = _wav_truncation(data)
    if truncated:
        raise EnrichmentError(f"not a decodable audio file ({truncated})")
    sf = cast(Any, require("soundfile", "audio"))
    try:
        block, native_rate, duration_s = _read_excerpt(sf, data, excerpt_s, max_duration_s)
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError, EOFError) as exc:
        raise EnrichmentError(f"not a decodable audio file ({_sndfile_reason(exc)})") from exc
    if not np.isfinite(block).all():
        raise EnrichmentError("not a decodable audio file (non-finite samples)")
    # In float64: float files may hold huge values whose float32 sum overflows to inf.
    mono = block.astype(np.float64).mean(axis=1)
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak > 1.0:
        # Float formats may exceed full scale; analysers (Essentia's key extractor hung for
        # minutes on values near 3e38) expect [-1, 1].
        mono = mono / peak
    if native_rate != sample_rate:
        soxr = cast(Any, require("soxr", "audio"))
        mono = soxr.resample(mono, native_rate, sample_rate)
    samples = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise EnrichmentError("not a decodable audio file (non-finite samples)")
    _check_not_silent(samples)
    return Clip(
        samples=samples,
        sample_rate=sample_rate,
        duration_s=duration_s,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _read_excerpt(
    sf: Any, data: bytes, excerpt_s: float, max_duration_s: float
) -> tuple[np.ndarray, int, float]:
    """(frames x channels float32 excerpt, native sample rate, whole duration in seconds)."""
    with sf.SoundFile(io.BytesIO(data)) as audio:
        rate, frames, channels = int(audio.samplerate), int(audio.frames), int(audio.channels)
        if not _MIN_SAMPLE_RATE <= rate <= _MAX_SAMPLE_RATE:
            raise ValueError(f"sample rate {rate} Hz")
        if not 1 <= channels <= _MAX_CHANNELS:
            raise ValueError(f"{channels} channels")
        if frames <= 0:
            raise ValueError("no audio frames")
        duration_s = frames / rate
        if duration_s > max_duration_s:
            raise EnrichmentError(
                f"audio is {duration_s:.0f} s long, over the {max_duration_s:.0f} s limit"
            )
        wanted = min(frames, max(1, round(excerpt_s * rate)))
        start = (frames - wanted) // 2
        if start:
            audio.seek(start)
        block = audio.read(wanted, dtype="float32", always_2d=True)
        # A short read means the header promised more than the bytes hold (a cut mp3); a
        # little slack absorbs an mp3's frame-count estimate (encoder padding).
        slack = max(int(0.05 * rate), wanted // 100)
        if len(block) < wanted - slack:
            raise ValueError(f"truncated: {len(block)} of {wanted} frames decoded")
        tail = min(frames - start - wanted, int(_TAIL_S * rate))
        if tail > slack:
            audio.seek(frames - tail)
            if len(audio.read(tail, dtype="float32", always_2d=True)) == 0:
                raise ValueError("truncated: the end of the stream is missing")
    return block, rate, duration_s


def _wav_truncation(data: bytes) -> str | None:
    """Why a RIFF/WAVE file is cut short, or None. libsndfile silently shortens such a file
    to the bytes present, so its frame count cannot tell."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    position = 12
    while position + 8 <= len(data):
        chunk, size = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        if chunk == b"data":
            present = len(data) - position - 8
            # 0 and 0xFFFFFFFF are the "unknown length" placeholders of streamed WAV.
            if size not in (0, 0xFFFFFFFF) and size > present:
                return f"truncated: the data chunk declares {size:,} bytes, {present:,} present"
            return None
        position += 8 + size + (size & 1)
    return None


def _sndfile_reason(exc: BaseException) -> str:
    # LibsndfileError's str() names the BytesIO object; its error_string is the useful part.
    text = getattr(exc, "error_string", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


def _check_not_silent(samples: np.ndarray) -> None:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    level = 20.0 * math.log10(rms) if rms > 0 else -math.inf
    if level < SILENCE_FLOOR_DBFS:
        shown = "-inf" if math.isinf(level) else f"{level:.0f}"
        raise EnrichmentError(
            f"silent audio (RMS {shown} dBFS, below the {SILENCE_FLOOR_DBFS:.0f} dBFS floor)"
        )


# -- librosa's compiled-code cache -------------------------------------------------------------

_compiled = False
_compiled_lock = threading.Lock()


@contextlib.contextmanager
def _first_compilation() -> Iterator[None]:
    """Serialise each process's first librosa analysis across processes.

    librosa's numba functions compile on first use and write their machine code to a cache in
    the installed package. Several processes doing that at once (workers starting together, a
    test run beside its workers) corrupted the cache here: later loads of it segfaulted. The
    first call of every process therefore runs under an exclusive file lock; the ones after
    it use the code already in memory and take no lock.
    """
    global _compiled
    if _compiled:
        yield
        return
    with _compiled_lock:
        if _compiled:
            yield
            return
        path = Path(tempfile.gettempdir()) / "hitpred-librosa-numba.lock"
        with path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
                _compiled = True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# -- descriptors ------------------------------------------------------------------------------


def describe_audio(clip: Clip) -> AudioDescription:
    """The canonical descriptors and the GTZAN features of ``clip``, with time per step."""
    timings: dict[str, float] = {}
    descriptors = estimate_descriptors(clip, timings_s=timings)
    started = time.perf_counter()
    gtzan = gtzan_features(clip)
    timings["gtzan"] = time.perf_counter() - started
    return AudioDescription(descriptors=descriptors, gtzan=gtzan, timings_s=timings)


def _essentia() -> ModuleType:
    essentia = cast(Any, require("essentia", "audio"))
    # Essentia logs an INFO line per algorithm family on first use; keep worker logs clean.
    essentia.log.infoActive = False
    return cast(ModuleType, require("essentia.standard", "audio"))


def estimate_descriptors(
    clip: Clip, *, timings_s: dict[str, float] | None = None
) -> dict[str, float | int]:
    """tempo, key, mode, loudness and duration_ms of ``clip`` (Essentia), in event ranges.

    - ``tempo``: RhythmExtractor2013 ('multifeature') on the excerpt resampled to 44100 Hz
      (the algorithm takes no sample rate); left out when its confidence is below 1.
    - ``key``/``mode``: KeyExtractor with the :data:`KEY_PROFILE` profile, at the clip's rate
      (passed as ``sampleRate``; its tonal range, 25-3500 Hz, is far below 11 kHz).
    - ``loudness``: EBU R128 integrated loudness (LUFS, i.e. dB) of the excerpt, at the clip's
      rate, the mono excerpt fed as identical left and right channels. This equals the
      original's loudness for centre-panned content and reads up to 3 dB low for wide,
      uncorrelated stereo (0.7 dB on the test clip). Spotify's ``loudness`` is also an
      overall dB level (Echo Nest analyser, typically -60..0, pop masters near -5..-8) but
      not K-weighted nor gated: expect the two to agree within a few dB, not exactly, and the
      middle excerpt to read a little louder than a whole track with a quiet intro.
    - ``duration_ms``: of the whole file.

    A value that cannot be estimated is left out, never invented.
    """
    timings = timings_s if timings_s is not None else {}
    es = cast(Any, _essentia())
    out: dict[str, float | int] = {
        "duration_ms": int(min(max(round(clip.duration_s * 1000), 1), 10_800_000))
    }
    signal = np.ascontiguousarray(clip.samples, dtype=np.float32)

    started = time.perf_counter()
    tempo = _tempo(es, signal, clip.sample_rate)
    if tempo is not None:
        out["tempo"] = tempo
    timings["tempo"] = time.perf_counter() - started

    started = time.perf_counter()
    key, scale, strength = es.KeyExtractor(profileType=KEY_PROFILE, sampleRate=clip.sample_rate)(
        signal
    )
    if key in _PITCH_CLASSES and scale in ("major", "minor") and strength > 0:
        out["key"] = _PITCH_CLASSES[key]
        out["mode"] = 1 if scale == "major" else 0
    timings["key"] = time.perf_counter() - started

    started = time.perf_counter()
    stereo = np.ascontiguousarray(np.stack([signal, signal], axis=1))
    _, _, integrated, _ = es.LoudnessEBUR128(sampleRate=clip.sample_rate)(stereo)
    # The gate leaves nothing (-inf or a huge negative) only for near-silence: leave it out.
    if math.isfinite(integrated) and integrated > -70.0:
        out["loudness"] = float(min(max(integrated, -60.0), 10.0))
    timings["loudness"] = time.perf_counter() - started
    return {name: out[name] for name in ESTIMABLE_DESCRIPTORS if name in out}


def _tempo(es: Any, signal: np.ndarray, sample_rate: int) -> float | None:
    if sample_rate != _RHYTHM_SAMPLE_RATE:
        soxr = cast(Any, require("soxr", "audio"))
        signal = soxr.resample(signal, sample_rate, _RHYTHM_SAMPLE_RATE).astype(np.float32)
    bpm, _, confidence, _, _ = es.RhythmExtractor2013(method="multifeature")(signal)
    if not math.isfinite(bpm) or bpm <= 0 or confidence < _MIN_TEMPO_CONFIDENCE:
        return None
    return float(min(bpm, 300.0))


# -- GTZAN features ---------------------------------------------------------------------------


def gtzan_features(clip: Clip) -> dict[str, float]:
    """The :data:`GTZAN_FEATURES` of ``clip``, as the Kaggle ``features_30_sec.csv`` has them.

    That CSV ran librosa with its defaults on 30 s clips at 22050 Hz (n_fft 2048, hop 512):
    chroma_stft, rms, spectral centroid/bandwidth/rolloff, zero-crossing rate and 20 MFCCs,
    each summarised by the mean and the variance over all its values; ``harmony``/``perceptr``
    are the mean and variance of the harmonic and percussive waveforms of
    ``librosa.effects.hpss``. Here one complex STFT feeds every spectral feature and the HPSS
    (the same numbers as the separate librosa calls, computed once). The CSV's ``tempo`` is
    the canonical ``tempo`` descriptor (:func:`estimate_descriptors`), not repeated here.
    """
    librosa = cast(Any, require("librosa", "audio"))
    with _first_compilation():
        return _gtzan_features(librosa, clip)


def _gtzan_features(librosa: Any, clip: Clip) -> dict[str, float]:
    y = clip.samples
    if clip.sample_rate != GTZAN_SAMPLE_RATE:
        soxr = cast(Any, require("soxr", "audio"))
        y = soxr.resample(y, clip.sample_rate, GTZAN_SAMPLE_RATE).astype(np.float32)
    sr = GTZAN_SAMPLE_RATE
    stft = librosa.stft(y)
    magnitude = np.abs(stft)
    power = magnitude**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    harmonic, percussive = librosa.decompose.hpss(stft)
    series: dict[str, np.ndarray] = {
        "chroma_stft": librosa.feature.chroma_stft(S=power, sr=sr),
        "rms": librosa.feature.rms(y=y),  # from frames of y, as librosa does given y
        "spectral_centroid": librosa.feature.spectral_centroid(S=magnitude, sr=sr),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(S=magnitude, sr=sr),
        "rolloff": librosa.feature.spectral_rolloff(S=magnitude, sr=sr),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(y),
        "harmony": librosa.istft(harmonic, length=len(y)),
        "perceptr": librosa.istft(percussive, length=len(y)),
    }
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), sr=sr, n_mfcc=20)
    for index in range(20):
        series[f"mfcc{index + 1}"] = mfcc[index]
    out: dict[str, float] = {}
    for name, values in series.items():
        out[f"{name}_mean"] = float(np.mean(values))
        out[f"{name}_var"] = float(np.var(values))
    return {name: out[name] for name in GTZAN_FEATURES}
