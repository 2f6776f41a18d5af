"""Hostile audio input, generated: every input decodes to a finite analysis or is refused with
an :class:`~hitpred.errors.EnrichmentError` carrying a one-line reason; nothing else escapes,
nothing hangs, and no reference reaches a file or host the policy does not allow.

About 7,000 generated cases per run, in about 25 s on 2 cores (hypothesis, derandomized so
CI is repeatable):

- ``decode_audio``: arbitrary bytes, alone or behind the magic numbers of the formats
  libsndfile probes; PNG/JSON/text files; small real WAV/FLAC/OGG/MP3/AIFF files (soundfile)
  truncated at random points, with random byte flips or a spliced run of garbage;
  WAV headers declaring any format tag, channel count, sample rate, block size and chunk
  sizes (huge ones included); float WAVs holding NaN, infinities, huge and subnormal values.
- ``describe_audio`` after ``decode_audio``: short clips (a few samples to 3 s) of tones,
  noise, clicks, silence, DC, square waves and extreme floats, in every format.
- ``fetch_audio``: local paths made of ``..``, symlinks (out of the root, into it, dangling,
  looping), a FIFO, a hard link, a directory, non-ASCII, NUL bytes, lone surrogates and very
  long names, as plain paths and ``file://`` URIs; http(s) URLs to hosts off the allow-list,
  IP literals, credentials, odd ports and parser tricks; other schemes. Connections are
  intercepted: none may go to a host the policy does not list.
"""

from __future__ import annotations

import http.client
import io
import math
import os
import socket
import struct
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitpred.errors import EnrichmentError
from hitpred.features.audio import GTZAN_SAMPLE_RATE, Clip, decode_audio, describe_audio
from hitpred.features.audio_source import AudioPolicy, fetch_audio
from hitpred.features.vector import ESTIMABLE_DESCRIPTORS, GTZAN_FEATURES
from hitpred.schemas import ReleaseEvent
from tests.unit.features.audio_gen import encode

pytestmark = pytest.mark.timeout(300)
#: Derandomized, so CI replays the same cases; no deadline (the first analysis compiles code).
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(derandomize=True, database=None, deadline=None, suppress_health_check=HEALTH)
#: Decoding any input here (under 100 kB) takes milliseconds, analysing a 3 s clip well under a
#: second (the first analysis also compiles librosa's code): beyond these, it is a hang.
MAX_DECODE_S, MAX_ANALYSIS_S = 2.0, 30.0
DECODE_REASONS = ("not a decodable audio file (", "silent audio (", "audio is ")
SECRET = b"top secret, outside the audio root"
COUNTS: Counter[str] = Counter()


def _check_reason(exc: EnrichmentError) -> str:
    """The reason is readable: one line, bounded, no traceback or object repr."""
    text = str(exc)
    assert text, "empty reason"
    assert len(text.splitlines()) == 1, f"reason spans lines: {text!r}"
    assert len(text) <= 2500, f"reason is {len(text)} characters long"
    assert "Traceback" not in text and "object at 0x" not in text, text
    return text


def _decode(data: bytes, kind: str) -> Clip | None:
    """decode_audio(data): a sound clip, or None after a well-formed refusal."""
    started = time.monotonic()
    try:
        clip = decode_audio(data)
    except EnrichmentError as exc:
        assert _check_reason(exc).startswith(DECODE_REASONS), str(exc)
        COUNTS[f"{kind}: refused"] += 1
        return None
    finally:
        elapsed = time.monotonic() - started
        assert elapsed < MAX_DECODE_S, f"decoding {len(data)} bytes took {elapsed:.1f} s"
    assert clip.sample_rate == GTZAN_SAMPLE_RATE
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert 0 < clip.samples.size <= 30 * GTZAN_SAMPLE_RATE + GTZAN_SAMPLE_RATE // 10
    assert np.isfinite(clip.samples).all()
    assert math.isfinite(clip.duration_s) and 0 < clip.duration_s <= 1200.0
    COUNTS[f"{kind}: decoded"] += 1
    return clip


# -- decode_audio: arbitrary and foreign bytes ------------------------------------------------

