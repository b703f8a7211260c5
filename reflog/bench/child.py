"""The one harness every bench section uses for a child process (PERF-7, PERF-10).

:func:`start_child` runs a command for the duration of a ``with`` block: it starts it with its
stdout (and, if asked, stdin) on pipes and its stderr in a temporary file (a file, not a pipe, so
a chatty child never blocks on a full pipe), waits for its *ready line* (the first line of stdout
that the section's ``ready`` function accepts), and hands the section a :class:`Child` and
whatever ``ready`` made of that line. The :class:`Child` reads and writes further lines, and
reports the child's CPU time (:meth:`Child.cpu_seconds`, user + system from ``/proc``).

Stopping, however the block is left: the child is asked to stop (``stop_signal``, or end of
input on its stdin when ``stop_signal`` is ``None``), given ``stop_timeout`` seconds, then
killed; it is always waited for (reaped) and its pipes closed.

Failure modes: every failure of the child (it exits or stays silent before its ready line, a
later line does not come within its timeout, its stdin is closed) raises :class:`ChildError`,
a :class:`BenchError` carrying the child's name, exit status and the tail of its stderr; the
child is stopped before the error is raised, so the tail holds everything it wrote.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import IO, Final, TypeVar

from reflog.errors import ReflogError

T = TypeVar("T")

#: Characters of the child's stderr a :class:`ChildError` carries (the end of it).
STDERR_TAIL: Final = 3000
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchError(ReflogError):
    """A benchmark could not run (a child failed to start, a connection broke, a fetch failed)."""


class ChildError(BenchError):
    """A bench child process failed: ``name``, what went wrong, its exit status and stderr tail.

    ``returncode`` is ``None`` only if the child could not be reaped (never in practice: the
    harness kills it first).
    """

    def __init__(self, name: str, what: str, returncode: int | None, stderr_tail: str) -> None:
        super().__init__(f"{name} {what} (exit status {returncode}); stderr:\n{stderr_tail}")
        self.name = name
        self.what = what
        self.returncode = returncode
        self.stderr_tail = stderr_tail


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process, all its threads included."""
    times = os.times()
    return times.user + times.system


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (``/proc``; NaN where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class Child:
    """A running child process: line I/O on its pipes, its CPU time, its stop and its failure."""

    def __init__(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        stderr: IO[bytes],
        *,
        stop_signal: signal.Signals | None,
        stop_timeout: float,
    ) -> None:
        self.name = name
        self.process = process
        self._stderr = stderr
        self._stop_signal = stop_signal
        self._stop_timeout = stop_timeout
        self._buffer = b""
        self._final_tail: str | None = None  # the tail once stopped: the file goes with the block

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the child has used so far (NaN without ``/proc``)."""
        return cpu_seconds_of(self.process.pid)

    def read_line(self, timeout: float, *, what: str = "did not answer") -> str:
        """The child's next stdout line (without its newline), waiting at most ``timeout`` seconds.

        Raises :class:`ChildError` (``what`` says what the child failed to do) when the child
        closes its stdout, exits, or writes no whole line in time; the child is stopped first.
        """
        return self._read_line_by(time.monotonic() + timeout, what, timeout)

    def _read_line_by(self, deadline: float, what: str, timeout: float) -> str:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise self.failure(f"{what} within {timeout:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:  # end of file: the child closed its stdout or exited
                raise self.failure(what)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def send_line(self, text: str) -> None:
        """Write ``text`` and a newline to the child's stdin. Raises :class:`ChildError` if it is gone."""
        assert self.process.stdin is not None, f"{self.name} was started without stdin"
        try:
            self.process.stdin.write(text.encode() + b"\n")
            self.process.stdin.flush()
        except OSError as exc:
            raise self.failure(f"closed its stdin ({exc})") from exc

    def stderr_tail(self, limit: int = STDERR_TAIL) -> str:
        """The last ``limit`` characters the child wrote to stderr (all it wrote, once stopped)."""
        if self._final_tail is not None:
            return self._final_tail[-limit:]
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def failure(self, what: str) -> ChildError:
        """Stop the child and describe its failure as a :class:`ChildError` (to raise)."""
        self.stop()
        return ChildError(self.name, what, self.process.returncode, self.stderr_tail())

    def stop(self) -> None:
        """Ask the child to stop, kill it after the stop timeout, reap it, close its pipes. Idempotent."""
        process = self.process
        if process.poll() is None:
            if self._stop_signal is not None:
                process.send_signal(self._stop_signal)
            elif process.stdin is not None:
                with suppress(OSError):
                    process.stdin.close()  # end of input: the child's signal to stop
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()
        if self._final_tail is None:
            self._final_tail = self.stderr_tail(limit=STDERR_TAIL)


@contextmanager
def start_child(
    name: str,
    command: Sequence[str],
    ready: Callable[[str], T | None],
    *,
    timeout: float,
    stdin: bool = False,
    stop_signal: signal.Signals | None = signal.SIGINT,
    stop_timeout: float = 20.0,
) -> Iterator[tuple[Child, T]]:
    """Run ``command`` for the block; yield the :class:`Child` and what ``ready`` made of its ready line.

    Each stdout line before the ready one is passed to ``ready``, which returns ``None`` to skip
    it. ``stdin`` pipes the child's stdin (for :meth:`Child.send_line`). Raises
    :class:`ChildError` ``"{name} did not start ..."`` when the child exits or prints no ready
    line within ``timeout`` seconds. The child is stopped on leaving the block, however it is left.
    """
    with tempfile.TemporaryFile("w+b") as stderr:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        child = Child(name, process, stderr, stop_signal=stop_signal, stop_timeout=stop_timeout)
        try:
            deadline = time.monotonic() + timeout
            while True:
                made = ready(child._read_line_by(deadline, "did not start", timeout))
                if made is not None:
                    break
            yield child, made
        finally:
            child.stop()


__all__ = [
    "BenchError",
    "Child",
    "ChildError",
    "cpu_seconds_of",
    "own_cpu_seconds",
    "start_child",
]
