"""Committed offsets survive ``reflog serve --storage os`` restarting (PRO-127): a confluent-kafka
group commits, the process is stopped (SIGTERM) or killed (SIGKILL) and served again on the same
directory, and a new consumer of the group resumes where the group had committed."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer  # type: ignore[import-untyped]
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[import-untyped]

from tests.kafka.test_serve_restart import _serve, _stop

TOPIC = "paid"
GROUP = "ledger"
RECORDS = 20
COMMITTED = 12


def _consumer(bootstrap: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([TOPIC])
    return consumer


def _offsets(consumer: Consumer, count: int) -> list[int]:
    got: list[int] = []
    deadline = time.monotonic() + 90
    while len(got) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message.offset())
    return got


@pytest.mark.req("PRO-127")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_group_resumes_from_its_committed_offsets_after_reflog_serve_restarts(
    tmp_path: Path, how: signal.Signals
) -> None:
    process, bootstrap = _serve(tmp_path)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 3)])[TOPIC].result(30)
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(RECORDS):
            producer.produce(TOPIC, b"p%d" % i)
        assert producer.flush(60) == 0
        consumer = _consumer(bootstrap)
        assert _offsets(consumer, COMMITTED) == list(range(COMMITTED))
        consumer.commit(asynchronous=False)
        consumer.close()
    finally:
        _stop(process, how)

    process, bootstrap = _serve(tmp_path)
    try:
        consumer = _consumer(bootstrap)
        resumed = _offsets(consumer, RECORDS - COMMITTED)
        consumer.close()
        assert resumed == list(range(COMMITTED, RECORDS))
    finally:
        _stop(process, signal.SIGTERM)
