"""A real disk fills up under a served cluster (REP-42): one broker's data directory is a small tmpfs,
the test fills it, and a real client producing with ``acks=all`` through the fault loses nothing.

The broker on the full disk halts with ``ENOSPC`` (the kernel's, not an injected one) while the other
two, in the same process, keep serving; once the ballast is deleted the harness restarts it, it
recovers from its directory and rejoins the ISR.

Mounting needs root (or a user namespace that allows it) on Linux; elsewhere the test is skipped
with the reason. The simulated-storage and injected-EMFILE variants of REP-42 run everywhere
(``tests/cluster/test_log_dir_failure.py``, ``tests/cluster/test_fetch_limits.py``).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflog.broker import BrokerConfig
from reflog.replication.controller_config import ControllerConfig
from tests.kafka.canary import canary
from tests.kafka.real_client import read_partition, retrying_producer
from tests.kafka.served import ServedCluster

TOPIC = "canary"
VICTIM = 2
RECORDS = 150
VALUE_BYTES = 2048  # each record crosses into fresh tmpfs pages quickly once the disk is full
DISK = "1m"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/data/broker-2`` on its own 1 MiB tmpfs; unmounted afterwards."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a real full disk is made with a Linux tmpfs mount")
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mount_point = tmp_path / "data" / f"broker-{VICTIM}"
    mount_point.mkdir(parents=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount_point))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        _run("umount", "-l", str(mount_point))


def fill(directory: Path) -> Path:
    """Write a ballast file until the kernel answers ENOSPC; returns it."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o644)
    chunk = b"\0" * 4096
    try:
        while True:
            os.write(fd, chunk)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return ballast


def wait_until(condition: object, timeout: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.mark.req("REP-42", "REP-26")
def test_a_full_disk_halts_only_its_broker_and_a_real_client_loses_nothing(small_disk: Path) -> None:
    served = ServedCluster(
        3,
        storage="os",
        data_dir=small_disk.parent,
        # Kafka's names, shorter than its defaults so the halted broker leaves the ISR in seconds
        controller_config=ControllerConfig(elect_last_known_leader=True, broker_session_timeout_ms=2000),
        broker_config=BrokerConfig(replica_lag_time_max_ms=2000),
    )
    try:
        assert served.kafka is not None
        cluster = served.kafka.cluster
        served.create_topic(TOPIC, partitions=1, replication_factor=3, min_insync_replicas=2)
        handle = cluster.broker(VICTIM)
        producer = retrying_producer(served.bootstrap)
        futures = []
        ballast: Path | None = None
        for i in range(RECORDS):
            value = f"r{i:04d}-".encode().ljust(VALUE_BYTES, b".")
            futures.append((value, producer.send(TOPIC, value)))
            if i == RECORDS // 3:
                producer.flush(30)  # the first third is on all three brokers
                ballast = fill(small_disk)
            if i == 2 * RECORDS // 3:
                producer.flush(60)
                assert wait_until(lambda: not handle.running, 20), "the broker on the full disk kept running"
                reason = handle.exit_reason
                assert reason is not None and "ENOSPC" in reason, reason
                assert all(cluster.broker(b).running for b in (1, 2, 3) if b != VICTIM)
            time.sleep(0.002)
        producer.flush(60)
        producer.close()
        failed = [value[:5] for value, future in futures if not future.succeeded()]
        assert not failed, f"the client saw {len(failed)} sends fail: {failed[:5]}"
        acknowledged = [value for value, _ in futures]

        assert ballast is not None
        ballast.unlink()  # space freed: the harness brings the broker back
        served.call(handle.restart)
        assert wait_until(lambda: VICTIM in cluster.controller.partition(TOPIC, 0).isr, 30), (
            "the restarted broker did not catch up into the ISR"
        )

        read = set(read_partition(served.bootstrap, TOPIC))
        missing = [v[:5] for v in acknowledged if v not in read]
        assert not missing, f"{len(missing)} acknowledged records lost: {missing[:5]}"
        canary(served)
    finally:
        served.close()
