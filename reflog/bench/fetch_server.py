"""The broker side of the fetch benchmark, run as a child process: ``python -m reflog.bench.fetch_server``.

It starts one reflog broker on OS storage in ``--dir``, appends ``--size-mib`` of 1 MiB batches to
partition ``bench-0`` (so the segment is in the page cache), and serves it on four Kafka
listeners: one per transfer path (zero-copy, copy, TLS with a throw-away trustme CA) and zero-copy
without verifying batches (Kafka's own behaviour, to price reflog's verification). A *raw*
listener in a thread of the same process sends the same segment file with a plain loop:
``os.sendfile``, ``read()`` + ``sendall()`` in 64 KiB steps, or the latter through ``ssl``.
The benchmark (the parent) is the consumer of all of them, so reflog and the raw loops run
between the same two processes.

Protocol on stdin/stdout, one JSON object per line: the server prints ``{"ready": ...}`` with
its ports and the segment's layout; then answers ``metrics`` with every listener's
:class:`~reflog.kafka.transfer.TransferMetrics`, ``cpu`` with its own CPU seconds (all threads,
nanosecond resolution), and exits on ``quit`` or end of input.
A raw connection sends one line ``<method> <bytes>\\n`` and receives that many bytes.

Failure modes: any error while starting is printed to stderr and the process exits non-zero
before printing ``ready``; the parent reports it with that stderr.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from typing import Any

import trio
import trustme

from reflog.bench.settings import MiB
from reflog.broker.api import ProduceRequest
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis
from reflog.kafka.serve import open_kafka_cluster
from reflog.kafka.server import open_kafka_listener
from reflog.kafka.transfer import TransferMode
from reflog.records import Record, build_batch
from reflog.vocabulary import TopicPartition

TOPIC = "bench"
#: Records per batch and value size: 1,024 records of 1,000 bytes, a batch just over 1 MiB.
RECORDS_PER_BATCH = 1024
VALUE_BYTES = 1000
RAW_CHUNK = 64 * 1024


def bench_batch() -> bytes:
    """One uncompressed batch of :data:`RECORDS_PER_BATCH` records of :data:`VALUE_BYTES` bytes."""
    payload = bytes((i * 31) % 251 for i in range(VALUE_BYTES))
    return build_batch([Record(key=None, value=payload)] * RECORDS_PER_BATCH)


def make_tls(directory: str) -> tuple[ssl.SSLContext, str]:
    """A server context from a fresh trustme CA, and the CA file a client must trust."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path = os.path.join(directory, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context, ca_path


# ============================================================================== raw loops
def _serve_raw(listener: socket.socket, segment: str, size: int, context: ssl.SSLContext) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            line = b""
            while not line.endswith(b"\n"):
                chunk = conn.recv(1)  # byte by byte: a TLS handshake may follow the line
                if not chunk:
                    break
                line += chunk
            if not line.endswith(b"\n"):
                continue
            method, total = line.decode().split()
            fd = os.open(segment, os.O_RDONLY)
            try:
                if method == "sendfile":
                    raw_sendfile(conn, fd, size, int(total))
                elif method == "copy":
                    raw_copy(conn, fd, size, int(total))
                elif method == "tls":
                    with context.wrap_socket(conn, server_side=True) as tls:
                        raw_copy(tls, fd, size, int(total))
            except Exception as exc:  # one failed raw transfer must not stop the raw listener
                print(f"raw {method} transfer failed: {exc!r}", file=sys.stderr)
            finally:
                os.close(fd)


def raw_sendfile(conn: socket.socket, fd: int, size: int, total: int) -> None:
    """``os.sendfile`` of the file's first ``size`` bytes, over and over, until ``total`` are sent."""
    sent = 0
    while sent < total:
        offset = sent % size
        n = os.sendfile(conn.fileno(), fd, offset, min(size - offset, total - sent))
        if n == 0:
            raise OSError("sendfile sent nothing")
        sent += n


