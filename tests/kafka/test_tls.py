"""TLS listeners with certificates made by trustme: real clients (kafka-python, KafkaJS) over TLS, and
a client without a certificate refused before any request is served (PRO-15)."""

from __future__ import annotations

import socket
import ssl
import struct
import warnings
from collections.abc import Iterator

import pytest
import trustme

from reflog.kafka.server import server_ssl_context
from tests.kafka.kafkajs import admin, result, run_kafkajs
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]

API_VERSIONS_V0 = struct.pack(">ihhih", 10, 18, 0, 1, 0)  # size, key 18, v0, correlation 1, client ""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@reflog.test")
    paths = {
        "ca": directory / "ca.pem",
        "server_cert": directory / "server.pem",
        "server_key": directory / "server.key",
        "client_cert": directory / "client.pem",
        "client_key": directory / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.private_key_pem.write_to_path(str(paths["server_key"]))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(paths["server_cert"]), append=True)
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(paths["client_cert"]), append=True)
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="module")
def tls_served(pki: dict[str, str]) -> Iterator[ServedCluster]:
    context = server_ssl_context(pki["server_cert"], pki["server_key"], pki["ca"])
    cluster = ServedCluster(3, ssl_context=context)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.mark.req("PRO-15")
def test_kafka_python_produces_and_consumes_over_tls_with_a_client_certificate(
    tls_served: ServedCluster, pki: dict[str, str]
) -> None:
    tls_served.create_topic("secure", partitions=1, replication_factor=3, min_insync_replicas=2)
    options = {
        "bootstrap_servers": tls_served.bootstrap,
        "security_protocol": "SSL",
        "ssl_cafile": pki["ca"],
        "ssl_certfile": pki["client_cert"],
        "ssl_keyfile": pki["client_key"],
    }
    producer = kafka.KafkaProducer(acks="all", compression_type="zstd", **options)
    offsets = [producer.send("secure", f"s{i}".encode()).get(timeout=30).offset for i in range(10)]
    producer.close()
    assert offsets == list(range(10))
    consumer = kafka.KafkaConsumer(consumer_timeout_ms=3000, **options)
    consumer.assign([kafka.TopicPartition("secure", 0)])
    consumer.seek_to_beginning()
    assert [m.value for m in consumer] == [f"s{i}".encode() for i in range(10)]
    consumer.close()


@pytest.mark.req("PRO-15")
def test_kafkajs_produces_and_consumes_over_tls_with_a_client_certificate(
    tls_served: ServedCluster, pki: dict[str, str]
) -> None:
    tls = {"ca": pki["ca"], "cert": pki["client_cert"], "key": pki["client_key"]}
    bootstrap = tls_served.bootstrap
    spec = {"topic": "secure-js", "numPartitions": 1, "replicationFactor": 3}
    (created,) = admin(bootstrap, ("createTopics", [{"topics": [spec]}]), tls=tls)
    assert result(created) is True
    messages = [{"value": f"j{i}"} for i in range(10)]
    (sent,) = run_kafkajs("produce", bootstrap, {"topic": "secure-js", "messages": messages, "tls": tls})
    assert [m["baseOffset"] for m in sent["metadata"]] == ["0"]
    args = {"topic": "secure-js", "groupId": "secure-js-g", "expect": 10, "tls": tls}
    events = run_kafkajs("group", bootstrap, args)
    (consumed,) = [e["records"] for e in events if e["event"] == "consumed"]
    assert [(r["offset"], r["value"]) for r in consumed] == [(str(i), f"j{i}") for i in range(10)]


@pytest.mark.req("PRO-15")
def test_a_client_without_a_certificate_is_refused_before_any_request(
    tls_served: ServedCluster, pki: dict[str, str]
) -> None:
    assert tls_served.kafka is not None
    host, port = tls_served.kafka.addresses[1]
    context = ssl.create_default_context(cafile=pki["ca"])  # trusts the server, presents no certificate
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(API_VERSIONS_V0)  # TLS 1.3: the refusal arrives with the first read
        if not tls.recv(4):
            raise ConnectionError("closed without an answer")
    refused = tls_served.kafka.stats.closed_for.get("tls handshake failed", 0)
    assert refused >= 1


@pytest.mark.req("PRO-15")
def test_a_plaintext_client_gets_nothing_from_a_tls_listener(tls_served: ServedCluster) -> None:
    assert tls_served.kafka is not None
    with socket.create_connection(tls_served.kafka.addresses[1], timeout=10) as raw:
        raw.sendall(API_VERSIONS_V0)
        try:
            answer = raw.recv(64)
        except ConnectionError:
            answer = b""
    # Nothing, or a TLS alert record (content type 21): never a Kafka response frame.
    assert answer == b"" or answer[0] == 21, answer
