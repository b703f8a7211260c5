"""The produce section of ``reflog bench`` measures what it claims (PERF-10..PERF-12).

No speed is asserted. One quick run of the section (a real ``reflog serve`` child process and
confluent-kafka, then reflog's own producer) is checked for its logic: a figure for every case,
every record sent acknowledged, batches stored as the case says (one record per batch
unbatched), ratios wherever a baseline exists, the broker process gone and the scratch
directory empty afterwards. The harness's failure paths are checked without a broker.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reflog.bench import produce
from reflog.bench.child import BenchError
from reflog.bench.confluent import ConfluentRun
from reflog.bench.produce import (
    QUICK_CODECS,
    TARGET_RECORDS_S,
    ServedBroker,
    produce_section,
    raw_write_mib_s,
    served_broker,
)
from reflog.bench.results import Section
from reflog.bench.settings import BenchSettings, no_progress
from reflog.bench.stored import stored_batches
from reflog.records import Record, build_batch


class QuickRun:
    """One quick run of the section, with every broker process it started."""

    def __init__(self, section: Section, brokers: list[ServedBroker], directory: Path) -> None:
        self.section = section
        self.brokers = brokers
        self.directory = directory


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuickRun]:
    directory = tmp_path_factory.mktemp("produce-bench")
    brokers: list[ServedBroker] = []
    real = produce.served_broker

    @contextmanager
    def recording(data_dir: str, *, timeout: float = produce.START_TIMEOUT) -> Iterator[ServedBroker]:
        with real(data_dir, timeout=timeout) as broker:
            brokers.append(broker)
            yield broker

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(produce, "served_broker", recording)
        section = produce_section(BenchSettings(quick=True, directory=str(directory)), no_progress)
    yield QuickRun(section, brokers, directory)


def _expected_keys() -> set[str]:
    keys = {"raw_write_1mib", "e2e_1mib", "target_300k"}
    for client in ("confluent", "reflog"):
        for size in (100, 1024):
            for kind in ("batched", "unbatched"):
                keys |= {f"{client}_{size}_{kind}_{codec}" for codec in QUICK_CODECS}
    return keys


@pytest.mark.req("PERF-10", "PERF-11", "PERF-12")
def test_a_quick_run_has_a_figure_for_every_case(quick_run: QuickRun) -> None:
    section = quick_run.section
    assert section.name == "produce"
    assert {f.key for f in section.figures} == _expected_keys()
    for fig in section.figures:
        assert math.isfinite(fig.value) and fig.value > 0, fig
        if fig.key != "target_300k":
            assert len(fig.runs) == 1, fig  # quick: one run per measurement
    assert section.notes


@pytest.mark.req("PERF-10", "PERF-11", "PERF-12")
def test_every_record_sent_was_acknowledged_and_stored_as_the_case_says(quick_run: QuickRun) -> None:
    for fig in quick_run.section.figures:
        if fig.key in ("raw_write_1mib", "target_300k"):
            continue
        sent = int(fig.detail["records per run"]) * len(fig.runs)
        assert fig.detail["records acknowledged"] == sent, fig
        per_batch = float(fig.detail["stored records per batch"])
        if "unbatched" in fig.key:
            assert per_batch == 1.0, fig  # one record per batch, really
        else:
            assert per_batch > 10, fig
    e2e = quick_run.section.figure("e2e_1mib")
    assert float(e2e.detail["stored KiB per batch"]) > 256  # batches of up to 1 MiB, not small ones


@pytest.mark.req("PERF-12")
def test_ratios_are_set_where_a_baseline_exists(quick_run: QuickRun) -> None:
    section = quick_run.section
    for fig in section.figures:
        if fig.baseline is None:
            assert fig.ratio is None, fig
        else:
            base = section.figure(fig.baseline)
            assert base.unit == fig.unit
            assert fig.ratio == pytest.approx(fig.value / base.value), fig
    e2e = section.figure("e2e_1mib")
    assert e2e.baseline == "raw_write_1mib" and e2e.target is not None and e2e.target.bound == 0.8
    headline = section.figure("confluent_100_batched_none")
    assert headline.baseline == "target_300k" and headline.target is not None
    assert section.figure("target_300k").value == TARGET_RECORDS_S
    assert headline.ratio == pytest.approx(headline.value / TARGET_RECORDS_S)


@pytest.mark.req("PERF-10")
def test_the_broker_process_is_gone_and_the_directory_empty(quick_run: QuickRun) -> None:
    assert len(quick_run.brokers) == 1
    for broker in quick_run.brokers:
        assert broker.process.returncode is not None  # terminated and waited for (reaped)
        assert not Path(f"/proc/{broker.process.pid}").exists()
    assert list(quick_run.directory.iterdir()) == []


@pytest.mark.req("PERF-10")
def test_a_broker_that_fails_to_start_is_reported_with_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('no such disk'); sys.exit(3)"]
    monkeypatch.setattr(produce, "_broker_command", lambda data_dir: failing)
    with (
        pytest.raises(BenchError, match=r"(?s)exit status 3\).*no such disk"),
        served_broker(str(tmp_path / "d")),
    ):
        pytest.fail("the block must not run")


@pytest.mark.req("PERF-10")
def test_a_silent_broker_times_out_and_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hung = [sys.executable, "-c", "import os, sys, time; print(os.getpid(), file=sys.stderr); time.sleep(60)"]
    monkeypatch.setattr(produce, "_broker_command", lambda data_dir: hung)
    with (
        pytest.raises(BenchError, match="did not start") as error,
        served_broker(str(tmp_path / "d"), timeout=0.5),
    ):
        pytest.fail("the block must not run")
    found = re.search(r"stderr:\n(\d+)", str(error.value))
    assert found is not None, error.value
    assert not Path(f"/proc/{found.group(1)}").exists()  # stopped and reaped, not left running


@pytest.mark.req("PERF-10")
def test_a_delivery_error_or_a_missing_report_fails_loudly() -> None:
    client = ConfluentRun("127.0.0.1:9", "t", batched=True, codec="none")  # never connected
    try:
        client.acknowledged = 1
        client._check(1, 0)  # all acknowledged: fine
        client.errors.append("Broker: Not enough in-sync replicas")
        with pytest.raises(BenchError, match="Not enough in-sync replicas"):
            client._check(1, 0)
        client.errors.clear()
        with pytest.raises(BenchError, match="0 of 1 records acknowledged, 1 still queued"):
            client.acknowledged = 0
            client._check(1, 1)
    finally:
        client.producer.close()


@pytest.mark.req("PERF-10")
def test_stored_batches_reads_the_batch_headers_of_every_segment(tmp_path: Path) -> None:
    partition = tmp_path / "broker-1" / "data" / "orders-0"
    partition.mkdir(parents=True)
    one = build_batch([Record(key=None, value=b"v" * 100)])
    three = build_batch([Record(key=None, value=b"v" * 10)] * 3)
    (partition / "00000000000000000000.log").write_bytes(one + three)
    (partition / "00000000000000000004.log").write_bytes(three + b"\x00" * 61)  # a zeroed tail
    stored = stored_batches(str(tmp_path), "orders")
    assert (stored.batches, stored.records, stored.bytes) == (3, 7, len(one) + 2 * len(three))
    assert stored.records_per_batch == pytest.approx(7 / 3)
    assert stored_batches(str(tmp_path), "other").batches == 0


@pytest.mark.req("PERF-12")
def test_the_raw_write_loop_removes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "raw"
    assert raw_write_mib_s(str(path), 2) > 0
    assert not path.exists()
    assert os.listdir(tmp_path) == []
