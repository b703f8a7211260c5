"""The bench's one child-process harness (:mod:`reflog.bench.child`), behind PERF-7 and PERF-10.

Each child here is a tiny Python program that blocks on its stdin instead of sleeping, so the
tests wait only for the harness's own timeouts.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path

import pytest

from reflog.bench.child import BenchError, ChildError, cpu_seconds_of, own_cpu_seconds, start_child

# Prints a line to skip, then READY, then echoes each stdin line upper-cased until end of input.
ECHO = (
    "import sys\n"
    "print('warming up', flush=True)\n"
    "print('READY 42', flush=True)\n"
    "for line in sys.stdin:\n"
    "    print(line.strip().upper(), flush=True)\n"
    "print('bye', file=sys.stderr)\n"
)


def _ready(line: str) -> int | None:
    return int(line.split()[1]) if line.startswith("READY ") else None


def _python(source: str) -> list[str]:
    return [sys.executable, "-c", source]


@pytest.mark.req("PERF-7", "PERF-10")
def test_the_ready_line_is_found_lines_go_both_ways_and_end_of_input_stops_the_child() -> None:
    with start_child("echo", _python(ECHO), _ready, timeout=30, stdin=True, stop_signal=None) as (child, n):
        assert n == 42  # "warming up" was skipped
        child.send_line("metrics")
        assert child.read_line(30) == "METRICS"
        assert math.isfinite(child.cpu_seconds()) and child.cpu_seconds() >= 0
        process = child.process
    assert process.returncode == 0  # it saw end of input and exited on its own
    assert not Path(f"/proc/{process.pid}").exists()
    assert child.stderr_tail() == "bye\n"


@pytest.mark.req("PERF-10")
def test_a_child_that_exits_before_its_ready_line_is_one_typed_error_with_its_stderr_tail() -> None:
    failing = _python("import sys; sys.stderr.write('x' * 5000 + 'no such disk'); sys.exit(3)")
    with pytest.raises(ChildError) as error, start_child("broker", failing, _ready, timeout=30):
        pytest.fail("the block must not run")
    assert isinstance(error.value, BenchError)
    assert (error.value.name, error.value.what, error.value.returncode) == ("broker", "did not start", 3)
    assert error.value.stderr_tail.endswith("no such disk") and len(error.value.stderr_tail) == 3000
    assert str(error.value).startswith("broker did not start (exit status 3); stderr:\nxxx")


@pytest.mark.req("PERF-7")
def test_a_silent_child_times_out_on_a_later_line_and_is_stopped() -> None:
    quiet = _python("import sys\nprint('READY 1', flush=True)\nsys.stdin.read()\n")
    with start_child("quiet", quiet, _ready, timeout=30, stdin=True, stop_signal=None) as (child, _):
        with pytest.raises(ChildError, match=r"quiet did not answer within 0.2 s \(exit status 0\)"):
            child.read_line(0.2)
        assert child.process.returncode == 0  # stopped (end of input) before the error was raised


@pytest.mark.req("PERF-10")
def test_a_child_that_ignores_the_stop_signal_is_killed_after_the_stop_timeout() -> None:
    stubborn = _python(
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('READY 7', flush=True)\n"
        "sys.stdin.read()\n"
    )
    started = start_child("stubborn", stubborn, _ready, timeout=30, stdin=True, stop_timeout=0.2)
    with started as (child, _):
        pass
    assert child.process.returncode == -signal.SIGKILL
    assert not Path(f"/proc/{child.pid}").exists()


@pytest.mark.req("PERF-7", "PERF-10")
def test_cpu_seconds_come_from_proc_and_are_nan_for_no_such_process() -> None:
    assert own_cpu_seconds() > 0
    assert cpu_seconds_of(os.getpid()) >= 0
    assert math.isnan(cpu_seconds_of(-1))
