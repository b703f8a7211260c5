"""The fetch section of ``reflog bench`` (PERF-7): the three transfer paths against raw loops.

A broker runs in a child process (:mod:`reflog.bench.fetch_server`) with the segment in the page
cache; this process is the consumer. For each of seven methods (raw ``sendfile``, reflog
zero-copy verified and not, raw read+send, reflog copy, raw ``ssl``, reflog TLS) it moves the
same number of bytes and measures throughput (MiB/s of records received) and the broker
process's CPU seconds per
GiB (user + system from ``/proc/<pid>/stat``). The consumer reads each response into a 1 MiB
buffer and throws it away, like ``../shared/bench/sendfile.py``; it does not decode records. On
a machine with two or more CPUs the broker is pinned to CPU 0 and the consumer to CPU 1.

The child runs on the bench's one harness (:mod:`reflog.bench.child`). Failure modes:
:class:`~reflog.bench.child.ChildError` (with its stderr tail) when the child does not start or
does not answer; :class:`~reflog.bench.child.BenchError` when a fetch returns no records or a
connection closes early. The child is always stopped and reaped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import struct
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from reflog.bench.child import BenchError, Child, start_child
from reflog.bench.results import Figure, Section, Target, figure_from_runs
from reflog.bench.settings import BenchSettings, GiB, MiB, Progress

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer import FetchRequest

_SIZE = struct.Struct(">i")

#: (key, label, how it is measured) in the order the table and plot show them.
METHODS = (
    ("raw_sendfile", "raw loop", "raw"),
    ("zero_copy", "reflog", "zero-copy"),
    ("zero_copy_unverified", "reflog, unverified as in Kafka", "zero-copy-unverified"),
    ("raw_copy", "raw loop", "raw"),
    ("copy", "reflog", "copy"),
    ("raw_tls", "raw loop", "raw"),
    ("tls", "reflog", "tls"),
)
#: The plot's x category of each method: a path with its raw loop beside it.
_GROUP = {
    "raw_sendfile": "zero-copy vs os.sendfile",
    "zero_copy": "zero-copy vs os.sendfile",
    "zero_copy_unverified": "zero-copy vs os.sendfile",
    "raw_copy": "copy vs read+send",
    "copy": "copy vs read+send",
    "raw_tls": "TLS vs ssl loop",
    "tls": "TLS vs ssl loop",
}
_RAW_METHOD = {"raw_sendfile": "sendfile", "raw_copy": "copy", "raw_tls": "tls"}
_BASELINE = {
    "zero_copy": "raw_sendfile",
    "zero_copy_unverified": "raw_sendfile",
    "copy": "raw_copy",
    "tls": "raw_tls",
}
_TPUT_TARGET = {
    "zero_copy": Target("min", 0.9),
    "zero_copy_unverified": Target("min", 0.9),
    "tls": Target("min", 0.9),
}
_CPU_TARGET = {"zero_copy": Target("max", 1.2), "zero_copy_unverified": Target("max", 1.2)}


# ============================================================================== the child
class FetchServer:
    """The child broker process: its ports, the segment's layout, its CPU time."""

    def __init__(self, child: Child, ready: dict[str, Any]) -> None:
        self.child = child
        self.ports: dict[str, int] = ready["ports"]
        self.ca: str = ready["ca"]
        self.segment_bytes: int = ready["segment_bytes"]
        self.batch_bytes: int = ready["batch_bytes"]
        self.records_per_batch: int = ready["records_per_batch"]
        self.topic: str = ready["topic"]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the child has used so far, as it measures them itself
        (``/proc`` counts 10 ms ticks, too coarse for the few milliseconds of a quick raw loop)."""
        self.child.send_line("cpu")
        answer: dict[str, float] = json.loads(self.child.read_line(30.0))
        return answer["cpu_seconds"]

    def metrics(self) -> dict[str, Any]:
        """Every listener's transfer metrics (PERF-1)."""
        self.child.send_line("metrics")
        result: dict[str, Any] = json.loads(self.child.read_line(30.0))
        return result


def _ready(line: str) -> dict[str, Any] | None:
    """The ``{"ready": ...}`` object the server prints once it serves; ``None`` for any other line."""
    if not line.startswith("{"):
        return None
    message: dict[str, Any] = json.loads(line)
    return message if message.get("ready") else None


