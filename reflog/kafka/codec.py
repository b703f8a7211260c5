"""Kafka request and response framing on top of kafka-python 3's schema-generated messages.

kafka-python 3 builds its message classes from Kafka's own JSON schemas and decodes requests as
well as responses, in pure Python (README, "Dependencies and why"). reflog uses it for the API
messages only; record batches stay reflog's own bytes (:mod:`reflog.records`), so a Fetch answer
carries the stored batches as they are.

* :func:`decode_request` turns one frame payload into a :class:`DecodedRequest`, or raises
  :class:`UnsupportedVersionError` (the header was readable, the API or version is not served)
  or :class:`MalformedRequestError` (anything else wrong with the bytes). The third-party decoder
  can fail with many exception types on hostile input; every one becomes
  ``MalformedRequestError``, so a caller needs exactly two ``except`` clauses.
* :func:`encode_response` frames a response body after its response header: v0 (the
  correlation id) below the API's flexible versions, v1 (plus an empty tagged-field section,
  KIP-482) from them on; ApiVersions answers with header v0 at every version, as Kafka does, so
  a client that does not yet know the broker's versions can read it. Request headers v1 and v2
  are decoded by kafka-python from the version's flexibility.
"""

from __future__ import annotations

import struct
import warnings
from typing import Any, Final, TypeAlias

import attrs

with warnings.catch_warnings():  # kafka-python 3 loads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import (
        AlterConfigsRequest,
        AlterConfigsResponse,
        CreatePartitionsRequest,
        CreatePartitionsResponse,
        CreateTopicsRequest,
        CreateTopicsResponse,
        DeleteGroupsRequest,
        DeleteGroupsResponse,
        DeleteRecordsRequest,
        DeleteRecordsResponse,
        DeleteTopicsRequest,
        DeleteTopicsResponse,
        DescribeClusterRequest,
        DescribeClusterResponse,
        DescribeConfigsRequest,
        DescribeConfigsResponse,
        DescribeGroupsRequest,
        DescribeGroupsResponse,
        DescribeProducersRequest,
        DescribeProducersResponse,
        DescribeTopicPartitionsRequest,
        DescribeTopicPartitionsResponse,
        ElectLeadersRequest,
        ElectLeadersResponse,
        IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse,
        ListGroupsRequest,
        ListGroupsResponse,
    )
    from kafka.protocol.consumer import (
        FetchRequest,
        FetchResponse,
        HeartbeatRequest,
        HeartbeatResponse,
        JoinGroupRequest,
        JoinGroupResponse,
        LeaveGroupRequest,
        LeaveGroupResponse,
        ListOffsetsRequest,
        ListOffsetsResponse,
        OffsetCommitRequest,
        OffsetCommitResponse,
        OffsetDeleteRequest,
        OffsetDeleteResponse,
        OffsetFetchRequest,
        OffsetFetchResponse,
        OffsetForLeaderEpochRequest,
        OffsetForLeaderEpochResponse,
        SyncGroupRequest,
        SyncGroupResponse,
    )
    from kafka.protocol.metadata import (
        ApiVersionsRequest,
        ApiVersionsResponse,
        FindCoordinatorRequest,
        FindCoordinatorResponse,
        MetadataRequest,
        MetadataResponse,
    )
    from kafka.protocol.producer import (
        InitProducerIdRequest,
        InitProducerIdResponse,
        ProduceRequest,
        ProduceResponse,
    )

from reflog.errors import ReflogError
from reflog.kafka.versions import ApiKey, served

_HEADER: Final = struct.Struct(">hhi")

KafkaMessage: TypeAlias = Any
"""A kafka-python request or response object (or one of its nested structs): kafka-python builds
these classes at run time from Kafka's schemas and ships no types, so this is the one place
where reflog's Kafka layer is untyped; every value of reflog's own is typed."""

