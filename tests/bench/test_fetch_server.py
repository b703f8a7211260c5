"""The fetch bench's server finds the segment its raw loops send (PERF-7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflog.bench.fetch_server import TOPIC, _first_segment


@pytest.mark.req("PERF-7")
def test_the_raw_loops_send_the_bench_partitions_segment_not_another_log(tmp_path: Path) -> None:
    metadata = tmp_path / "data" / "controller" / "metadata" / "__cluster_metadata-0"
    partition = tmp_path / "data" / "broker-1" / "data" / f"{TOPIC}-0"
    for directory in (metadata, partition):
        directory.mkdir(parents=True)
        (directory / "00000000000000000000.log").write_bytes(b"x")
    assert _first_segment(str(tmp_path)) == str(partition / "00000000000000000000.log")
    (partition / "00000000000000000000.log").unlink()
    with pytest.raises(RuntimeError, match="expected one first segment"):
        _first_segment(str(tmp_path))
