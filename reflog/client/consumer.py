"""A consumer with explicit partition assignment, long-polling fetches, never above the HW.

Positions start where :meth:`Consumer.seek`, :meth:`Consumer.seek_to_beginning` or
:meth:`Consumer.seek_to_end` put them. :meth:`Consumer.poll` fetches from each assigned
partition's leader (``fetch.max.wait.ms``, ``fetch.min.bytes``) and returns the records in
offset order; the broker only serves records below the high watermark.
"""

from __future__ import annotations

import attrs
import trio

from reflog.broker.api import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ConsumerFetchRequest, ListOffsetsRequest
from reflog.broker.peers import Peers
from reflog.client._metadata import LeaderCache
from reflog.errors import CorruptRecordError, Errors
from reflog.net.errors import NetError
from reflog.net.sim import SimNetwork
from reflog.records import decode_batch
from reflog.vocabulary import TopicPartition, node_name


@attrs.frozen
class ConsumerRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


class Consumer:
    """Reads assigned partitions; build it with :meth:`reflog.cluster.Cluster.consumer`."""

    def __init__(
        self,
        network: SimNetwork,
        node: str,
        nursery: trio.Nursery,
        *,
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        max_partition_fetch_bytes: int = 1 << 20,
        retry_backoff_ms: int = 100,
    ) -> None:
        self.node = node
        self._peers = Peers(network, node, nursery)
        self._leaders = LeaderCache(self._peers)
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_min_bytes = fetch_min_bytes
        self.max_partition_fetch_bytes = max_partition_fetch_bytes
        self.retry_backoff_ms = retry_backoff_ms
        self.positions: dict[TopicPartition, int] = {}

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions.setdefault(tp, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def _list_offset(self, tp: TopicPartition, timestamp: int) -> int:
        while True:
            leader = await self._leaders.leader(tp)
            if leader >= 0:
                try:
                    response = await self._peers.call(
                        node_name(leader), ListOffsetsRequest(tp, timestamp), timeout=5.0
                    )
                    if response.error is Errors.NONE:
                        return response.offset
                except NetError:
                    pass
            await self._leaders.refresh()
            await trio.sleep(0.1)

    async def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.positions[tp] = await self._list_offset(tp, EARLIEST_TIMESTAMP)

    async def seek_to_end(self, tp: TopicPartition) -> None:
        self.positions[tp] = await self._list_offset(tp, LATEST_TIMESTAMP)

    async def poll(self) -> list[ConsumerRecord]:
        """One fetch per assigned partition; the records after each position, in offset order."""
        out: list[ConsumerRecord] = []
        for tp, position in sorted(self.positions.items()):
            leader = await self._leaders.leader(tp)
            if leader < 0:
                await trio.sleep(self.retry_backoff_ms / 1000)  # no leader: do not spin
                continue
            request = ConsumerFetchRequest(
                tp, position, self.max_partition_fetch_bytes, self.fetch_max_wait_ms, self.fetch_min_bytes
            )
            try:
                response = await self._peers.call(
                    node_name(leader), request, timeout=self.fetch_max_wait_ms / 1000 + 30
                )
            except NetError:
                await self._leaders.refresh()
                await trio.sleep(self.retry_backoff_ms / 1000)
                continue
            if response.error is not Errors.NONE:
                await self._leaders.refresh()
                await trio.sleep(self.retry_backoff_ms / 1000)
                continue
            out.extend(self._records(tp, position, response.records))
            if out and out[-1].partition == tp.partition and out[-1].topic == tp.topic:
                self.positions[tp] = out[-1].offset + 1
        return out

    @staticmethod
    def _records(tp: TopicPartition, position: int, data: bytes) -> list[ConsumerRecord]:
        records: list[ConsumerRecord] = []
        offset = 0
        try:
            while offset < len(data):
                batch = decode_batch(data, offset)
                for record in batch.records:
                    if record.offset is not None and record.offset >= position:
                        records.append(
                            ConsumerRecord(
                                tp.topic,
                                tp.partition,
                                record.offset,
                                record.key,
                                record.value,
                                record.timestamp or 0,
                            )
                        )
                offset += batch.header.size
        except CorruptRecordError:
            pass  # check.crcs: never hand a corrupt record to the application
        return records