MESSAGES: Final[dict[ApiKey, tuple[KafkaMessage, KafkaMessage]]] = {
    ApiKey.PRODUCE: (ProduceRequest, ProduceResponse),
    ApiKey.FETCH: (FetchRequest, FetchResponse),
    ApiKey.LIST_OFFSETS: (ListOffsetsRequest, ListOffsetsResponse),
    ApiKey.METADATA: (MetadataRequest, MetadataResponse),
    ApiKey.OFFSET_COMMIT: (OffsetCommitRequest, OffsetCommitResponse),
    ApiKey.OFFSET_FETCH: (OffsetFetchRequest, OffsetFetchResponse),
    ApiKey.FIND_COORDINATOR: (FindCoordinatorRequest, FindCoordinatorResponse),
    ApiKey.JOIN_GROUP: (JoinGroupRequest, JoinGroupResponse),
    ApiKey.HEARTBEAT: (HeartbeatRequest, HeartbeatResponse),
    ApiKey.LEAVE_GROUP: (LeaveGroupRequest, LeaveGroupResponse),
    ApiKey.SYNC_GROUP: (SyncGroupRequest, SyncGroupResponse),
    ApiKey.DESCRIBE_GROUPS: (DescribeGroupsRequest, DescribeGroupsResponse),
    ApiKey.LIST_GROUPS: (ListGroupsRequest, ListGroupsResponse),
    ApiKey.API_VERSIONS: (ApiVersionsRequest, ApiVersionsResponse),
    ApiKey.CREATE_TOPICS: (CreateTopicsRequest, CreateTopicsResponse),
    ApiKey.INIT_PRODUCER_ID: (InitProducerIdRequest, InitProducerIdResponse),
    ApiKey.DELETE_GROUPS: (DeleteGroupsRequest, DeleteGroupsResponse),
    ApiKey.OFFSET_DELETE: (OffsetDeleteRequest, OffsetDeleteResponse),
    ApiKey.DESCRIBE_CONFIGS: (DescribeConfigsRequest, DescribeConfigsResponse),
    ApiKey.ALTER_CONFIGS: (AlterConfigsRequest, AlterConfigsResponse),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse),
    ApiKey.DELETE_TOPICS: (DeleteTopicsRequest, DeleteTopicsResponse),
    ApiKey.DELETE_RECORDS: (DeleteRecordsRequest, DeleteRecordsResponse),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
    ApiKey.CREATE_PARTITIONS: (CreatePartitionsRequest, CreatePartitionsResponse),
    ApiKey.ELECT_LEADERS: (ElectLeadersRequest, ElectLeadersResponse),
    ApiKey.DESCRIBE_CLUSTER: (DescribeClusterRequest, DescribeClusterResponse),
    ApiKey.DESCRIBE_PRODUCERS: (DescribeProducersRequest, DescribeProducersResponse),
    ApiKey.DESCRIBE_TOPIC_PARTITIONS: (DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse),
}
"""API key -> (kafka-python request class, response class); subscript a class with a version."""


class MalformedRequestError(ReflogError):
    """A request frame that cannot be decoded: the connection that sent it is closed."""


class UnsupportedVersionError(ReflogError):
    """A readable header naming an API or version reflog does not serve."""

    def __init__(self, api_key: int, version: int, correlation_id: int) -> None:
        super().__init__(f"API key {api_key} version {version} is not served")
        self.api_key = api_key
        self.version = version
        self.correlation_id = correlation_id


@attrs.frozen
class DecodedRequest:
    """One request: its header fields and the kafka-python message (``body``)."""

    api_key: ApiKey
    version: int
    correlation_id: int
    client_id: str | None
    body: KafkaMessage


def peek_header(payload: bytes) -> tuple[int, int, int]:
    """``(api_key, version, correlation_id)``; raises :class:`MalformedRequestError` if too short."""
    if len(payload) < _HEADER.size:
        raise MalformedRequestError(f"request of {len(payload)} bytes has no header")
    api_key, version, correlation_id = _HEADER.unpack_from(payload)
    return api_key, version, correlation_id


def decode_request(payload: bytes) -> DecodedRequest:
    """Decode one frame payload (header and body). See the module docstring for the errors."""
    api_key, version, correlation_id = peek_header(payload)
    if not served(api_key, version):
        raise UnsupportedVersionError(api_key, version, correlation_id)
    key = ApiKey(api_key)
    request_class = MESSAGES[key][0]
    try:
        body = request_class.decode(payload, version=version, header=True)
    except Exception as exc:  # the decoder's errors are untyped: struct, Value, Index, Unicode...
        raise MalformedRequestError(f"{key.name} v{version}: {type(exc).__name__}: {exc}") from exc
    header = body.header
    return DecodedRequest(key, version, correlation_id, getattr(header, "client_id", None), body)


def response_class(api_key: ApiKey, version: int) -> KafkaMessage:
    """The kafka-python response class for ``api_key`` at ``version``."""
    return MESSAGES[api_key][1][version]


def flexible_response(api_key: ApiKey, version: int) -> bool:
    """Whether a response of ``api_key`` at ``version`` carries response header v1 (KIP-482).

    True for an API's flexible versions, except ApiVersions, whose response header is always
    v0 (KIP-511: the client parses it before it knows the broker's versions).
    """
    if api_key == ApiKey.API_VERSIONS:
        return False
    return bool(MESSAGES[api_key][1].flexible_version_q(version))


def encode_response(correlation_id: int, version: int, body: KafkaMessage) -> bytes:
    """The frame of a response: size, the response header (v0 or v1, see above), then the body."""
    encoded = bytes(body.encode(version=version))
    flexible = flexible_response(ApiKey(body.API_KEY), version)
    header = struct.pack(">i", correlation_id) + (b"\x00" if flexible else b"")
    return struct.pack(">i", len(encoded) + len(header)) + header + encoded


def unsupported_api_versions_response(correlation_id: int, table: dict[ApiKey, tuple[int, int]]) -> bytes:
    """ApiVersions in the v0 format with ``UNSUPPORTED_VERSION`` and the whole table (KIP-511)."""
    cls = response_class(ApiKey.API_VERSIONS, 0)
    keys = [cls.ApiVersion(api_key=int(k), min_version=lo, max_version=hi) for k, (lo, hi) in table.items()]
    return encode_response(correlation_id, 0, cls(error_code=35, api_keys=keys))


__all__ = [
    "MESSAGES",
    "DecodedRequest",
    "KafkaMessage",
    "MalformedRequestError",
    "UnsupportedVersionError",
    "decode_request",
    "encode_response",
    "flexible_response",
    "peek_header",
    "response_class",
    "unsupported_api_versions_response",
]