#: Magic numbers of formats libsndfile probes (WAV, RIFX, RF64, Wave64, AIFF/AIFC, AU, FLAC,
#: Ogg, MP3, CAF, NIST, VOC, WavPack, MAT5, IRCAM, AVR) and MIDI.
MAGIC = (
    *(b"RIFF\x24\x00\x00\x00WAVE", b"RIFX\x00\x00\x00\x24WAVE", b"RF64\xff\xff\xff\xffWAVE"),
    *(b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00", b"FORM\x00\x00\x00\x2eAIFF"),
    *(b"FORM\x00\x00\x00\x2eAIFC", b".snd\x00\x00\x00\x18", b"fLaC", b"OggS\x00\x02"),
    *(b"ID3\x03\x00\x00", b"\xff\xfb\x90\x64", b"caff\x00\x01\x00\x00", b"NIST_1A\n   1024\n"),
    *(b"Creative Voice File\x1a", b"wvpk", b"MATLAB 5.0 MAT-file", b"\x64\xa3\x01\x00"),
    *(b"2BIT", b"MThd"),
)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
FOREIGN = st.one_of(
    st.binary(max_size=64).map(lambda tail: PNG + tail),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=6).map(
        lambda value: repr(value).replace("'", '"').encode()
    ),
    st.text(max_size=400).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.just(b"Never gonna give you up\n" * 300),
    st.just(b"\x00" * 5000),
)


@settings(FUZZ, max_examples=1500)
@given(st.binary(max_size=3000) | st.tuples(st.sampled_from(MAGIC), st.binary()).map(b"".join))
def test_arbitrary_bytes_decode_or_are_refused(data: bytes) -> None:
    _decode(data, "arbitrary")


@settings(FUZZ, max_examples=300)
@given(FOREIGN)
def test_foreign_files_are_refused(data: bytes) -> None:
    _decode(data, "foreign")


# -- decode_audio: real files, then damaged ---------------------------------------------------

