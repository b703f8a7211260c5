"""No single request or connection can kill or freeze the serving process (PRO-40..PRO-49).

Real sockets against a served cluster; every wait is bounded (a few seconds at most). Each test
ends with :func:`tests.kafka.canary.canary`: an ``acks=all`` produce on a fresh connection is
acknowledged, and every canary record acknowledged before it on that cluster is still there.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

import reflog.kafka.server as server_module
from reflog.broker import BrokerConfig
from reflog.errors import Errors
from reflog.kafka.limits import partition_entries
from reflog.kafka.server import server_ssl_context
from tests.kafka.canary import (
    canary,
    client,
    fetch_message,
    leader_of,
    produce,
    topic,
    wait_until,
)
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import CreateTopicsRequest, CreateTopicsResponse  # type: ignore[import-untyped]
    from kafka.protocol.consumer import FetchResponse  # type: ignore[import-untyped]
    from kafka.protocol.metadata import (  # type: ignore[import-untyped]
        ApiVersionsRequest,
        ApiVersionsResponse,
        MetadataRequest,
        MetadataResponse,
    )
    from kafka.protocol.producer import ProduceRequest  # type: ignore[import-untyped]

FETCH_MAX_BYTES = 64 * 1024
POOL_BYTES = 2 * 1024 * 1024
CAP = 1000
IDLE_MS = 1500


@pytest.fixture(scope="module")
def limited() -> Iterator[ServedCluster]:
    cluster = ServedCluster(
        3,
        connections_max_idle_ms=IDLE_MS,
        queued_max_request_bytes=POOL_BYTES,
        max_partitions_per_request=CAP,
        broker_config=BrokerConfig(fetch_max_bytes=FETCH_MAX_BYTES),
    )
    try:
        yield cluster
    finally:
        cluster.close()


def stats(served: ServedCluster) -> Any:
    assert served.kafka is not None
    return served.kafka.stats


def metadata_message(names: list[str], auto_create: bool = False) -> Any:
    cls = MetadataRequest[8]
    return cls(
        topics=[cls.MetadataRequestTopic(name=n) for n in names],
        allow_auto_topic_creation=auto_create,
        include_cluster_authorized_operations=False,
        include_topic_authorized_operations=False,
    )


# ---------------------------------------------------------------------------- PRO-40
@pytest.mark.req("PRO-40")
@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=0, max_size=4), st.integers(0, 400))
def test_the_partition_count_is_exact_and_never_raises_on_a_cut_request(shape: list[int], cut: int) -> None:
    partitions = [(f"t{t}", p, 0) for t, n in enumerate(shape) for p in range(n)]
    for version in (4, 11):
        request = fetch_message(partitions)
        request.with_header(correlation_id=1, client_id="raw")
        payload = bytes(request.encode(version=version, header=True))
        assert partition_entries(payload) == len(partitions)
        assert partition_entries(payload[:cut]) <= len(partitions)  # truncated: no exception


@pytest.mark.req("PRO-40")
def test_the_partition_count_is_read_from_the_raw_request() -> None:
    request = fetch_message([("a", i, 0) for i in range(7)] + [("b", 0, 0)])
    request.with_header(correlation_id=1, client_id="raw")
    assert partition_entries(bytes(request.encode(version=11, header=True))) == 8
    metadata = metadata_message(["x", "y", "z"])
    metadata.with_header(correlation_id=1, client_id=None)
    assert partition_entries(bytes(metadata.encode(version=8, header=True))) == 3
    assert partition_entries(b"\x00\x01\x00\x0b\x00\x00\x00\x01\xff") == 0  # truncated: the decoder's job


@pytest.mark.req("PRO-40")
@pytest.mark.parametrize("api", ["fetch", "metadata", "produce", "create_topics"])
def test_a_request_naming_too_many_partitions_closes_its_connection(limited: ServedCluster, api: str) -> None:
    topic(limited, "cap")
    before = stats(limited).closed_for.get("too many partitions", 0)
    raw = client(limited)
    if api == "fetch":
        request, version = fetch_message([("cap", i, 0) for i in range(CAP + 1)]), 11
    elif api == "metadata":
        request, version = metadata_message([f"m{i}" for i in range(CAP + 1)]), 8
    elif api == "create_topics":
        cls = CreateTopicsRequest[4]
        creatable = cls.CreatableTopic(
            name="many", num_partitions=CAP + 1, replication_factor=1, assignments=[], configs=[]
        )
        request, version = cls(topics=[creatable], timeout_ms=1000, validate_only=False), 4
    else:
        cls = ProduceRequest[8]
        parts = [cls.TopicProduceData.PartitionProduceData(index=i, records=b"x") for i in range(CAP + 1)]
        request = cls(
            transactional_id=None,
            acks=-1,
            timeout_ms=1000,
            topic_data=[cls.TopicProduceData(name="cap", partition_data=parts)],
        )
        version = 8
    request.with_header(correlation_id=1, client_id="raw")
    raw.send_bytes(bytes(request.encode(version=version, header=True, framed=True)))
    assert raw.closed_by_peer()
    raw.close()
    assert stats(limited).closed_for.get("too many partitions", 0) == before + 1
    canary(limited, "cap")


# ---------------------------------------------------------------------------- PRO-41
@pytest.mark.req("PRO-41")
def test_duplicate_partitions_and_topics_are_answered_once(limited: ServedCluster) -> None:
    topic(limited, "dup")
    assert produce(limited, "dup", [b"a", b"b"]) == [0, 0]
    raw = client(limited, leader_of(limited, "dup"))
    try:
        # Kafka keeps a partition's first position and its last entry: here offset 1.
        request = fetch_message([("dup", 0, 0), ("dup", 0, 1)])
        response = FetchResponse.decode(raw.request(request, 11), version=11)
        parts = response.responses[0].partitions
        assert len(response.responses) == 1 and len(parts) == 1
        records = bytes(parts[0].records)
        assert b"b" in records and struct.unpack_from(">q", records)[0] == 1
        metadata = MetadataResponse.decode(raw.request(metadata_message(["dup", "dup", "dup"]), 8), version=8)
        assert [t.name for t in metadata.topics] == ["dup"]
        # CreateTopics naming a topic twice refuses both entries and creates nothing (Kafka).
        cls = CreateTopicsRequest[4]
        twice = [
            cls.CreatableTopic(
                name="twice", num_partitions=1, replication_factor=ms, assignments=[], configs=[]
            )
            for ms in (1, 3)
        ]
        request = cls(topics=twice, timeout_ms=10_000, validate_only=False)
        created = CreateTopicsResponse.decode(raw.request(request, 4), version=4)
        assert [t.error_code for t in created.topics] == [Errors.INVALID_REQUEST] * 2
    finally:
        raw.close()
    assert limited.kafka is not None
    assert "twice" not in {m.topic_partition.topic for m in limited.kafka.cluster.controller.partitions()}


# ---------------------------------------------------------------------------- PRO-42
@pytest.mark.req("PRO-42")
def test_fetch_max_bytes_bounds_a_response_whatever_the_client_asks(limited: ServedCluster) -> None:
    limited.create_topic("big", partitions=4, replication_factor=1)
    value = b"x" * 10_000
    leaders = [leader_of(limited, "big", p) for p in range(4)]
    leader = max(set(leaders), key=leaders.count)  # 4 partitions on 3 brokers: one leads two
    mine = [p for p in range(4) if leaders[p] == leader]
    for p in mine:
        assert produce(limited, "big", [value] * 5, partition=p) == [0] * 5  # 50 KB each
    raw = client(limited, leader)
    try:
        response = FetchResponse.decode(
            raw.request(fetch_message([("big", p, 0) for p in mine]), 11), version=11
        )
        sizes = [len(bytes(p.records)) for t in response.responses for p in t.partitions]
        assert 10_000 < sum(sizes) <= FETCH_MAX_BYTES, sizes
    finally:
        raw.close()
    canary(limited, "big")


# ---------------------------------------------------------------------------- PRO-43
@pytest.mark.req("PRO-43")
@pytest.mark.parametrize("api", ["create_topics", "metadata"])
def test_one_request_creating_200_topics_neither_stalls_nor_fences_a_broker(
    limited: ServedCluster, api: str
) -> None:
    assert limited.kafka is not None
    cluster = limited.kafka.cluster
    topic(limited, f"canary-{api}")
    fenced: set[int] = set()
    done = threading.Event()

    async def watch() -> None:
        while not done.is_set():
            fenced.update(b.broker_id for b in cluster.controller.brokers() if not b.is_active)
            await trio.sleep(0.02)

    async def start_watch() -> None:
        cluster._nursery.start_soon(watch)

    limited.call(start_watch)
    names = [f"{api}-{i}" for i in range(200)]
    raw = client(limited, timeout=60)
    started = time.monotonic()
    try:
        if api == "create_topics":
            cls = CreateTopicsRequest[4]
            request = cls(
                topics=[
                    cls.CreatableTopic(
                        name=n, num_partitions=1, replication_factor=2, assignments=[], configs=[]
                    )
                    for n in names
                ],
                timeout_ms=30_000,
                validate_only=False,
            )
            response = CreateTopicsResponse.decode(raw.request(request, 4), version=4)
            assert [t.error_code for t in response.topics] == [0] * 200
        else:
            metadata = MetadataResponse.decode(raw.request(metadata_message(names, True), 8), version=8)
            assert {t.error_code for t in metadata.topics} == {0} and len(metadata.topics) == 200
    finally:
        raw.close()
        done.set()
    took = time.monotonic() - started
    assert took < 30.0, f"{took:.1f} s: a client's request.timeout.ms would have given up"
    assert not fenced
    canary(limited, f"canary-{api}")


# ---------------------------------------------------------------------------- PRO-44
@pytest.mark.req("PRO-44")
def test_a_long_poll_whose_client_disconnects_is_released_at_once(limited: ServedCluster) -> None:
    topic(limited, "poll")
    assert produce(limited, "poll", [b"one"]) == [0]
    before = stats(limited).closed_for.get("client gone", 0)
    requests = stats(limited).requests
    raw = client(limited, leader_of(limited, "poll"))
    request = fetch_message([("poll", 0, 1)], max_wait_ms=25_000)  # nothing past offset 1 yet
    request.with_header(correlation_id=1, client_id="raw")
    raw.send_bytes(bytes(request.encode(version=11, header=True, framed=True)))
    assert wait_until(lambda: stats(limited).requests > requests)
    time.sleep(0.3)  # the poll is waiting
    raw.close()
    started = time.monotonic()
    assert wait_until(lambda: stats(limited).closed_for.get("client gone", 0) == before + 1, 3.0)
    assert time.monotonic() - started < 3.0  # not the 25 s of max_wait_ms
    canary(limited, "poll")


# ---------------------------------------------------------------------------- PRO-45
@pytest.mark.req("PRO-45")
def test_an_idle_connection_is_closed_after_connections_max_idle_ms(limited: ServedCluster) -> None:
    before = stats(limited).closed_for.get("idle", 0)
    silent = client(limited)
    busy = client(limited)
    silent.sock.settimeout(IDLE_MS / 1000 / 2)
    with pytest.raises(TimeoutError):  # still open half-way through the idle time
        silent.sock.recv(1)
    silent.sock.settimeout(10)
    for _ in range(5):  # a connection that keeps talking is never idle
        busy.request(ApiVersionsRequest[0](), 0)
        time.sleep(IDLE_MS / 1000 / 3)
    assert silent.closed_by_peer()
    assert ApiVersionsResponse.decode(busy.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0
    silent.close()
    busy.close()
    assert stats(limited).closed_for.get("idle", 0) >= before + 1


# ---------------------------------------------------------------------------- PRO-47
@pytest.mark.req("PRO-47")
def test_queued_max_request_bytes_bounds_what_all_connections_buffer(limited: ServedCluster) -> None:
    assert limited.kafka is not None
    pool = limited.kafka.memory
    pool.peak = 0
    waits = pool.waits
    frame = 1536 * 1024  # 1.5 MiB each: two never fit in the 2 MiB pool together
    senders = [client(limited, b) for b in (1, 2, 3, 1, 2, 3)]
    for raw in senders:  # every prefix first, and a little of each payload
        raw.send_bytes(struct.pack(">i", frame) + b"\xff" * 1024)
    # One frame is admitted (and waits for the rest of its bytes); five wait for the pool, unread.
    assert wait_until(lambda: pool.waits >= waits + 5)
    assert pool.used == frame
    # Meanwhile, a small request on another connection fits, and is answered.
    probe = client(limited)
    assert ApiVersionsResponse.decode(probe.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0
    probe.close()

    def send(raw: RawClient) -> None:
        with contextlib.suppress(OSError):  # junk: closed as malformed
            raw.send_bytes(b"\xff" * (frame - 1024))

    threads = [threading.Thread(target=send, args=(raw,)) for raw in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for raw in senders:
        assert raw.closed_by_peer()
        raw.close()
    assert frame <= pool.peak <= POOL_BYTES
    assert wait_until(lambda: pool.used == 0)
    topic(limited, "pool")
    canary(limited, "pool")


# ---------------------------------------------------------------------------- PRO-48
@pytest.mark.req("PRO-48")
@pytest.mark.parametrize("code", [errno.EMFILE, errno.EIO])
def test_accept_errors_never_stop_the_listener(
    limited: ServedCluster, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = {"left": 3}
    original = trio.SocketListener.accept

    async def accept(self: trio.SocketListener) -> trio.SocketStream:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(code, "injected accept error")
        return await original(self)

    monkeypatch.setattr(trio.SocketListener, "accept", accept)
    before = stats(limited).accept_errors
    first = client(limited)  # wakes the pending accept; the next ones fail
    assert ApiVersionsResponse.decode(first.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0
    assert wait_until(lambda: failures["left"] == 0)
    monkeypatch.undo()
    second = client(limited)
    assert ApiVersionsResponse.decode(second.request(ApiVersionsRequest[0](), 0), version=0).error_code == 0
    first.close()
    second.close()
    assert stats(limited).accept_errors >= before + 3
    topic(limited, f"accept-{code}")
    canary(limited, f"accept-{code}")


@pytest.mark.req("PRO-48")
def test_an_exception_in_a_connection_task_closes_that_connection_only(
    limited: ServedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = server_module.serve_connection
    armed = {"left": 1}

    async def serve_connection(*args: Any, **kwargs: Any) -> None:
        if armed["left"]:
            armed["left"] = 0
            raise RuntimeError("injected bug in a connection task")
        await original(*args, **kwargs)

    monkeypatch.setattr(server_module, "serve_connection", serve_connection)
    doomed = client(limited)
    assert doomed.closed_by_peer()
    doomed.close()
    monkeypatch.undo()
    topic(limited, "conn-bug")
    canary(limited, "conn-bug")


# ---------------------------------------------------------------------------- PRO-46
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(paths["cert"]), append=True)
    return {k: str(v) for k, v in paths.items()}


@pytest.mark.req("PRO-46")
def test_a_client_that_never_speaks_tls_is_dropped(pki: dict[str, str]) -> None:
    served = ServedCluster(
        1, ssl_context=server_ssl_context(pki["cert"], pki["key"]), tls_handshake_timeout_ms=500
    )
    try:
        assert served.kafka is not None
        address = served.kafka.addresses[1]
        mute = socket.create_connection(address, timeout=5)  # TCP only, never a ClientHello
        started = time.monotonic()
        assert mute.recv(1) == b""
        assert 0.4 <= time.monotonic() - started < 3
        mute.close()
        assert served.kafka.stats.closed_for.get("tls handshake timeout", 0) == 1
        tls = ssl.create_default_context(cafile=pki["ca"])
        speaking = RawClient(address, tls=tls)
        response = ApiVersionsResponse.decode(speaking.request(ApiVersionsRequest[0](), 0), version=0)
        assert response.error_code == 0
        speaking.close()
    finally:
        served.close()


# ---------------------------------------------------------------------------- PRO-49
@pytest.mark.req("PRO-49", "REP-40")
def test_a_bug_in_one_served_broker_halts_it_and_the_process_serves_on() -> None:
    served = ServedCluster(3)
    try:
        assert served.kafka is not None
        cluster = served.kafka.cluster
        served.create_topic("bug", replication_factor=1)  # its replica is not the victim
        assert produce(served, "bug", [b"before"]) == [0]
        victim = next(b for b in (1, 2, 3) if b != leader_of(served, "bug"))
        handle = cluster.broker(victim)

        def boom(*args: object) -> None:
            raise RuntimeError("injected bug")

        async def inject() -> None:
            handle.broker._apply = boom

        served.call(inject)
        served.create_topic("bug2", replication_factor=1)  # new metadata: the victim applies it
        assert wait_until(lambda: not handle.running, 10)
        assert handle.exit_reason is not None and "internal error" in handle.exit_reason
        assert served._thread.is_alive()
        canary(served, "bug")
        raw = client(served, leader_of(served, "bug"))
        try:
            response = MetadataResponse.decode(raw.request(metadata_message(["bug"]), 8), version=8)
        finally:
            raw.close()
        assert response.topics[0].error_code == 0
    finally:
        served.close()
