"""``reflog serve --storage os`` restarted under confluent-kafka: SIGTERM and SIGKILL (PRO-60, PRO-61).

A separate process, real files and sockets, an unchanged librdkafka client. Before the restart:
a topic with configs, and idempotent ``acks=all`` sends whose delivery reports are kept. After it:
the topic and its configs are back (``max.message.bytes`` still refuses a large record), every
acknowledged record is read back exactly once, and a new idempotent producer is neither fenced nor
answered as a duplicate of an old one (CTL-27).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # type: ignore[import-untyped]
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[import-untyped]

TOPIC = "restarted"
PARTITIONS = 2
MAX_MESSAGE_BYTES = 4096
SERVE = ["--port", "0", "--brokers", "3", "--default-replication-factor", "3"]


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "reflog", "serve", "--storage", "os", "--data-dir", str(data_dir), *SERVE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("bootstrap: "), line + (process.stderr.read() if process.stderr else "")
    return process, line.split()[1]


def _produce(bootstrap: str, values: list[bytes]) -> tuple[set[bytes], list[Any]]:
    delivered: set[bytes] = set()
    errors: list[Any] = []

    def report(error: Any, message: Any) -> None:
        if error is None:
            delivered.add(message.value())
        else:
            errors.append(error)

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    for i, value in enumerate(values):
        producer.produce(TOPIC, value, key=b"k%d" % (i % 8), on_delivery=report)
        producer.poll(0)
    assert producer.flush(90) == 0
    return delivered, errors


def _too_large_is_refused(bootstrap: str) -> bool:
    outcome: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 30_000})
    producer.produce(TOPIC, bytes(3 * MAX_MESSAGE_BYTES), on_delivery=lambda e, m: outcome.append(e))
    producer.flush(60)
    return len(outcome) == 1 and outcome[0] is not None


def _consume_everything(bootstrap: str, expected: int) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "restart-check", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    seen: list[bytes] = []
    deadline = time.monotonic() + 90
    while len(seen) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error() is None:
            seen.append(message.value())
        elif message.error().code() != KafkaError._PARTITION_EOF:
            continue  # leaders still moving after the restart: librdkafka retries
    consumer.close()
    return seen


def _stop(process: subprocess.Popen[str], how: signal.Signals) -> str:
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    if how is signal.SIGTERM:
        assert process.returncode == 0, stderr
    return stderr


@pytest.mark.req("PRO-60", "PRO-61", "CTL-26", "CTL-27")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_restarted_reflog_serve_has_its_topics_configs_and_every_acknowledged_record(
    tmp_path: Path, how: signal.Signals
) -> None:
    process, bootstrap = _serve(tmp_path)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        created = admin.create_topics(
            [
                NewTopic(
                    TOPIC,
                    PARTITIONS,
                    3,
                    config={"min.insync.replicas": "2", "max.message.bytes": str(MAX_MESSAGE_BYTES)},
                )
            ]
        )
        created[TOPIC].result(30)
        before, errors = _produce(bootstrap, [b"before-%03d" % i for i in range(150)])
        assert not errors and len(before) == 150
        assert _too_large_is_refused(bootstrap)
    finally:
        stderr = _stop(process, how)
    if how is signal.SIGTERM:
        assert "SIGTERM: shutting down cleanly" in stderr
        markers = sorted(tmp_path.glob("broker-*/data/.kafka_cleanshutdown"))
        assert len(markers) == 3, stderr

    process, bootstrap = _serve(tmp_path)
    try:
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
        assert TOPIC in metadata.topics
        assert len(metadata.topics[TOPIC].partitions) == PARTITIONS
        after, errors = _produce(bootstrap, [b"after-%03d" % i for i in range(50)])
        assert not errors and len(after) == 50  # a new idempotent producer: not fenced, not a duplicate
        assert _too_large_is_refused(bootstrap)  # the topic's config came back with it
        seen = _consume_everything(bootstrap, len(before) + len(after))
        assert sorted(seen) == sorted(before | after)  # every acknowledged record, exactly once
    finally:
        _stop(process, signal.SIGTERM)


@pytest.mark.req("PRO-61")
def test_sigint_stops_a_reflog_serve_started_in_the_background(tmp_path: Path) -> None:
    """A shell's background job starts with SIGINT ignored; reflog serve still stops cleanly on it."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reflog",
            "serve",
            "--storage",
            "os",
            "--data-dir",
            str(tmp_path),
            "--port",
            "0",
            "--brokers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("bootstrap: ")
    stderr = _stop(process, signal.SIGINT)
    assert process.returncode == 0, stderr
    assert "SIGINT: shutting down cleanly" in stderr
    assert (tmp_path / "broker-1" / "data" / ".kafka_cleanshutdown").exists()
