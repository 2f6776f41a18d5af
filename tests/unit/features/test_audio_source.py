"""fetch_audio: local files only inside the root, http(s) only from allowed hosts, capped."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hitpred.errors import EnrichmentError
from hitpred.features.audio_source import AudioPolicy, fetch_audio
from tests.unit.features.audio_gen import chord, encode

WAV = encode(chord((57, 61, 64), duration_s=0.5, sample_rate=8000), 8000, "wav")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An audio root holding ``song.wav`` and ``sub/other.wav``; ``secret.txt`` lies outside."""
    folder = tmp_path / "audio-root"
    (folder / "sub").mkdir(parents=True)
    (folder / "song.wav").write_bytes(WAV)
    (folder / "sub" / "other.wav").write_bytes(WAV)
    (tmp_path / "secret.txt").write_text("not for you")
    return folder


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to open a network connection."""

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError(f"a connection was attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)


def _refused(ref: str, policy: AudioPolicy, match: str) -> str:
    with pytest.raises(EnrichmentError, match=match) as info:
        fetch_audio(ref, policy)
    return str(info.value)


# -- local files ------------------------------------------------------------------------------


def test_reads_relative_absolute_and_file_uri_inside_root(root: Path) -> None:
    policy = AudioPolicy(root=root)
    assert fetch_audio("song.wav", policy) == WAV
    assert fetch_audio("sub/other.wav", policy) == WAV
    assert fetch_audio(str(root / "song.wav"), policy) == WAV
    assert fetch_audio((root / "song.wav").as_uri(), policy) == WAV
    assert fetch_audio(f"file://localhost{root / 'song.wav'}", policy) == WAV
    # `..` that stays inside the root is fine: the resolved path is what counts.
    assert fetch_audio("sub/../song.wav", policy) == WAV


def test_local_files_refused_without_root(root: Path) -> None:
    _refused("song.wav", AudioPolicy(root=None), "local audio files are disabled")


@pytest.mark.parametrize(
    "ref",
    [
        "/etc/passwd",
        "file:///etc/shadow",
        "../secret.txt",
        "sub/../../secret.txt",
        "/dev/zero",
        "file:///proc/self/environ",
    ],
)
def test_paths_outside_root_are_refused(root: Path, ref: str) -> None:
    message = _refused(ref, AudioPolicy(root=root), "outside the audio root")
    assert str(root) not in message  # the server's own paths never leak into a reason


def test_symlink_pointing_outside_is_refused_and_inside_is_followed(root: Path) -> None:
    (root / "escape.wav").symlink_to(root.parent / "secret.txt")
    (root / "devzero.wav").symlink_to("/dev/zero")
    (root / "alias.wav").symlink_to(root / "sub" / "other.wav")
    (root / "outdir").symlink_to(root.parent)
    policy = AudioPolicy(root=root)
    for ref in ("escape.wav", "devzero.wav", "outdir/secret.txt"):
        message = _refused(ref, policy, "outside the audio root")
        assert str(root.parent) not in message
    assert fetch_audio("alias.wav", policy) == WAV


def test_fifo_is_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "pipe.wav")
    started = time.monotonic()
    _refused("pipe.wav", AudioPolicy(root=root), "not a regular file")
    assert time.monotonic() - started < 2.0


def test_directory_missing_file_and_nul_byte_are_refused(root: Path) -> None:
    policy = AudioPolicy(root=root)
    _refused("sub", policy, "not a regular file")
    message = _refused("nope.wav", policy, r"cannot be opened \(No such file or directory\)")
    assert str(root) not in message
    _refused("song.wav\x00.txt", policy, "NUL")


def test_file_over_byte_cap_is_refused(root: Path) -> None:
    _refused("song.wav", AudioPolicy(root=root, max_bytes=len(WAV) - 1), "byte cap")
    assert fetch_audio("song.wav", AudioPolicy(root=root, max_bytes=len(WAV))) == WAV


@pytest.mark.parametrize(
    "ref",
    ["ftp://example.org/a.mp3", "gopher://x/", "data:audio/wav;base64,AAAA", "s3://b/k.wav"],
)
def test_other_schemes_are_refused(root: Path, ref: str, no_connect: None) -> None:
    policy = AudioPolicy(root=root, allow_http=True, allowed_hosts=("example.org",))
    _refused(ref, policy, "is not supported")


def test_file_uri_with_a_remote_host_is_refused(root: Path) -> None:
    _refused(f"file://fileserver{root / 'song.wav'}", AudioPolicy(root=root), "local path")


# -- http(s): refusals before any connection --------------------------------------------------


@pytest.mark.parametrize("ref", ["http://10.0.0.1/x", "http://127.0.0.1:1/x", "https://a.org/"])
def test_http_disabled_refuses_without_connecting(ref: str, no_connect: None) -> None:
    policy = AudioPolicy(allow_http=False, allowed_hosts=("10.0.0.1", "127.0.0.1", "a.org"))
    _refused(ref, policy, "http\\(s\\) audio is disabled")


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("http://10.0.0.1/x", "IP address '10.0.0.1' is not allowed"),
        ("http://127.0.0.1:1/x", "IP address '127.0.0.1' is not allowed"),
        ("http://[::1]/x", "IP address '::1' is not allowed"),
        ("http://2130706433/x", "not allowed"),  # 127.0.0.1 as one integer
        ("http://media.example.org.evil.net/x", "not allowed"),
        ("http://example.org./x", "not allowed"),  # exact match only
        ("http://user:pw@media.example.org/x", "credentials"),
        ("http://media.example.org@10.0.0.1/x", "credentials"),
        ("http://media.example.org:99999/x", "not a valid URL"),
    ],
)
def test_hosts_not_allowed_are_refused_without_connecting(
    ref: str, match: str, no_connect: None
) -> None:
    policy = AudioPolicy(allow_http=True, allowed_hosts=("media.example.org",))
    _refused(ref, policy, match)


def test_host_port_entry_pins_the_port(no_connect: None) -> None:
    policy = AudioPolicy(allow_http=True, allowed_hosts=("media.example.org:8443",))
    _refused("https://media.example.org/x", policy, "not allowed")


# -- http(s) against a local server -----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        routes: dict[str, Callable[[], None]] = {
            "/song.wav": lambda: self._send(WAV),
            "/big": self._big,
            "/big-declared": self._big_declared,
            "/slow": self._slow,
            "/stall": self._stall,
            "/redirect": lambda: self._redirect("/song.wav"),
            "/redirect-out": lambda: self._redirect("http://10.0.0.1/x"),
        }
        route = routes.get(self.path)
        if route is None:
            self.send_error(404)
        else:
            route()

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _big(self) -> None:
        # No Content-Length: only the streaming cap can stop it.
        self.send_response(200)
        self.end_headers()
        for _ in range(64):
            self.wfile.write(b"\0" * 4096)

    def _big_declared(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()

    def _slow(self) -> None:
        # Each byte arrives well within a socket time-out, the whole body never within one.
        self.send_response(200)
        self.end_headers()
        for _ in range(30):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.1)

    def _stall(self) -> None:
        time.sleep(2.0)
        self._send(WAV)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The client hanging up on a capped or timed-out response is the expected outcome.
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """A local http server on 127.0.0.1; yields its base URL."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections to anything but 127.0.0.1 fail the test."""
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        assert address[0] == "127.0.0.1", f"connection attempted to {address!r}"
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", guarded)


