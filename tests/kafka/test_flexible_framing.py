"""Flexible-version framing (KIP-482): response header v1, and records sent as COMPACT_RECORDS.

Each response is decoded by kafka-python's own response classes, so a wrong header or length
prefix shows up as a decode failure or as wrong field values.
"""

from __future__ import annotations

import warnings

import pytest

from reflog.kafka.codec import encode_response, flexible_response, response_class
from reflog.kafka.transfer import PlaceholderError, frame_parts, placeholder, split_payloads
from reflog.kafka.versions import ApiKey

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer import FetchResponse
    from kafka.protocol.metadata import ApiVersionsResponse, MetadataResponse

pytestmark = pytest.mark.req("PRO-62")


def _metadata(version: int) -> object:
    cls = response_class(ApiKey.METADATA, version)
    return cls(throttle_time_ms=0, brokers=[], cluster_id="reflog", controller_id=1, topics=[])


def test_a_flexible_response_carries_header_v1_and_decodes() -> None:
    frame = encode_response(42, 9, _metadata(9))
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert frame[8] == 0  # the empty tagged-field section after the correlation id
    decoded = MetadataResponse.decode(frame[4:], version=9, header=True)
    assert decoded.header.correlation_id == 42
    assert decoded.cluster_id == "reflog"


def test_a_non_flexible_response_keeps_header_v0() -> None:
    frame = encode_response(42, 8, _metadata(8))
    assert frame[4:8] == (42).to_bytes(4, "big")
    assert MetadataResponse.decode(frame[4:], version=8, header=True).cluster_id == "reflog"
    assert len(frame) == len(encode_response(42, 9, _metadata(9))) - 1 + _tagged_body_bytes()


def _tagged_body_bytes() -> int:
    """Bytes a v9 body has beyond a v8 one, so the header difference alone is checked above."""
    v8 = bytes(_metadata(8).encode(version=8))  # type: ignore[attr-defined]
    v9 = bytes(_metadata(9).encode(version=9))  # type: ignore[attr-defined]
    return len(v8) - len(v9)


def test_api_versions_answers_with_header_v0_at_every_version() -> None:
    assert not flexible_response(ApiKey.API_VERSIONS, 3)
    cls = response_class(ApiKey.API_VERSIONS, 3)
    frame = encode_response(5, 3, cls(error_code=0, api_keys=[], throttle_time_ms=0))
    assert frame[4:8] == (5).to_bytes(4, "big")
    assert ApiVersionsResponse.decode(frame[8:], version=3).error_code == 0


def test_flexibility_follows_the_schema() -> None:
    assert flexible_response(ApiKey.FETCH, 12) and not flexible_response(ApiKey.FETCH, 11)
    assert flexible_response(ApiKey.PRODUCE, 9) and not flexible_response(ApiKey.PRODUCE, 8)


def _fetch_response(version: int, records: bytes) -> object:
    """A Fetch response with one partition (``t``-3, HW 9) whose records field holds ``records``."""
    cls = response_class(ApiKey.FETCH, version)
    partition = cls.FetchableTopicResponse.PartitionData(
        partition_index=3,
        error_code=0,
        high_watermark=9,
        last_stable_offset=9,
        log_start_offset=0,
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=records,
    )
    topic = cls.FetchableTopicResponse(topic="t", partitions=[partition])
    return cls(throttle_time_ms=0, error_code=0, session_id=0, responses=[topic])


@pytest.mark.parametrize("payload_size", [0, 1, 126, 127, 128, 20_000])
def test_records_go_out_as_compact_records_at_flexible_fetch_versions(payload_size: int) -> None:
    token = placeholder(0, b"salt!!")
    payload = bytes(range(256)) * (payload_size // 256) + bytes(payload_size % 256)
    encoded = bytes(_fetch_response(12, token).encode(version=12))  # type: ignore[attr-defined]
    parts = frame_parts(11, split_payloads(encoded, {token: payload}, compact=True), flexible=True)
    frame = b"".join(bytes(p) for p in parts)  # type: ignore[arg-type]
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    decoded = FetchResponse.decode(frame[4:], version=12, header=True)
    assert decoded.header.correlation_id == 11
    got = decoded.responses[0].partitions[0]
    assert (got.partition_index, got.high_watermark) == (3, 9)
    assert bytes(got.records) == payload


def test_a_non_compact_prefix_is_not_taken_for_a_compact_one() -> None:
    token = placeholder(0, b"salt!!")
    encoded = bytes(_fetch_response(11, token).encode(version=11))  # type: ignore[attr-defined]
    with pytest.raises(PlaceholderError):
        split_payloads(encoded, {token: b"x"}, compact=True)
