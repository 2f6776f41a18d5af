"""Where a release's audio may come from: :func:`fetch_audio` reads an ``audio_ref`` under a policy.

An ``audio_ref`` arrives in an untrusted event, so reading it is a server-side request on the
producer's behalf. The rules (:class:`AudioPolicy`):

- a local path (absolute, or relative to the audio root) or a ``file://`` URI is read only when
  it resolves, symlinks included, inside ``root``, names a regular file (no device, FIFO or
  directory), and is at most ``max_bytes`` long (checked before and while reading);
- an ``http(s)://`` URL is fetched only when ``allow_http`` is on and its host is listed exactly
  in ``allowed_hosts`` (so IP literals are refused unless listed); no ``user@`` part; redirects
  are refused unless ``max_redirects`` allows them, and each hop is checked again; the body is
  streamed with a byte cap and a total time-out;
- any other scheme is refused.

Every refusal raises :class:`~hitpred.errors.EnrichmentError` whose reason names the reference as
the event gave it, never the server's own paths (the root, a resolved symlink target).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

from hitpred.errors import EnrichmentError

__all__ = ["AudioPolicy", "fetch_audio"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
#: A URI scheme is at least two characters, so ``C:\\song.wav`` is not mistaken for one.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_SHOWN = 200  # longest slice of a reference echoed in a reason


@dataclass(frozen=True)
class AudioPolicy:
    """What :func:`fetch_audio` may read (built from the ``HITPRED_AUDIO_*`` settings).

    ``allowed_hosts`` entries are compared exactly (lower case) with a URL's host, or with
    ``host:port`` to pin a port too; ``max_redirects`` = 0 refuses every redirect.
    """

    root: Path | None = None
    allow_http: bool = False
    allowed_hosts: tuple[str, ...] = ()
    max_bytes: int = 50_000_000
    timeout_s: float = 10.0
    max_redirects: int = 0
    user_agent: str = "hitpred-audio/1"


def fetch_audio(ref: str, policy: AudioPolicy) -> bytes:
    """The bytes ``ref`` points to, if ``policy`` allows reading them.

    Raises :class:`EnrichmentError` with the reason when the reference is refused or cannot be
    read. Synchronous and blocking (it runs in an executor thread): at most ``policy.timeout_s``
    for a URL, plus name resolution.
    """
    if not ref or "\x00" in ref:
        raise EnrichmentError("audio_ref is empty or contains a NUL byte")
    if not ref.isascii():
        try:
            ref.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate: os.path and quote() would raise UnicodeEncodeError on it.
            raise EnrichmentError("audio_ref is not valid Unicode (a lone surrogate)") from None
    match = _SCHEME.match(ref)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        return _fetch_url(ref, policy, policy.max_redirects)
    if scheme == "file":
        return _read_local(_file_uri_path(ref), ref, policy)
    if scheme:
        raise EnrichmentError(f"audio_ref scheme {scheme!r} is not supported (file or http(s))")
    return _read_local(ref, ref, policy)


def _shown(ref: str) -> str:
    """The reference as the event gave it, cut short, for an error reason."""
    return repr(ref if len(ref) <= _SHOWN else ref[:_SHOWN] + "...")


# -- local files ------------------------------------------------------------------------------


def _file_uri_path(ref: str) -> str:
    parts = urlsplit(ref)
    if parts.netloc not in ("", "localhost"):
        raise EnrichmentError(f"audio_ref {_shown(ref)}: a file:// URI must name a local path")
    if parts.query or parts.fragment:
        raise EnrichmentError(f"audio_ref {_shown(ref)}: a file:// URI takes no query/fragment")
    path = unquote(parts.path)
    if "\x00" in path:
        raise EnrichmentError(f"audio_ref {_shown(ref)} contains a NUL byte")
    return path


def _read_local(path_text: str, ref: str, policy: AudioPolicy) -> bytes:
    if policy.root is None:
        raise EnrichmentError(
            f"audio_ref {_shown(ref)}: local audio files are disabled (no audio root configured)"
        )
    try:
        root = Path(os.path.realpath(policy.root, strict=True))
    except OSError as exc:
        # The root is the server's own path: log it, never put it in the reason.
        logger.error("audio root %s is not available: %s", policy.root, exc)
        raise EnrichmentError("the audio root is not available on this worker") from exc
    # realpath resolves every symlink and `..`, so the containment test sees the real target.
    real = Path(os.path.realpath(root / path_text))
    if not real.is_relative_to(root):
        raise EnrichmentError(f"audio_ref {_shown(ref)} is outside the audio root")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the last component
        # must not have become a symlink since realpath (it would fail with ELOOP).
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        reason = _os_reason(exc)
        raise EnrichmentError(f"audio_ref {_shown(ref)} cannot be opened ({reason})") from exc
    try:
        return _read_fd(fd, root, ref, policy.max_bytes)
    finally:
        os.close(fd)


def _os_reason(exc: OSError) -> str:
    # strerror only: str(exc) would carry the resolved absolute path.
    return exc.strerror or type(exc).__name__


def _read_fd(fd: int, root: Path, ref: str, max_bytes: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise EnrichmentError(f"audio_ref {_shown(ref)} is not a regular file")
    if info.st_nlink > 1:
        # A hard link inside the root may name a file that lives outside it.
        raise EnrichmentError(f"audio_ref {_shown(ref)} has several hard links; refused")
    if info.st_size > max_bytes:
        raise EnrichmentError(
            f"audio_ref {_shown(ref)} is {info.st_size:,} bytes, over the {max_bytes:,} byte cap"
        )
    _check_opened_inside(fd, root, ref)
    # The file may grow after fstat: the cap holds while reading too.
    return _read_capped(lambda: os.read(fd, _CHUNK), ref, max_bytes)


def _read_capped(read: Callable[[], bytes], ref: str, max_bytes: int) -> bytes:
    """Everything ``read`` yields until it returns b"", refused once it passes ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    while chunk := read():
        total += len(chunk)
        if total > max_bytes:
            raise EnrichmentError(f"audio_ref {_shown(ref)} is over the {max_bytes:,} byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_opened_inside(fd: int, root: Path, ref: str) -> None:
    """Where the kernel says the open file lives (Linux), in case a directory on the path was
    swapped for a symlink between realpath and open."""
    if not sys.platform.startswith("linux"):
        return
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return
    if not opened.is_relative_to(root):
        raise EnrichmentError(f"audio_ref {_shown(ref)} is outside the audio root")


# -- http(s) ----------------------------------------------------------------------------------


def _check_url(url: str, policy: AudioPolicy) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path+query) of an allowed URL; raises before any connection."""
    if not policy.allow_http:
        raise EnrichmentError(f"audio_ref {_shown(url)}: http(s) audio is disabled")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EnrichmentError(f"audio_ref {_shown(url)} is not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise EnrichmentError(f"audio_ref {_shown(url)}: only http(s) redirects are followed")
    if "@" in parts.netloc:
        raise EnrichmentError(f"audio_ref {_shown(url)}: credentials in a URL are refused")
    host = (parts.hostname or "").lower()
    if not host:
        raise EnrichmentError(f"audio_ref {_shown(url)} has no host")
    allowed = {entry.strip().lower() for entry in policy.allowed_hosts if entry.strip()}
    if host not in allowed and f"{host}:{port}" not in allowed:
        kind = "IP address" if _is_ip(host) else "host"
        raise EnrichmentError(f"audio_ref {_shown(url)}: {kind} {host!r} is not allowed")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # http.client sends ASCII only: percent-encode anything else (a title with an accent).
    target = quote(target, safe="/?&=%:@!$'()*+,;~-._")
    return scheme, host, port, target


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _fetch_url(
    url: str, policy: AudioPolicy, redirects_left: int, deadline: float | None = None
) -> bytes:
    scheme, host, port, target = _check_url(url, policy)
    if deadline is None:
        deadline = time.monotonic() + policy.timeout_s
    # The whole fetch, redirects included, shares one deadline.
    remaining = max(deadline - time.monotonic(), 0.001)
    connection_type = (
        http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(host, port, timeout=remaining)
    # The socket time-out bounds each read; this timer bounds the whole exchange (a server
    # trickling header lines would otherwise get the full time-out per line).
    watchdog = threading.Timer(remaining, connection.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "GET",
            target,
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "identity"},
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            location = response.getheader("Location")
            if redirects_left <= 0 or not location:
                raise EnrichmentError(
                    f"audio_ref {_shown(url)}: HTTP {response.status} redirect not followed"
                )
            # The next hop must pass the same checks as the first one.
            response.close()
            return _fetch_url(urljoin(url, location), policy, redirects_left - 1, deadline)
        if response.status != 200:
            raise EnrichmentError(f"audio_ref {_shown(url)}: HTTP {response.status}")
        return _read_body(response, connection, url, policy.max_bytes, deadline)
    except (OSError, http.client.HTTPException) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise EnrichmentError(f"audio_ref {_shown(url)} cannot be fetched ({reason})") from exc
    finally:
        watchdog.cancel()
        connection.close()


def _read_body(
    response: http.client.HTTPResponse,
    connection: http.client.HTTPConnection,
    url: str,
    max_bytes: int,
    deadline: float,
) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise EnrichmentError(
            f"audio_ref {_shown(url)} is {int(declared):,} bytes, over the {max_bytes:,} byte cap"
        )

    def read() -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EnrichmentError(f"audio_ref {_shown(url)} cannot be fetched (timed out)")
        # The socket time-out bounds each read; the deadline bounds the sum of them, so a
        # server trickling bytes cannot hold the thread past timeout_s.
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        return response.read1(_CHUNK)

    return _read_capped(read, url, max_bytes)