def _http(**overrides: object) -> AudioPolicy:
    values: dict[str, object] = {
        "allow_http": True,
        "allowed_hosts": ("127.0.0.1",),
        "timeout_s": 1.0,
    }
    values.update(overrides)
    return AudioPolicy(**values)  # type: ignore[arg-type]


def test_allowed_url_is_fetched(server: str, loopback_only: None) -> None:
    assert fetch_audio(f"{server}/song.wav", _http()) == WAV


def test_http_errors_and_caps(server: str, loopback_only: None) -> None:
    _refused(f"{server}/missing", _http(), "HTTP 404")
    _refused(f"{server}/big", _http(max_bytes=100_000), "byte cap")
    _refused(f"{server}/big-declared", _http(), "1,000,000,000 bytes, over")


def test_trickling_server_trips_the_total_timeout(server: str, loopback_only: None) -> None:
    started = time.monotonic()
    _refused(f"{server}/slow", _http(timeout_s=0.5), "timed out")
    _refused(f"{server}/stall", _http(timeout_s=0.3), "timed out")
    assert time.monotonic() - started < 2.5


def test_redirects_are_refused_or_rechecked(server: str, loopback_only: None) -> None:
    _refused(f"{server}/redirect", _http(), "HTTP 302 redirect not followed")
    assert fetch_audio(f"{server}/redirect", _http(max_redirects=1)) == WAV
    _refused(f"{server}/redirect-out", _http(max_redirects=3), "IP address '10.0.0.1'")


def test_hard_link_inside_root_to_a_file_outside_is_refused(root: Path) -> None:
    outside = root.parent / "outside.wav"
    outside.write_bytes(WAV)
    os.link(outside, root / "linked.wav")
    _refused("linked.wav", AudioPolicy(root=root), "hard links")


def test_a_non_ascii_path_is_percent_encoded_not_a_crash(server: str, loopback_only: None) -> None:
    # Before: http.client raised UnicodeEncodeError, which no caller expected.
    _refused(f"{server}/café.wav", _http(), "HTTP 404")
