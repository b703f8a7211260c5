"""Clients that write every operation into a :class:`~faults.history.History`, and the final state.

:class:`RecordingProducer` and :class:`RecordingConsumer` wrap reflog's clients: each ``send`` or
``poll`` is recorded as invoked, then completed as ``ok``, ``fail`` (definite) or ``info``
(indeterminate), with trio's (simulated) time. A send records its producer's ``acks``; an
``acks=0`` send that went out (``SENT``) completes as ``info``: it may or may not be in the log.
Values are text (UTF-8) so histories stay readable.
:func:`final_state` reads every replica's log and HW of one partition for the checker.
"""

from __future__ import annotations

import trio

from faults.checker import ReplicaState
from faults.history import History, OpType, acks_name
from reflog.client import Consumer, ConsumerRecord, Producer, SendResult, SendStatus
from reflog.cluster import Cluster
from reflog.errors import CorruptRecordError
from reflog.records import decode_batch
from reflog.vocabulary import TopicPartition

_OUTCOME: dict[SendStatus, OpType] = {
    SendStatus.OK: "ok",
    SendStatus.SENT: "info",  # acks=0: written to the network, never acknowledged
    SendStatus.FAILED: "fail",
    SendStatus.INDETERMINATE: "info",
}


class RecordingProducer:
    """A producer whose sends are recorded as process ``process``."""

    def __init__(self, producer: Producer, history: History, process: str) -> None:
        self.producer = producer
        self.history = history
        self.process = process

    async def send(self, topic: str, value: str, *, partition: int = 0) -> SendResult:
        op = self.history.invoke(
            self.process,
            "send",
            {
                "topic": topic,
                "partition": partition,
                "value": value,
                "acks": acks_name(self.producer.config.acks),
            },
            trio.current_time(),
        )
        result = await self.producer.send(topic, value.encode(), partition=partition)
        error = None if result.error is None else result.error.name
        self.history.complete(
            op, _OUTCOME[result.status], {"offset": result.offset, "error": error}, trio.current_time()
        )
        return result


class RecordingConsumer:
    """A consumer whose polls are recorded (every record seen, with its offset)."""

    def __init__(self, consumer: Consumer, history: History, process: str) -> None:
        self.consumer = consumer
        self.history = history
        self.process = process

    async def poll(self) -> list[ConsumerRecord]:
        op = self.history.invoke(self.process, "poll", {}, trio.current_time())
        records = await self.consumer.poll()
        seen = [[r.partition, r.offset, (r.value or b"").decode()] for r in records]
        self.history.complete(op, "ok", {"records": seen}, trio.current_time())
        return records


def final_state(cluster: Cluster, tp: TopicPartition) -> tuple[dict[int, ReplicaState], int]:
    """Every running replica's log (offset, text value) and HW for ``tp``, and the controller's leader.

    A replica's records stop at the first batch that fails its CRC check (``corrupt_at``).
    """
    replicas: dict[int, ReplicaState] = {}
    for handle in cluster.brokers:
        replica = handle.replica(tp)
        if replica is None:
            continue
        records: list[tuple[int, str]] = []
        corrupt_at: int | None = None
        batches = replica.batches()
        while True:
            try:
                raw = next(batches, None)
            except CorruptRecordError:
                corrupt_at = records[-1][0] + 1 if records else replica.log_start_offset
                break
            if raw is None:
                break
            for record in decode_batch(raw).records:
                assert record.offset is not None
                records.append((record.offset, (record.value or b"").decode(errors="replace")))
        replicas[handle.broker_id] = ReplicaState(records, replica.high_watermark, corrupt_at)
    return replicas, cluster.controller.partition(tp.topic, tp.partition).leader
