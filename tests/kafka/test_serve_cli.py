"""``reflog serve`` as a user runs it: a separate process, a bootstrap line, a real client (PRO-1)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import warnings

import pytest

from tests.kafka.raw import RawClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]


@pytest.mark.req("PRO-1")
def test_reflog_serve_prints_a_bootstrap_address_that_clients_use(tmp_path: object) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reflog.cli",
            "serve",
            "--port",
            "0",
            "--brokers",
            "3",
            "--default-replication-factor",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("bootstrap: "), line
            bootstrap = line.split()[1]
            assert len(bootstrap.split(",")) == 3
            producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all")
            metadata = producer.send("served", b"hello").get(timeout=30)
            producer.close()
            assert metadata.offset == 0
            host, port = bootstrap.split(",")[0].split(":")
            client = RawClient((host, int(port)))
            client.close()
        finally:
            process.terminate()
            process.wait(30)


@pytest.mark.req("PRO-1")
def test_reflog_serve_refuses_os_storage_without_a_directory() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reflog.cli", "serve", "--storage", "os", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--data-dir" in result.stderr


@pytest.mark.req("PERF-1", "PERF-3", "PRO-64")
def test_reflog_serve_reports_its_transfer_path_metrics_when_it_stops() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "reflog.cli", "serve", "--port", "0", "--brokers", "1", "--transfer", "copy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            bootstrap = process.stdout.readline().split()[1]
            producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all")
            for i in range(5):
                producer.send("metered", f"m{i}".encode()).get(timeout=30)
            producer.close()
            consumer = kafka.KafkaConsumer(
                "metered", bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
            )
            assert len(list(consumer)) == 5
            consumer.close()
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
    line = next(x for x in stderr.splitlines() if x.startswith("transfer metrics: "))
    metrics = json.loads(line.removeprefix("transfer metrics: "))["1"]
    assert metrics["transfer-mode"] == "copy"
    assert metrics["payload-bytes-sent"] > 0
    assert metrics["payload-bytes-copied"] == metrics["payload-bytes-sent"]
    assert metrics["syscalls"]["sendmsg"] >= metrics["responses"] > 0
    line = next(x for x in stderr.splitlines() if x.startswith("requests by version: "))
    versions = json.loads(line.removeprefix("requests by version: "))
    assert {name.split()[0] for name in versions} >= {"API_VERSIONS", "METADATA", "PRODUCE", "FETCH"}
    assert all(count > 0 for count in versions.values())
