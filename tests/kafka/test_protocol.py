"""The protocol surface seen by a raw client: version negotiation, topic names, and robustness
against malformed, truncated and oversized requests (PRO-2, PRO-8, PRO-13)."""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable

import pytest

from reflog.errors import Errors
from reflog.kafka.versions import ADVERTISED, ApiKey
from reflog.vocabulary import topic_name_error
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]
    from kafka.protocol.admin import CreateTopicsRequest, CreateTopicsResponse  # type: ignore[import-untyped]
    from kafka.protocol.consumer import FetchRequest, FetchResponse  # type: ignore[import-untyped]
    from kafka.protocol.metadata import (  # type: ignore[import-untyped]
        ApiVersionsRequest,
        ApiVersionsResponse,
        MetadataRequest,
        MetadataResponse,
    )
    from kafka.protocol.producer import ProduceRequest  # type: ignore[import-untyped]


Connect = Callable[[], RawClient]


@pytest.mark.req("PRO-2")
def test_api_versions_advertises_the_table(connect: Connect) -> None:
    client = connect()
    response = ApiVersionsResponse.decode(client.request(ApiVersionsRequest[2](), 2), version=2)
    assert response.error_code == 0
    assert {k.api_key: (k.min_version, k.max_version) for k in response.api_keys} == {
        int(k): v for k, v in ADVERTISED.items()
    }


