"""The three Fetch transfer paths and their copy counters (PERF-1..PERF-4).

Each case serves one broker, writes batches through reflog's producer, fetches the whole
segment with one raw Fetch request, and checks the answer is the segment byte for byte and that
the listener's metrics say what the path did: zero-copy copies no record byte through user space
(only batch headers, to verify them in place), copy copies each record byte exactly once, TLS at
least once.
"""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path
from typing import Any, Literal

import pytest
import trio
import trustme

from reflog.client.producer import SendStatus
from reflog.kafka.server import server_ssl_context
from reflog.kafka.transfer import (
    COPY_CHUNK,
    TransferMetrics,
    TransferMode,
    TruncatedRegionError,
    ZeroCopySender,
)
from reflog.log import FileRegion
from reflog.records import BATCH_HEADER_SIZE
from reflog.storage import OsFilesystem
from tests.kafka.raw import RawClient, fetch_request
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer import FetchResponse  # type: ignore[import-untyped]

BATCHES = 12
VALUE = bytes(range(256)) * 20  # 5,120 bytes: batches straddle 4 KiB pages


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(paths["cert"]), append=True)
    return {k: str(v) for k, v in paths.items()}


class Fetched:
    def __init__(self, records: bytes, on_disk: bytes, metrics: TransferMetrics, mappings: int) -> None:
        self.records = records
        self.on_disk = on_disk
        self.metrics = metrics
        self.mappings = mappings  # read-only mappings the OS filesystem made (0 on simulated storage)


def produce(served: ServedCluster, topic: str, batches: int) -> None:
    """``batches`` acks=all sends of :data:`VALUE` to a new one-partition topic (a batch each)."""
    assert served.kafka is not None
    cluster = served.kafka.cluster

    async def run() -> None:
        await cluster.create_topic(topic, partitions=1, replication_factor=1)
        producer = cluster.producer(acks="all")
        for i in range(batches):
            result = await producer.send(topic, VALUE, key=str(i).encode())
            assert result.status is SendStatus.OK, result

    served.call(run)


def fetch_all(served: ServedCluster, topic: str, tls: ssl.SSLContext | None = None) -> Any:
    """Partition 0's answer to one raw Fetch v11 from offset 0."""
    assert served.kafka is not None
    client = RawClient(served.kafka.addresses[1], tls=tls)
    try:
        payload = client.request(fetch_request(topic, 0, max_bytes=1 << 20), 11)
    finally:
        client.close()
    return FetchResponse.decode(payload, version=11).responses[0].partitions[0]


def serve_and_fetch(
    mode: TransferMode, storage: Literal["os", "sim"], tmp_path: Path, pki: dict[str, str]
) -> Fetched:
    options: dict[str, object] = {"storage": storage, "transfer": mode}
    if storage == "os":
        options["data_dir"] = str(tmp_path / "data")
    client_tls = None
    if mode is TransferMode.TLS:
        options["ssl_context"] = server_ssl_context(pki["cert"], pki["key"])
        client_tls = ssl.create_default_context(cafile=pki["ca"])
    served = ServedCluster(1, **options)
    try:
        assert served.kafka is not None
        fs = served.kafka.cluster.broker(1).fs
        produce(served, "paths", BATCHES)

        async def read_segment() -> bytes:
            handle = fs.open("data/paths-0/00000000000000000000.log")
            try:
                return fs.pread(handle, 0, fs.size(handle))
            finally:
                fs.close(handle)

        on_disk: bytes = served.call(read_segment)
        metrics = served.kafka.transfer[1]
        assert metrics.payload_bytes_copied == 0 and metrics.responses == 0  # no fetch yet
        partition = fetch_all(served, "paths", client_tls)
        assert partition.error_code == 0
        mappings = fs.mappings if isinstance(fs, OsFilesystem) else 0
        return Fetched(bytes(partition.records), on_disk, metrics, mappings)
    finally:
        served.close()


