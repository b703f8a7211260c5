"""``reflog serve`` as a user runs it: a separate process, a bootstrap line, a real client (PRO-1)."""

from __future__ import annotations

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
