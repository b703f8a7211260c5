"""The requests and responses of the in-process cluster, as frozen values.

Clients, brokers and the controller exchange these over :mod:`reflog.net.rpc` on the
simulated network. Names follow Kafka's APIs (Produce, Fetch, ListOffsets, Metadata,
InitProducerId; and the controller's BrokerRegistration, BrokerHeartbeat, AlterPartition,
CreateTopics). Replication fetches reuse :class:`reflog.replication.messages.FetchRequest`.
"""

from __future__ import annotations

import enum
from typing import Literal

import attrs

from reflog.errors import Errors
from reflog.log import FileRegion
from reflog.records import InPlaceCheck
from reflog.replication.controller_values import BrokerHeartbeatReply, ElectionOutcome
from reflog.replication.messages import PartitionMetadata
from reflog.requests import Request
from reflog.vocabulary import TopicPartition

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1


# ---------------------------------------------------------------------------------- clients
@attrs.frozen
class ProduceResponse:
    topic_partition: TopicPartition
    error: Errors
    base_offset: int = -1
    error_message: str | None = None
    record_errors: tuple[tuple[int, str | None], ...] = ()
    """Kafka's ``RecordErrors`` (Produce v8+, KIP-467): each refused record's index and why."""
    #: The leader's append time for a ``LogAppendTime`` topic (LOG-29), else -1.
    log_append_time_ms: int = -1


class FetchRead(enum.Enum):
    """How a consumer fetch hands back its records.

    ``COPY``: the bytes, read and verified (the default). ``IN_PLACE``: the segment region,
    verified through views without a copy (the zero-copy path). ``REGION``: the region,
    unverified; the caller reads it into its own buffer and must verify it there.
    """

    COPY = "copy"
    IN_PLACE = "in-place"
    REGION = "region"


@attrs.frozen
class ProduceRequest(Request[ProduceResponse]):
    topic_partition: TopicPartition
    records: bytes
    acks: int
    timeout_ms: int = 30_000


@attrs.frozen
class ConsumerFetchResponse:
    """A consumer fetch's answer: ``records`` (a verified copy), or the ``region`` of the
    segment file (``in_place`` reports its in-place verification, for ``FetchRead.IN_PLACE``)."""

    topic_partition: TopicPartition
    error: Errors
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""
    region: FileRegion | None = None
    in_place: InPlaceCheck | None = None

    @property
    def size(self) -> int:
        """Bytes of records this answer carries, copied or as a region."""
        return self.region.length if self.region is not None else len(self.records)


@attrs.frozen
class ConsumerFetchRequest(Request[ConsumerFetchResponse]):
    topic_partition: TopicPartition
    fetch_offset: int
    max_bytes: int = 1 << 20
    max_wait_ms: int = 500
    min_bytes: int = 1
    read: FetchRead = FetchRead.COPY
    """How the records come back: a verified copy, or a region (verified in place, or not)."""


@attrs.frozen
class ListOffsetsResponse:
    topic_partition: TopicPartition
    error: Errors
    offset: int = -1


@attrs.frozen
class ListOffsetsRequest(Request[ListOffsetsResponse]):
    topic_partition: TopicPartition
    timestamp: int = LATEST_TIMESTAMP


@attrs.frozen
class MetadataResponse:
    brokers: tuple[int, ...]
    partitions: tuple[PartitionMetadata, ...]
    version: int = 0


@attrs.frozen
class MetadataRequest(Request[MetadataResponse]):
    pass


@attrs.frozen
class InitProducerIdResponse:
    producer_id: int
    producer_epoch: int


@attrs.frozen
class InitProducerIdRequest(Request[InitProducerIdResponse]):
    pass


# ---------------------------------------------------------------------------------- controller
@attrs.frozen
class RegisterBrokerResponse:
    error: Errors
    broker_epoch: int = -1


@attrs.frozen
class RegisterBrokerRequest(Request[RegisterBrokerResponse]):
    broker_id: int
    incarnation_id: str
    clean_shutdown: bool


@attrs.frozen
class HeartbeatResponse:
    error: Errors
    metadata_version: int = 0
    partitions: tuple[PartitionMetadata, ...] = ()
    broker_epochs: tuple[tuple[int, int], ...] = ()


@attrs.frozen
class HeartbeatRequest(Request[HeartbeatResponse]):
    broker_id: int
    broker_epoch: int
    metadata_version: int


@attrs.frozen
class ControlledShutdownRequest(Request[BrokerHeartbeatReply]):
    broker_id: int
    broker_epoch: int


@attrs.frozen
class CreateTopicResponse:
    error: Errors
    partitions: tuple[PartitionMetadata, ...] = ()
    message: str = ""


@attrs.frozen
class CreateTopicRequest(Request[CreateTopicResponse]):
    name: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int | None = None
    unclean_leader_election_enable: bool | None = None
    replica_assignment: tuple[tuple[int, ...], ...] | None = None
    """Each partition's replicas, in partition order (then ``partitions`` and
    ``replication_factor`` match it); ``None``: the controller places them."""


# ---------------------------------------------------------------------------------- topic admin
@attrs.frozen
class TopicAdminResponse:
    """The controller's answer to a deletion or partition addition: the partitions it removed or
    added, or the refusal's Kafka code and message."""

    error: Errors
    partitions: tuple[PartitionMetadata, ...] = ()
    message: str = ""


@attrs.frozen
class DeleteTopicRequest(Request[TopicAdminResponse]):
    name: str


@attrs.frozen
class CreatePartitionsRequest(Request[TopicAdminResponse]):
    name: str
    count: int
    assignment: tuple[tuple[int, ...], ...] | None = None
    validate_only: bool = False


@attrs.frozen
class ElectLeadersResponse:
    outcomes: tuple[ElectionOutcome, ...]


@attrs.frozen
class ElectLeadersRequest(Request[ElectLeadersResponse]):
    """An operator's election (``"preferred"`` or ``"unclean"``) on known partitions."""

    election: Literal["preferred", "unclean"]
    partitions: tuple[TopicPartition, ...]


@attrs.frozen
class AlterTopicConfigsResponse:
    error: Errors
    message: str = ""


@attrs.frozen
class AlterTopicConfigsRequest(Request[AlterTopicConfigsResponse]):
    """Replace a topic's whole config override set (already validated: Kafka's strings)."""

    name: str
    configs: tuple[tuple[str, str], ...]
