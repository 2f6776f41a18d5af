"""A managed process kept on given cores, as the benchmark's --cores-per-worker runs workers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from click.testing import CliRunner

from bench.throughput import main as bench_main
from hitpred.stack import ManagedProcess

_PRINT_AFFINITY = "import os; print(sorted(os.sched_getaffinity(0)))"


def _affinity_of(tmp_path: Path, cores: frozenset[int] | None) -> str:
    child = ManagedProcess(
        name="probe",
        argv=[sys.executable, "-c", _PRINT_AFFINITY],
        log_path=tmp_path / "probe.log",
        cores=cores,
    )
    child.start()
    assert child.process is not None
    assert child.process.wait(30) == 0
    return child.log_path.read_text().strip()


def test_a_process_given_cores_runs_on_those_only(tmp_path: Path) -> None:
    first = min(os.sched_getaffinity(0))
    assert _affinity_of(tmp_path, frozenset({first})) == str([first])


def test_a_process_without_cores_runs_on_every_usable_one(tmp_path: Path) -> None:
    assert _affinity_of(tmp_path, None) == str(sorted(os.sched_getaffinity(0)))


def test_the_benchmark_refuses_more_cores_than_the_machine_has_before_starting() -> None:
    usable = len(os.sched_getaffinity(0))
    result = CliRunner().invoke(bench_main, ["--workers", "1,2", "--cores-per-worker", str(usable)])
    assert result.exit_code == 2  # a usage error, raised before any broker starts
    assert f"needs {2 * usable} cores; this machine has {usable} usable" in result.output
