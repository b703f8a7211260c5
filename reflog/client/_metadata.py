"""Leader lookup for clients: the controller's partition metadata, refreshed on demand."""

from __future__ import annotations

from reflog.broker.api import MetadataRequest
from reflog.broker.peers import Peers
from reflog.net.errors import NetError
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import CONTROLLER_NODE, TopicPartition


class LeaderCache:
    """The last known leader of each partition; :meth:`refresh` asks the controller again."""

    def __init__(self, peers: Peers) -> None:
        self._peers = peers
        self._partitions: dict[TopicPartition, PartitionMetadata] = {}

    async def refresh(self) -> None:
        """Fetch metadata; a network error leaves the cache as it was."""
        try:
            response = await self._peers.call(CONTROLLER_NODE, MetadataRequest(), timeout=5.0)
        except NetError:
            return
        self._partitions = {p.topic_partition: p for p in response.partitions}

    async def leader(self, tp: TopicPartition) -> int:
        """The leader of ``tp`` (refreshing once if unknown), or -1."""
        if tp not in self._partitions or self._partitions[tp].leader < 0:
            await self.refresh()
        metadata = self._partitions.get(tp)
        return -1 if metadata is None else metadata.leader

    def partitions_of(self, topic: str) -> list[TopicPartition]:
        return sorted(tp for tp in self._partitions if tp.topic == topic)