FILE_KINDS = {
    **{"wav16": ("WAV", "PCM_16"), "wav8": ("WAV", "PCM_U8"), "wavfloat": ("WAV", "FLOAT")},
    **{"flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "aiff": ("AIFF", "PCM_24")},
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def _sf_bytes(samples: np.ndarray, rate: int, container: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    with np.errstate(all="ignore"):
        sf.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


@st.composite
def _damaged(draw: st.DrawFn) -> bytes:
    """A real file of up to half a second (a tone in noise), intact or damaged."""
    kind = draw(st.sampled_from(sorted(FILE_KINDS)))
    rate = draw(st.sampled_from([8000, 11025, 22050, 44100, 48000]))
    frames, channels = draw(st.integers(1, rate // 2)), draw(st.integers(1, 2 + (kind != "mp3")))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    tone = 0.4 * np.sin(2 * np.pi * rng.uniform(50, rate / 2.5) * np.arange(frames) / rate)
    samples = tone[:, None] + 0.05 * rng.standard_normal((frames, channels))
    data = _sf_bytes(np.clip(samples, -1.0, 1.0).astype(np.float32), rate, *FILE_KINDS[kind])
    damage = draw(st.sampled_from(["none", "truncate", "flip", "splice", "flip+truncate"]))
    out = bytearray(data)
    if "flip" in damage:
        span = draw(st.sampled_from([min(64, len(out)), len(out)]))  # the header, or anywhere
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, span - 1))] ^= draw(st.integers(1, 255))
    if damage == "splice":
        at = draw(st.integers(0, len(out)))
        out[at : at + draw(st.integers(0, 64))] = draw(st.binary(min_size=1, max_size=64))
    if "truncate" in damage:
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


#: A cut AIFF makes libsndfile seek before the start: BytesIO's ValueError is printed and ignored
#: in soundfile's C callback, and the file is refused ("Unspecified internal error").
VIO_SEEK = r"ignore:Exception ignored from cffi callback[\s\S]*vio_seek[\s\S]*negative seek"


@pytest.mark.filterwarnings(VIO_SEEK)
@settings(FUZZ, max_examples=800)
@given(_damaged())
def test_damaged_real_files_decode_or_are_refused(data: bytes) -> None:
    _decode(data, "damaged")


# -- decode_audio: hostile WAV headers --------------------------------------------------------

GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _chunk(name: bytes, body: bytes, size: int | None = None) -> bytes:
    declared = len(body) if size is None else size
    return name + struct.pack("<I", declared) + body + (b"\x00" if len(body) & 1 else b"")


U16, U32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
#: Per header field: the values it may take when it is one of the hostile fields of a case.
HOSTILE_FIELDS: dict[str, st.SearchStrategy[int]] = {
    "tag": st.sampled_from([3, 0xFFFE, 2, 6, 7, 0x55, 0]) | U16,
    "channels": st.sampled_from([0, 3, 8, 9, 255, 0xFFFF]) | U16,
    "rate": st.sampled_from([0, 1, 3999, 384_000, 384_001, 2**31, 2**32 - 1]) | U32,
    "bits": st.sampled_from([0, 1, 8, 12, 24, 32, 64, 0xFFFF]),
    **{"align": U16, "byte_rate": U32},
    "fmt_size": st.sampled_from([0, 14, 18, 40, 0xFFFFFFFF]) | U32,
    "data_size": st.sampled_from([0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE]) | U32,
    "riff_size": st.sampled_from([0, 0xFFFFFFFF]) | U32,
    "list_size": st.sampled_from([0, 1, 0xFFFFFFFF]) | U32,
}


@st.composite
def _hostile_wavs(draw: st.DrawFn) -> bytes:
    """A PCM WAV whose header has up to four fields set to hostile values, the others sane."""
    hostile = draw(st.sets(st.sampled_from(sorted(HOSTILE_FIELDS)), max_size=4))
    bad = {name: draw(HOSTILE_FIELDS[name]) for name in sorted(hostile)}
    channels = bad.get("channels", draw(st.integers(1, 2)))
    rate = bad.get("rate", draw(st.sampled_from([8000, 22050, 44100])))
    tag, bits = bad.get("tag", 1), bad.get("bits", 16)
    align = bad.get("align", max(1, channels * bits // 8) & 0xFFFF)
    byte_rate = bad.get("byte_rate", (rate * align) & 0xFFFFFFFF)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, byte_rate, align, bits)
    if tag == 0xFFFE:
        subformat = draw(st.sampled_from([b"\x01\x00", b"\x03\x00", b"\xff\xff"])) + GUID_TAIL
        fmt += struct.pack("<HHI", 22, draw(U16), draw(U32)) + subformat
    body = draw(
        st.binary(min_size=64, max_size=4096)
        | st.binary(max_size=8)
        | st.integers(0, 40_000).map(lambda n: bytes(range(256)) * (n // 256))
    )
    chunks = [_chunk(b"fmt ", fmt, bad.get("fmt_size"))]
    chunks.append(_chunk(b"data", body, bad.get("data_size")))
    if "list_size" in bad or draw(st.booleans()):
        chunks.insert(0, _chunk(b"LIST", draw(st.binary(max_size=32)), bad.get("list_size")))
    if draw(st.booleans()):
        chunks.insert(-1, _chunk(b"fact", struct.pack("<I", draw(U32))))
    if draw(st.integers(0, 9)) == 9:
        chunks.reverse()  # data before fmt
    payload = b"WAVE" + b"".join(chunks)
    riff_size = bad.get("riff_size", len(payload))
    return b"RIFF" + struct.pack("<I", riff_size) + payload


@settings(FUZZ, max_examples=1000)
@given(_hostile_wavs())
def test_hostile_wav_headers_decode_or_are_refused(data: bytes) -> None:
    _decode(data, "wav header")


# -- decode_audio: extreme float samples ------------------------------------------------------

EXTREME = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(allow_nan=True, allow_infinity=True),  # float64: may overflow float32
    st.sampled_from([0.0, -0.0, 1e-45, 1e-38, 1.0, -1.0, 3.4e38, -3.4e38, 1e300, math.nan]),
)


@st.composite
def _float_wavs(draw: st.DrawFn) -> bytes:
    values = np.array(draw(st.lists(EXTREME, min_size=1, max_size=16)), dtype=np.float64)
    frames, channels = draw(st.integers(1, 4000)), draw(st.integers(1, 2))
    rate = draw(st.sampled_from([4000, 8000, 22050, 44100, 96000, 384_000]))
    samples = np.resize(values, frames * channels).reshape(frames, channels)
    if draw(st.booleans()):  # a tone carrying the extreme values
        t = np.arange(frames) / rate
        with np.errstate(all="ignore"):
            samples = samples * np.sin(2 * np.pi * 440.0 * t)[:, None]
    return _sf_bytes(samples, rate, "WAV", draw(st.sampled_from(["FLOAT", "DOUBLE"])))


@settings(FUZZ, max_examples=500)
@given(_float_wavs())
def test_extreme_float_samples_decode_finite_or_are_refused(data: bytes) -> None:
    clip = _decode(data, "float wav")
    if clip is not None:
        assert np.abs(clip.samples).max() <= 1.5  # normalised to full scale (plus resampling)


# -- decode_audio + describe_audio on short clips ---------------------------------------------


CLIP_KINDS = ["tone", "noise", "clicks", "silence", "dc", "square", "extreme", "few"]


@st.composite
def _short_clips(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(CLIP_KINDS))
    rate = draw(st.sampled_from([4000, 8000, 11025, 22050, 44100, 48000]))
    frames = draw(st.integers(1, 64)) if kind == "few" else int(draw(st.floats(0.5, 3.0)) * rate)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    t = np.arange(frames) / rate
    level = draw(st.sampled_from([1e-4, 0.01, 0.5, 1.0]))
    signal = {
        "tone": lambda: np.sin(2 * np.pi * rng.uniform(30, rate / 2.2) * t),
        "noise": lambda: rng.standard_normal(frames),
        "clicks": lambda: np.arange(frames) % max(1, int(rate * rng.uniform(0.2, 1))) == 0,
        "silence": lambda: np.zeros(frames),
        "dc": lambda: np.ones(frames),
        "square": lambda: np.sign(np.sin(2 * np.pi * rng.uniform(30, 2000) * t)),
        "extreme": lambda: np.resize(np.array(draw(st.lists(EXTREME, min_size=1))), frames),
        "few": lambda: rng.uniform(-1, 1, frames),
    }[kind]()
    with np.errstate(all="ignore"):  # float64 extremes overflow float32 to inf
        samples = (np.asarray(signal, dtype=np.float64) * level).astype(np.float32)
    if kind == "extreme":
        return _sf_bytes(samples, rate, "WAV", "FLOAT")
    formats = ["wav", "flac", "ogg", "mp3"] if frames >= rate // 4 else ["wav"]
    fmt = draw(st.sampled_from(formats if rate != 4000 else formats[:3]))  # MPEG: 8 kHz and up
    return encode(np.clip(samples, -1.0, 1.0).astype(np.float32), rate, fmt)


EVENT = dict.fromkeys(("event_id", "track_id", "title"), "x") | {"artists": ["a"]}


@pytest.mark.filterwarnings("ignore:n_fft=.* is too large:UserWarning")  # clips of a few samples
@pytest.mark.filterwarnings("ignore:Trying to estimate tuning:UserWarning")
@settings(FUZZ, max_examples=80)
@given(_short_clips())
def test_short_clips_give_a_finite_analysis_or_are_refused(data: bytes) -> None:
    clip = _decode(data, "analysis")
    if clip is None:
        return
    started = time.monotonic()
    try:
        description = describe_audio(clip)
    except EnrichmentError as exc:
        _check_reason(exc)
        COUNTS["analysis: refused after decoding"] += 1
        return
    finally:
        assert time.monotonic() - started < MAX_ANALYSIS_S, f"{clip.samples.size} samples"
    assert set(description.descriptors) <= set(ESTIMABLE_DESCRIPTORS)
    assert list(description.gtzan) == list(GTZAN_FEATURES)
    values = [*description.descriptors.values(), *description.gtzan.values()]
    assert all(math.isfinite(v) for v in values), description
    ReleaseEvent.model_validate({**EVENT, "release_date": "2024-01-01", **description.descriptors})
    COUNTS["analysis: described"] += 1


# -- fetch_audio ------------------------------------------------------------------------------

ALLOWED_HOSTS = ("allowed.example", "bücher.example", "10.0.0.5:8080")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """An audio root full of traps, beside a secret; yields (root, the one readable file)."""
    base = tmp_path_factory.mktemp("fuzz-refs")
    root = base / "audio-root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "song.wav").write_bytes(song := encode(np.full(800, 0.25, np.float32), 8000, "wav"))
    (base / "secret.txt").write_bytes(SECRET)
    (root / "escape.wav").symlink_to(base / "secret.txt")
    (root / "outdir").symlink_to(base)
    (root / "alias.wav").symlink_to(root / "song.wav")
    (root / "sub" / "up.wav").symlink_to("../song.wav")
    (root / "dangling.wav").symlink_to(root / "missing.wav")
    (root / "loop.wav").symlink_to(root / "loop.wav")
    (root / "devzero.wav").symlink_to("/dev/zero")
    os.mkfifo(root / "pipe.wav")
    os.link(base / "secret.txt", root / "linked.wav")
    return root, song


def _no_network(monkeypatch: pytest.MonkeyPatch, attempts: list[tuple[str, int | None]]) -> None:
    """Record every HTTP connection attempt and refuse it; any other socket use fails."""

    def connect(self: http.client.HTTPConnection) -> None:
        attempts.append((self.host, self.port))
        raise ConnectionRefusedError("refused by the fuzz test")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use outside http.client: {args!r}")

    monkeypatch.setattr(http.client.HTTPConnection, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket, "getaddrinfo", forbidden)


def _fetch(ref: str, policy: AudioPolicy, root: Path) -> bytes | None:
    started = time.monotonic()
    try:
        data = fetch_audio(ref, policy)
    except EnrichmentError as exc:
        text = _check_reason(exc)
        if str(root.parent) not in ref:  # the server's own paths never leak into a reason
            assert str(root.parent) not in text, text
        assert SECRET.decode() not in text
        return None
    finally:
        assert time.monotonic() - started < MAX_DECODE_S
    return data


NAMES = [
    *("..", ".", "", "song.wav", "sub", "deeper", "up.wav", "alias.wav", "escape.wav"),
    *("outdir", "secret.txt", "dangling.wav", "loop.wav", "devzero.wav", "pipe.wav"),
    *("linked.wav", "audio-root", "%2e%2e", "..%2f", "song.wav%00", "~", "\\..\\", "C:"),
]


def _text(max_size: int) -> st.SearchStrategy[str]:
    """Any code points; half the time with lone surrogates (st.text never draws them), NUL,
    line separators or a right-to-left override among them."""
    odd = ["\ud800", "\udc80", "\udfff", "\x00", "\u2028", "\x85", "\u202e", "é", "ß", "\ufb01"]
    char = st.characters(exclude_categories=())
    mixed = st.lists(char | st.sampled_from(odd), max_size=max_size).map("".join)
    return st.text(char, max_size=max_size) | mixed


#: References to the one readable file, relative to the root.
READABLE = ["song.wav", "alias.wav", "sub/up.wav", "sub/../song.wav", "sub/deeper/../up.wav"]
SEGMENT = st.sampled_from(NAMES) | _text(12) | st.integers(200, 300).map("x".__mul__)


def test_local_references_stay_inside_the_root(
    layout: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, song = layout
    attempts: list[tuple[str, int | None]] = []
    _no_network(monkeypatch, attempts)
    prefixes = ["", "/", "./", "../", "../../../../", "//", f"{root}/", f"{root.parent}/"]
    uris = ["file://", "file:///", "file://localhost/", "file://evil.example/", "FILE:///"]
    policies = [AudioPolicy(root=root), AudioPolicy(root=None), AudioPolicy(root=root, max_bytes=9)]

    @settings(FUZZ, max_examples=1500)
    @given(
        st.just("") | st.sampled_from(prefixes + uris),
        st.lists(SEGMENT, min_size=1, max_size=6).map("/".join)
        | st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
        | st.sampled_from(READABLE),
        st.booleans(),
        st.sampled_from(policies),
        st.integers(0, 2000),
    )
    def check(prefix: str, path: str, escape: bool, policy: AudioPolicy, pad: int) -> None:
        if prefix.lower().startswith("file:") and escape:
            path = quote(path.encode("utf-8", "surrogatepass"), safe="/")
        ref = prefix + path + ("/" * pad * 30 if pad > 1900 else "")  # up to 60,000 characters
        data = _fetch(ref, policy, root)
        COUNTS[f"local ref: {'read' if data is not None else 'refused'}"] += 1
        assert data in (None, song), f"{ref!r} read {data[:40]!r}"

    check()
    assert not attempts
    assert COUNTS["local ref: read"] > 0, "the generator never produced a readable reference"


HOSTS = [
    *("allowed.example", "ALLOWED.Example", "allowed.example.", "allowed.example.evil.net"),
    *("evil.net", "10.0.0.1", "10.0.0.5", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"),
    *("2130706433", "0x7f000001", "0177.0.0.1", "localhost", "169.254.169.254", "[fe80::1%25e]"),
    *("bücher.example", "BÜCHER.example", "xn--bcher-kva.example", "", "evil.net#@allowed.example"),
    *("evil.net\\@allowed.example", "evil.net?@allowed.example", "allowed.example%2f@evil.net"),
]
SCHEMES = st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{1,8}:", fullmatch=True)  # any scheme
PATHS = st.sampled_from(["", "/", "/song.wav", "?q=1", "#f"]) | _text(40).map("/".__add__)
USERINFO = st.just("") | st.sampled_from(["user@", "u:p@", "allowed.example@", ":@"])
PORTS = st.just("") | st.sampled_from([":80", ":8080", ":0", ":65535", ":99999", ":-1", ":a", ":"])
URLS = st.one_of(
    st.tuples(
        st.sampled_from(["http://", "https://", "HTTP://", "hTTpS://"]),
        USERINFO,
        st.sampled_from(HOSTS) | st.sampled_from(ALLOWED_HOSTS) | _text(20),
        PORTS,
        PATHS,
    ).map("".join),
    st.tuples(SCHEMES, _text(60)).map("".join),
    _text(80).map("http://".__add__),
)


def test_urls_reach_only_allowed_hosts(
    layout: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = layout
    attempts: list[tuple[str, int | None]] = []
    _no_network(monkeypatch, attempts)
    policies = [
        AudioPolicy(root=root, allow_http=True, allowed_hosts=ALLOWED_HOSTS, timeout_s=0.5),
        AudioPolicy(root=root, allow_http=False, allowed_hosts=ALLOWED_HOSTS),
        AudioPolicy(root=root, allow_http=True, allowed_hosts=(), timeout_s=0.5),
    ]

    @settings(FUZZ, max_examples=1500)
    @given(URLS, st.sampled_from(policies))
    def check(ref: str, policy: AudioPolicy) -> None:
        before = len(attempts)
        assert _fetch(ref, policy, root) is None  # the interceptor refuses allowed connections
        for host, host_port in attempts[before:]:
            assert policy.allow_http, f"{ref!r} connected with http(s) disabled"
            allowed = {h.lower() for h in policy.allowed_hosts}
            assert host in allowed or f"{host}:{host_port}" in allowed, (ref, host, host_port)
        COUNTS["url: connection attempted" if len(attempts) > before else "url: refused"] += 1

    check()
    assert attempts, "the generator never produced an allowed URL"


def test_zz_every_kind_of_outcome_was_generated() -> None:
    """Last in file order: each decoding property met both outcomes, not just one."""
    print("audio fuzz cases:", dict(sorted(COUNTS.items())), "total", sum(COUNTS.values()))
    for kind in ("damaged", "wav header", "float wav", "analysis"):  # arbitrary bytes: refused
        if COUNTS[f"{kind}: refused"] or COUNTS[f"{kind}: decoded"]:  # it ran in this process
            assert COUNTS[f"{kind}: refused"] and COUNTS[f"{kind}: decoded"], kind