@pytest.mark.req("PERF-1", "PERF-2")
@pytest.mark.parametrize("storage", ["os", "sim"])
def test_zero_copy_moves_no_payload_byte_through_user_space(
    storage: Literal["os", "sim"], tmp_path: Path, pki: dict[str, str]
) -> None:
    fetched = serve_and_fetch(TransferMode.ZERO_COPY, storage, tmp_path, pki)
    m = fetched.metrics
    assert fetched.records == fetched.on_disk and len(fetched.records) > BATCHES * len(VALUE)
    assert m.responses == 1
    assert m.payload_bytes == len(fetched.records)
    assert m.payload_bytes_copied == 0
    assert m.header_bytes_copied == BATCHES * BATCH_HEADER_SIZE  # headers only, to verify in place
    assert "pread" not in m.syscalls and "send" not in m.syscalls
    if storage == "os":
        assert m.syscalls["sendfile"] >= 1 and fetched.mappings == 1  # the segment, mapped once
    else:  # simulated page cache: its pages go out as views in one gathered sendmsg
        assert "sendfile" not in m.syscalls and m.syscalls["sendmsg"] >= 1


@pytest.mark.req("PERF-1", "PERF-3")
@pytest.mark.parametrize("storage", ["os", "sim"])
def test_copy_moves_each_payload_byte_once(
    storage: Literal["os", "sim"], tmp_path: Path, pki: dict[str, str]
) -> None:
    fetched = serve_and_fetch(TransferMode.COPY, storage, tmp_path, pki)
    m = fetched.metrics
    assert fetched.records == fetched.on_disk
    assert m.payload_bytes == len(fetched.records) > 0
    assert m.payload_bytes_copied == m.payload_bytes  # read into user space once, sent as it is
    assert m.header_bytes_copied == BATCHES * BATCH_HEADER_SIZE  # verified in place first
    assert "sendfile" not in m.syscalls and m.syscalls["sendmsg"] >= 1
    if storage == "os":  # chunked reads of the region into the connection's small buffer
        assert m.syscalls["pread"] == -(-m.payload_bytes // COPY_CHUNK) and fetched.mappings == 1
    else:
        assert "pread" not in m.syscalls and fetched.mappings == 0


@pytest.mark.req("PERF-1", "PERF-4")
def test_tls_copies_each_payload_byte_at_least_once(tmp_path: Path, pki: dict[str, str]) -> None:
    fetched = serve_and_fetch(TransferMode.TLS, "os", tmp_path, pki)
    m = fetched.metrics
    assert fetched.records == fetched.on_disk
    assert m.payload_bytes == len(fetched.records) > 0
    assert m.payload_bytes_copied >= m.payload_bytes
    assert m.payload_bytes_copied == 2 * m.payload_bytes  # the read, then the copy into OpenSSL
    assert "sendfile" not in m.syscalls and "sendmsg" not in m.syscalls and m.syscalls["send"] >= 1


@pytest.mark.req("PERF-2")
def test_zero_copy_never_serves_a_corrupt_batch(tmp_path: Path, pki: dict[str, str]) -> None:
    """A flipped byte in a stored batch: the zero-copy path answers CORRUPT_MESSAGE, not the bytes."""
    served = ServedCluster(1, storage="os", data_dir=str(tmp_path / "data"))
    try:
        assert served.kafka is not None
        produce(served, "rot", 3)
        (segment,) = (tmp_path / "data").rglob("rot-0/00000000000000000000.log")
        raw = bytearray(segment.read_bytes())
        raw[len(raw) // 2] ^= 0x01  # bit rot in the middle batch's records
        segment.write_bytes(raw)
        partition = fetch_all(served, "rot")
        assert partition.error_code == 2  # CORRUPT_MESSAGE
        assert not partition.records
        assert served.kafka.transfer[1].payload_bytes == 0
    finally:
        served.close()


@pytest.mark.req("PERF-5")
async def test_a_region_that_shrinks_while_sent_raises_instead_of_sending_short(tmp_path: Path) -> None:
    """sendfile hitting the end of a truncated segment stops the response with a typed error."""
    fs = OsFilesystem(tmp_path)
    handle = fs.open("segment.log", create=True)
    fs.pwrite(handle, 0, b"x" * 500)
    region = FileRegion(fs, handle, 0, 1000)  # the log believed 1000 bytes were there
    metrics = TransferMetrics(TransferMode.ZERO_COPY)
    left, right = trio.socket.socketpair()
    with left, right:
        sender = ZeroCopySender(trio.SocketStream(left), metrics)
        with pytest.raises(TruncatedRegionError):
            await sender.send([b"head", region])
        assert metrics.syscalls["sendfile"] >= 1
    fs.close(handle)