@contextmanager
def fetch_server(directory: str, size_mib: int, cpu: int | None) -> Iterator[FetchServer]:
    """Start :mod:`reflog.bench.fetch_server` serving ``size_mib`` MiB from ``directory``.

    Raises :class:`~reflog.bench.child.ChildError` with its stderr tail when it does not get
    ready within 300 s. On leaving the block its stdin is closed (its signal to quit); it is
    killed if it has not exited 10 s later.
    """
    command = [
        sys.executable,
        "-m",
        "reflog.bench.fetch_server",
        "--dir",
        directory,
        "--size-mib",
        str(size_mib),
    ]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    started = start_child(
        "the fetch bench server",
        command,
        _ready,
        timeout=300.0,
        stdin=True,
        stop_signal=None,
        stop_timeout=10.0,
    )
    with started as (child, ready):
        yield FetchServer(child, ready)


# ============================================================================== consumers
def _connect(port: int, tls_ca: str | None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls_ca is None:
        return sock
    return ssl.create_default_context(cafile=tls_ca).wrap_socket(sock, server_hostname="localhost")


def _recv_exactly(sock: socket.socket, view: memoryview, n: int) -> None:
    while n:
        got = sock.recv_into(view[: min(n, view.nbytes)])
        if got == 0:
            raise BenchError("the broker closed the connection mid-response")
        n -= got


def raw_receive(server: FetchServer, method: str, total: int) -> None:
    """Receive ``total`` bytes of the segment from the raw loop ``method``."""
    plain = _connect(server.ports["raw"], None)
    plain.sendall(f"{method} {total}\n".encode())  # in the clear, before any TLS handshake
    sock = plain
    if method == "tls":
        sock = ssl.create_default_context(cafile=server.ca).wrap_socket(plain, server_hostname="localhost")
    with sock:
        _recv_exactly(sock, memoryview(bytearray(MiB)), total)


def fetch_message(topic: str, offset: int, max_bytes: int) -> Any:
    """A consumer's Fetch v11 request (kafka-python's message) for partition 0 of ``topic``, no waiting."""
    cls = FetchRequest[11]
    partition = cls.FetchTopic.FetchPartition(
        partition=0,
        current_leader_epoch=-1,
        fetch_offset=offset,
        log_start_offset=-1,
        partition_max_bytes=max_bytes,
    )
    return cls(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=max_bytes,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[cls.FetchTopic(topic=topic, partitions=[partition])],
        forgotten_topics_data=[],
        rack_id="",
    )


def fetch_request(topic: str, offset: int, max_bytes: int, correlation_id: int) -> bytes:
    """:func:`fetch_message`, framed with its request header, ready to send."""
    request = fetch_message(topic, offset, max_bytes)
    request.with_header(correlation_id=correlation_id, client_id="reflog-bench")
    return bytes(request.encode(version=11, header=True, framed=True))


def fetch_receive(server: FetchServer, mode: str, total: int, fetch_bytes: int) -> None:
    """Fetch ``total`` bytes of records through reflog's ``mode`` listener, wrapping at the log end.

    Responses are read into a 1 MiB buffer and not decoded: every batch has the same size, so
    the record bytes of a response are ``size // batch_bytes`` whole batches.
    """
    batches_in_log = server.segment_bytes // server.batch_bytes
    view = memoryview(bytearray(MiB))
    got = offset = 0
    correlation = 0
    with _connect(server.ports[mode], server.ca if mode == "tls" else None) as sock:
        while got < total:
            correlation += 1
            sock.sendall(fetch_request(server.topic, offset, fetch_bytes, correlation))
            _recv_exactly(sock, view, 4)
            (size,) = _SIZE.unpack_from(view)
            _recv_exactly(sock, view, size)
            batches = size // server.batch_bytes
            if batches == 0:
                raise BenchError(f"a {mode} fetch at offset {offset} returned no records ({size} bytes)")
            got += batches * server.batch_bytes
            offset += batches * server.records_per_batch
            if offset >= batches_in_log * server.records_per_batch:
                offset = 0


# ============================================================================== the section
@contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _cpus() -> tuple[int | None, int | None]:
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _path_detail(m: dict[str, Any] | None) -> dict[str, float | int | str]:
    """A reflog listener's transfer metrics per byte sent (nothing for a raw loop)."""
    if m is None:
        return {}
    sent = max(1, m["payload-bytes-sent"])
    return {
        "payload copies per byte sent": m["payload-bytes-copied"] / sent,
        "header bytes copied per MiB sent": m["header-bytes-copied"] * MiB / sent,
        **{f"{name} calls per GiB sent": n * GiB / sent for name, n in m["syscalls"].items()},
    }


def fetch_section(settings: BenchSettings, progress: Progress) -> Section:
    """Measure the seven methods; see the module docstring (run time: specs/performance.md)."""
    size_mib = 64 if settings.quick else 512
    total = (64 if settings.quick else 1024) * MiB
    fetch_bytes = (16 if settings.quick else 64) * MiB
    directory = os.path.join(settings.directory, "fetch")
    os.makedirs(directory, exist_ok=True)
    server_cpu, client_cpu = _cpus()
    tput: dict[str, list[float]] = {k: [] for k, _, _ in METHODS}
    cpu: dict[str, list[float]] = {k: [] for k, _, _ in METHODS}
    try:
        progress(f"writing {size_mib} MiB for the broker to serve")
        with fetch_server(directory, size_mib, server_cpu) as server, _pinned(client_cpu):
            runners: dict[str, Callable[[], None]] = {}
            for key, _, how in METHODS:
                if how == "raw":
                    runners[key] = lambda key=key: raw_receive(server, _RAW_METHOD[key], total)  # type: ignore[misc]
                else:
                    runners[key] = lambda how=how: fetch_receive(server, how, total, fetch_bytes)  # type: ignore[misc]
            for key, label, _ in METHODS:  # one warm-up pass each, not measured
                progress(f"warming up {_GROUP[key]}: {label}")
                runners[key]()
            for run in range(settings.repeats):
                for key, label, _ in METHODS:
                    progress(f"{_GROUP[key]}: {label}, run {run + 1} of {settings.repeats}")
                    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
                    runners[key]()
                    t1, cpu1 = time.perf_counter(), server.cpu_seconds()
                    tput[key].append(total / MiB / (t1 - t0))
                    cpu[key].append((cpu1 - cpu0) / (total / GiB))
            metrics = server.metrics()
            segment_mib = server.segment_bytes / MiB
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    figures: list[Figure] = []
    measures = (
        ("mib_s", "MiB/s", tput, _TPUT_TARGET, True),
        ("cpu_s_per_gib", "s/GiB", cpu, _CPU_TARGET, False),
    )
    for suffix, unit, values, targets, higher_is_better in measures:
        for key, label, how in METHODS:
            figures.append(
                figure_from_runs(
                    f"{key}_{suffix}",
                    _GROUP[key],
                    label,
                    values[key],
                    unit,
                    baseline=f"{_BASELINE[key]}_{suffix}" if key in _BASELINE else None,
                    target=targets.get(key),
                    higher_is_better=higher_is_better,
                    detail=_path_detail(metrics.get(how)) if suffix == "mib_s" else {},
                )
            )
    notes = (
        f"{total / MiB:,.0f} MiB per run from a {segment_mib:,.0f} MiB segment in the page cache; "
        f"reflog fetches up to {fetch_bytes // MiB} MiB per request; median of {settings.repeats} run(s).",
        "Each reflog path is divided by the raw loop doing the same job between the same two processes: "
        "zero-copy by os.sendfile, copy by read+send, TLS by an ssl socket loop.",
        "Zero-copy verifies every batch's CRC-32C in place (mmap) before sending it; Kafka does not. "
        "The unverified row is Kafka's behaviour, so the difference between the two is the price "
        "of never serving corrupt bytes.",
        "On loopback the receiver copies every byte whatever the sender does, so the zero-copy gain is "
        "broker CPU per GiB more than throughput.",
    )
    return Section(
        "fetch", "Fetch: transfer paths against raw loops (PERF-7)", tuple(figures), notes
    ).resolve()


__all__ = ["FetchServer", "fetch_message", "fetch_request", "fetch_section", "fetch_server"]
