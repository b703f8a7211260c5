"""confluent-kafka (librdkafka) as the produce section's real client (PERF-10, PERF-12).

:func:`confluent_config` is one case's librdkafka settings (``acks=all``; batched with
``linger.ms`` :data:`LINGER_MS` and ``batch.size`` 1 MiB, or one record per batch), and
:class:`ConfluentRun` one producer for one case: an untimed warm-up, then timed runs that count
delivery reports. Failure modes: a delivery report with an error, or fewer reports than records
within :data:`FLUSH_TIMEOUT`, raise :class:`~reflog.bench.child.BenchError`; importing
confluent-kafka (the optional ``bench`` extra) happens only when a run is made.
"""

from __future__ import annotations

import time
from typing import Any, Final

from reflog.bench.child import BenchError
from reflog.bench.settings import MiB

#: Seconds ``flush()`` may take to collect every delivery report of one run.
FLUSH_TIMEOUT: Final = 120.0
LINGER_MS: Final = 10


def confluent_config(bootstrap: str, *, batched: bool, codec: str) -> dict[str, str | int | bool]:
    """The librdkafka settings of one case: ``acks=all``; batched or one record per batch."""
    config: dict[str, str | int | bool] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "compression.type": codec,
        "enable.idempotence": False,
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 4 * MiB,  # 4 GiB: the queue never pushes back in a run
        "message.max.bytes": 2 * MiB,  # above batch.size, so batch.size is what closes a batch
    }
    if batched:
        config.update({"linger.ms": LINGER_MS, "batch.size": MiB, "batch.num.messages": 1_000_000})
    else:
        config.update({"linger.ms": 0, "batch.num.messages": 1})
    return config


class ConfluentRun:
    """One confluent-kafka producer for one case: a warm-up, then timed runs of ``records`` each."""

    def __init__(self, bootstrap: str, topic: str, *, batched: bool, codec: str) -> None:
        from confluent_kafka import Producer  # noqa: PLC0415 - the optional bench dependency

        self.topic = topic
        self.producer = Producer(confluent_config(bootstrap, batched=batched, codec=codec))
        self.acknowledged = 0
        self.errors: list[str] = []

    def _on_delivery(self, error: Any, _message: Any) -> None:
        if error is None:
            self.acknowledged += 1
        else:
            self.errors.append(str(error))

    def _check(self, sent: int, left: int) -> None:
        if self.errors or left or self.acknowledged != sent:
            raise BenchError(
                f"confluent-kafka: {self.acknowledged} of {sent} records acknowledged, {left} still "
                f"queued after {FLUSH_TIMEOUT:.0f} s, {len(self.errors)} delivery errors: {self.errors[:3]}"
            )

    def warm_up(self, value: bytes) -> None:
        """Produce one record (auto-creates the topic, finds its leader); not timed."""
        self.acknowledged = 0
        self.producer.produce(self.topic, value, on_delivery=self._on_delivery)
        self._check(1, self.producer.flush(FLUSH_TIMEOUT))

    def seconds(self, value: bytes, records: int) -> float:
        """Seconds from the first ``produce()`` until ``flush()`` returned with every record acked.

        Raises :class:`BenchError` when a delivery report carries an error or reports are missing.
        """
        self.acknowledged = 0
        produce, poll, topic, on_delivery = (
            self.producer.produce,
            self.producer.poll,
            self.topic,
            self._on_delivery,
        )
        t0 = time.perf_counter()
        for n in range(records):
            try:
                produce(topic, value, on_delivery=on_delivery)
            except BufferError:  # the local queue is full: serve delivery reports, then retry
                poll(0.01)
                produce(topic, value, on_delivery=on_delivery)
            if not n & 0x3FF:
                poll(0)
        left = self.producer.flush(FLUSH_TIMEOUT)
        elapsed = time.perf_counter() - t0
        self._check(records, left)
        return elapsed

    def close(self) -> None:
        self.producer.flush(FLUSH_TIMEOUT)
        self.producer.close()


__all__ = ["FLUSH_TIMEOUT", "LINGER_MS", "ConfluentRun", "confluent_config"]