def raw_copy(conn: socket.socket, fd: int, size: int, total: int) -> None:
    """``readv`` 64 KiB into one buffer, ``sendall`` it; repeat until ``total`` bytes are sent."""
    buf = bytearray(RAW_CHUNK)
    view = memoryview(buf)
    sent = 0
    while sent < total:
        offset = sent % size
        n = os.preadv(fd, [view[: min(RAW_CHUNK, size - offset, total - sent)]], offset)
        conn.sendall(view[:n])
        sent += n


# ============================================================================== the broker
def _first_segment(directory: str) -> str:
    """The first segment file of partition ``bench-0`` under ``directory`` (any broker's data dir).

    Raises ``RuntimeError`` unless exactly one is found (never another log, such as the
    controller's metadata log, whose tiny segment would make the raw loops meaningless).
    """
    pattern = os.path.join(directory, "**", f"{TOPIC}-0", "00000000000000000000.log")
    found = glob.glob(pattern, recursive=True)
    if len(found) != 1:
        raise RuntimeError(f"expected one first segment of {TOPIC}-0 under {directory}, found {found}")
    return found[0]


async def serve(directory: str, size_mib: int) -> None:
    context, ca_path = make_tls(directory)
    async with open_kafka_cluster(1, storage="os", data_dir=os.path.join(directory, "data")) as kafka:
        cluster = kafka.cluster
        await cluster.create_topic(TOPIC, partitions=1, replication_factor=1)
        broker = cluster.broker(1).broker
        tp = TopicPartition(TOPIC, 0)
        batch = bench_batch()
        for _ in range(max(1, size_mib * MiB // len(batch))):
            response = await broker.produce(ProduceRequest(tp, batch, acks=1))
            if response.error is not Errors.NONE:
                raise RuntimeError(f"appending the bench data failed: {response.error.name}")
        segment_path = _first_segment(directory)
        size = os.path.getsize(segment_path)
        listeners: dict[str, int] = {}
        apis: dict[str, KafkaApis] = {}
        async with trio.open_nursery() as nursery:
            variants = [(mode.value, mode, True) for mode in TransferMode]
            variants.append(("zero-copy-unverified", TransferMode.ZERO_COPY, False))
            for name, mode, verify in variants:
                api = KafkaApis(
                    cluster, 1, kafka.listed, kafka.groups[1], transfer=mode, verify_fetches=verify
                )
                apis[name] = api
                listeners[name] = await open_kafka_listener(
                    nursery,
                    api,
                    lambda: True,
                    ssl_context=context if mode is TransferMode.TLS else None,
                )
            raw = socket.create_server(("127.0.0.1", 0))
            listeners["raw"] = raw.getsockname()[1]
            threading.Thread(target=_serve_raw, args=(raw, segment_path, size, context), daemon=True).start()
            _say(
                {
                    "ready": True,
                    "pid": os.getpid(),
                    "ports": listeners,
                    "ca": ca_path,
                    "segment_bytes": size,
                    "batch_bytes": len(batch),
                    "records_per_batch": RECORDS_PER_BATCH,
                    "topic": TOPIC,
                }
            )
            while True:
                line = await trio.to_thread.run_sync(sys.stdin.readline)
                command = line.strip()
                if command == "metrics":
                    _say({name: api.transfer_metrics.as_dict() for name, api in apis.items()})
                elif command == "cpu":
                    # CLOCK_PROCESS_CPUTIME_ID, every thread: /proc's 10 ms ticks cannot resolve
                    # the few milliseconds a quick raw sendfile loop costs.
                    _say({"cpu_seconds": time.process_time()})
                elif command in ("quit", ""):
                    break
            raw.close()
            nursery.cancel_scope.cancel()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="scratch directory (default: a new temporary one)")
    parser.add_argument("--size-mib", type=int, default=512, help="MiB of batches to serve")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    directory = args.dir or tempfile.mkdtemp(prefix="reflog-fetch-bench-")
    trio.run(serve, directory, args.size_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