@pytest.mark.req("PRO-2")
def test_a_too_new_api_versions_gets_the_table_in_the_v0_format(connect: Connect) -> None:
    client = connect()
    too_new = ADVERTISED[ApiKey.API_VERSIONS][1] + 1
    request = ApiVersionsRequest[4](client_software_name="raw", client_software_version="1")
    request.with_header(correlation_id=7, client_id="raw")
    frame = bytearray(request.encode(version=4, header=True, framed=True))
    frame[6:8] = too_new.to_bytes(2, "big")  # after the size (4) and the API key (2)
    client.send_bytes(bytes(frame))
    payload = client.receive()
    assert payload is not None and payload[:4] == (7).to_bytes(4, "big")
    response = ApiVersionsResponse.decode(payload[4:], version=0)
    assert response.error_code == Errors.UNSUPPORTED_VERSION
    assert len(response.api_keys) == len(ADVERTISED)
    # The connection stays usable: the client steps down.
    assert ApiVersionsResponse.decode(client.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0


@pytest.mark.req("PRO-2")
def test_a_removed_produce_version_closes_the_connection(connect: Connect) -> None:
    client = connect()
    request = ProduceRequest[2](acks=1, timeout_ms=1000, topic_data=[])
    request.with_header(correlation_id=1, client_id="raw")
    client.send_bytes(bytes(request.encode(version=2, header=True, framed=True)))
    assert client.closed_by_peer()


@pytest.mark.req("PRO-8")
@pytest.mark.parametrize(
    ("name", "legal"),
    [
        ("orders", True),
        ("a.b_c-D9", True),
        ("", False),
        (".", False),
        ("..", False),
        ("x" * 249, True),
        ("x" * 250, False),
        ("bad name", False),
        ("bad/name", False),
        ("émoji", False),
    ],
)
def test_topic_names_are_validated_as_kafka_does(name: str, legal: bool) -> None:
    assert (topic_name_error(name) is None) is legal


@pytest.mark.req("PRO-8")
def test_create_topics_answers_with_kafka_error_codes(connect: Connect) -> None:
    client = connect()
    topic = CreateTopicsRequest[4].CreatableTopic

    def create(name: str) -> int:
        request = CreateTopicsRequest[4](
            topics=[topic(name=name, num_partitions=1, replication_factor=3, assignments=[], configs=[])],
            timeout_ms=10_000,
            validate_only=False,
        )
        response = CreateTopicsResponse.decode(client.request(request, 4), version=4)
        return int(response.topics[0].error_code)

    assert create("created-by-raw") == Errors.NONE
    assert create("created-by-raw") == Errors.TOPIC_ALREADY_EXISTS
    assert create("bad name") == Errors.INVALID_TOPIC_EXCEPTION
    metadata = MetadataResponse.decode(
        client.request(
            MetadataRequest[8](
                topics=[MetadataRequest[8].MetadataRequestTopic(name="created-by-raw")],
                allow_auto_topic_creation=False,
            ),
            8,
        ),
        version=8,
    )
    assert metadata.topics[0].error_code == 0
    assert len(metadata.topics[0].partitions[0].replica_nodes) == 3
    assert {b.node_id for b in metadata.brokers} == {1, 2, 3}


@pytest.mark.req("PRO-8")
def test_metadata_auto_creates_a_legal_unknown_topic_only(connect: Connect) -> None:
    client = connect()
    request_topic = MetadataRequest[8].MetadataRequestTopic

    def metadata(name: str) -> int:
        request = MetadataRequest[8](topics=[request_topic(name=name)], allow_auto_topic_creation=True)
        return int(MetadataResponse.decode(client.request(request, 8), version=8).topics[0].error_code)

    assert metadata("auto-created") == Errors.NONE
    assert metadata("no way") == Errors.INVALID_TOPIC_EXCEPTION


# ---------------------------------------------------------------------------------- robustness
def still_serving(connect: Connect) -> bool:
    client = connect()
    return bool(
        ApiVersionsResponse.decode(client.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0
    )


@pytest.mark.req("PRO-13")
@pytest.mark.parametrize(
    "frame",
    [
        struct.pack(">i", 3) + b"\x00\x00\x00",  # shorter than a request header
        struct.pack(">ihhi", 8, 3, 8, 1),  # Metadata v8 header, no client id or body
        struct.pack(">ihhi", 10, 999, 0, 1) + b"\x00\x00",  # unknown API key
        struct.pack(">ihhih", 12, 3, 8, 1, 5) + b"ab",  # a client id string cut short
        struct.pack(">i", -5),  # a negative size
        struct.pack(">i", 200 * 1024 * 1024),  # 200 MiB, beyond socket.request.max.bytes
    ],
    ids=["no-header", "no-body", "unknown-api", "cut-string", "negative-size", "oversized"],
)
def test_a_bad_frame_closes_only_its_connection(connect: Connect, frame: bytes) -> None:
    bystander = connect()
    culprit = connect()
    culprit.send_bytes(frame)
    assert culprit.closed_by_peer()
    assert (
        ApiVersionsResponse.decode(bystander.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0
    )
    assert still_serving(connect)


@pytest.mark.req("PRO-13")
def test_an_oversized_frame_is_refused_before_it_is_buffered(served: ServedCluster, connect: Connect) -> None:
    assert served.kafka is not None
    culprit = connect()
    # Announce 1 GiB and send only the prefix: the broker must close at once, not wait for the bytes.
    culprit.send_bytes(struct.pack(">i", 1 << 30))
    assert culprit.closed_by_peer()
    assert served.kafka.stats.closed_for.get("oversized frame", 0) >= 1


@pytest.mark.req("PRO-13")
def test_a_truncated_frame_closes_only_its_connection(connect: Connect) -> None:
    culprit = connect()
    culprit.send_bytes(struct.pack(">i", 100) + b"\x00\x12\x00\x00")
    culprit.sock.shutdown(1)  # EOF mid-frame
    assert culprit.closed_by_peer()
    assert still_serving(connect)


@pytest.mark.req("PRO-6")
def test_a_fetch_answer_is_the_stored_segment_bytes(served: ServedCluster, connect: Connect) -> None:
    """The records of a Fetch response are byte for byte what the leader's segment file holds."""
    served.create_topic("wire-is-disk", partitions=1, replication_factor=3, min_insync_replicas=2)
    producer = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks="all", compression_type="lz4")
    for i in range(5):
        producer.send("wire-is-disk", f"w{i}".encode()).get(timeout=30)
    producer.close()
    assert served.kafka is not None
    cluster = served.kafka.cluster
    leader = cluster.controller.partition("wire-is-disk", 0).leader
    fs = cluster.broker(leader).fs

    def stored() -> bytes:
        handle = fs.open("data/wire-is-disk-0/00000000000000000000.log")
        try:
            return fs.pread(handle, 0, fs.size(handle))
        finally:
            fs.close(handle)

    on_disk = served.call(_sync, stored)
    fetch_cls = FetchRequest[11]
    request = fetch_cls(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[
            fetch_cls.FetchTopic(
                topic="wire-is-disk",
                partitions=[
                    fetch_cls.FetchTopic.FetchPartition(
                        partition=0,
                        current_leader_epoch=-1,
                        fetch_offset=0,
                        log_start_offset=-1,
                        partition_max_bytes=1 << 20,
                    )
                ],
            )
        ],
        forgotten_topics_data=[],
        rack_id="",
    )
    client = RawClient(served.kafka.addresses[leader])
    try:
        response = FetchResponse.decode(client.request(request, 11), version=11)
    finally:
        client.close()
    records = bytes(response.responses[0].partitions[0].records)
    assert response.responses[0].partitions[0].error_code == 0
    assert records == on_disk and len(records) > 0


async def _sync(fn: Callable[[], bytes]) -> bytes:
    return fn()
