"""Fuzzing the request path (PRO-13): the decoder answers any bytes with a request or one of its two
typed errors, and a live listener fed thousands of random frames keeps serving, with nothing
acknowledged lost. Seeded: the frames are the same on every run; ``REFLOG_FUZZ_SEED=N`` replays
or varies them."""

from __future__ import annotations

import os
import random
import socket
import struct
import warnings
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.kafka.codec import MalformedRequestError, UnsupportedVersionError, decode_request
from reflog.kafka.versions import ADVERTISED, served
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]
    from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse  # type: ignore[import-untyped]

FUZZ_SEED = int(os.environ.get("REFLOG_FUZZ_SEED", "20261122"))
FRAMES = 2000
SERVED_HEADERS = [
    (int(k), v) for k, (lo, hi) in ADVERTISED.items() for v in range(lo, hi + 1) if served(k, v)
]


def header(api_key: int, version: int, correlation: int, client_id: bytes | None) -> bytes:
    encoded = struct.pack(">h", -1) if client_id is None else struct.pack(">h", len(client_id)) + client_id
    return struct.pack(">hhi", api_key, version, correlation) + encoded


def decode_outcome(payload: bytes) -> str:
    try:
        decode_request(payload)
    except MalformedRequestError:
        return "malformed"
    except UnsupportedVersionError:
        return "unsupported"
    return "decoded"


@pytest.mark.req("PRO-13")
@given(st.binary(max_size=256))
def test_the_decoder_answers_any_bytes_with_a_request_or_a_typed_error(payload: bytes) -> None:
    assert decode_outcome(payload) in {"malformed", "unsupported", "decoded"}


@pytest.mark.req("PRO-13")
@given(st.sampled_from(SERVED_HEADERS), st.binary(max_size=512), st.integers(-(2**31), 2**31 - 1))
def test_a_served_header_with_any_body_decodes_or_is_malformed(
    api: tuple[int, int], body: bytes, correlation: int
) -> None:
    outcome = decode_outcome(header(*api, correlation, b"fuzz") + body)
    assert outcome in {"malformed", "decoded"}


def random_frame(rng: random.Random) -> bytes:
    """A frame from one of five families: garbage, a served header with a random body, a truncated
    real request, a bit-flipped real request, or a lying size prefix."""
    family = rng.randrange(5)
    if family == 0:
        payload = rng.randbytes(rng.randrange(0, 64))
    elif family in (1, 2, 3):
        api_key, version = rng.choice(SERVED_HEADERS)
        body = rng.randbytes(rng.randrange(0, 128))
        payload = header(api_key, version, rng.randrange(2**31), b"fuzz") + body
        if family == 2:
            payload = payload[: rng.randrange(0, len(payload) + 1)]
        elif family == 3 and payload:
            flipped = bytearray(payload)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            payload = bytes(flipped)
    else:
        payload = rng.randbytes(rng.randrange(0, 16))
        return struct.pack(">i", rng.choice([len(payload) + 100, -1, 2**31 - 1])) + payload
    return struct.pack(">i", len(payload)) + payload


@pytest.mark.req("PRO-13")
def test_thousands_of_random_frames_never_take_the_broker_down(
    served: ServedCluster, connect: Callable[[], RawClient]
) -> None:
    served.create_topic("fuzz-kept", partitions=1, replication_factor=3, min_insync_replicas=2)
    producer = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks="all")
    acknowledged = [producer.send("fuzz-kept", f"k{i}".encode()).get(timeout=30).offset for i in range(20)]
    assert served.kafka is not None
    address = served.kafka.addresses[1]
    rng = random.Random(FUZZ_SEED)
    print(f"fuzzing with seed {FUZZ_SEED} ({FRAMES} frames); replay with REFLOG_FUZZ_SEED={FUZZ_SEED}")
    bystander = connect()
    for i in range(FRAMES):
        with socket.create_connection(address, timeout=10) as sock:
            try:
                sock.sendall(random_frame(rng))
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(2)
                while sock.recv(65536):
                    pass
            except (TimeoutError, OSError):
                pass  # closed by the broker (the point), or a long poll still waiting: ours to drop
        if i % 200 == 0:
            response = ApiVersionsResponse.decode(bystander.request(ApiVersionsRequest[0](), 0), version=0)
            assert response.error_code == 0, f"broker stopped answering after frame {i}"
    more = [producer.send("fuzz-kept", f"m{i}".encode()).get(timeout=30).offset for i in range(5)]
    producer.close()
    assert more == list(range(20, 25))
    consumer = kafka.KafkaConsumer(bootstrap_servers=served.bootstrap, consumer_timeout_ms=3000)
    consumer.assign([kafka.TopicPartition("fuzz-kept", 0)])
    consumer.seek_to_beginning()
    values = [m.value for m in consumer]
    consumer.close()
    assert values == [f"k{i}".encode() for i in range(20)] + [f"m{i}".encode() for i in range(5)]
    assert acknowledged == list(range(20))
    print("connections closed by reason:", served.kafka.stats.closed_for)
    assert served.kafka.stats.closed_for.get("internal error", 0) == 0, served.kafka.stats.closed_for
