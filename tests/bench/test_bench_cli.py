"""``reflog bench``: the quick smoke run of every section, and the report's logic (PERF-6, PERF-7).

No timing is asserted: the smoke run checks that every section runs and reports well-formed
figures, ratios where a baseline exists, a JSON document and one PNG per section.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from reflog.bench.report import format_section
from reflog.bench.results import Figure, Section, Target
from reflog.cli_bench import SECTIONS


@pytest.mark.req("PERF-6", "PERF-7", "PERF-10", "PERF-11", "PERF-12", "PERF-23")
def test_reflog_bench_quick_runs_every_section_and_writes_json_and_plots(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    plots = tmp_path / "plots"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reflog.cli",
            "bench",
            "--quick",
            "--json",
            str(out_json),
            "--plots",
            str(plots),
            "--dir",
            str(scratch),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out_json.read_text())
    names = [s["name"] for s in document["sections"]]
    assert names == [name for name, _, _ in SECTIONS]
    for section in document["sections"]:
        assert f"[{section['name']}]" in done.stdout
        assert section["figures"], section["name"]
        keys = {f["key"] for f in section["figures"]}
        for fig in section["figures"]:
            assert fig["value"] is not None and math.isfinite(fig["value"]), fig
            if fig["baseline"] is not None:
                assert fig["baseline"] in keys and fig["ratio"] is not None, fig
        assert (plots / f"{section['name'].replace(' ', '-')}.png").stat().st_size > 1000
    assert list(scratch.iterdir()) == []  # every section cleaned up after itself
    fetch = next(s for s in document["sections"] if s["name"] == "fetch")
    copies = {f["key"]: f["detail"].get("payload copies per byte sent") for f in fetch["figures"]}
    assert copies["zero_copy_mib_s"] == 0  # the counters behind PERF-2..4, seen end to end
    assert copies["copy_mib_s"] == 1
    assert copies["tls_mib_s"] >= 1
    assert "targets:" in done.stdout
    by_section = {s["name"]: {f["key"]: f for f in s["figures"]} for s in document["sections"]}
    produce = by_section["produce"]
    for kind in ("batched", "unbatched"):  # a real client and reflog's producer, each shape
        assert f"confluent_100_{kind}_lz4" in produce and f"reflog_1024_{kind}_none" in produce
    assert produce["e2e_1mib"]["baseline"] == "raw_write_1mib"
    headline = produce["confluent_100_batched_none"]  # the 300,000 records/s target
    assert headline["baseline"] == "target_300k" and headline["target"] == {"kind": "min", "bound": 1.0}
    durability = by_section["durability"]
    assert durability["acks_all_records_s"]["ratio"] > 0 and durability["flush_1_records_s"]["ratio"] > 0


@pytest.mark.req("PERF-6")
def test_a_ratio_is_divided_by_its_baseline_and_a_missed_target_is_reported() -> None:
    section = Section(
        "demo",
        "a demo",
        (
            Figure("raw", "g", "raw loop", 200.0, "MiB/s"),
            Figure("fast", "g", "reflog", 190.0, "MiB/s", baseline="raw", target=Target("min", 0.9)),
            Figure("slow", "g", "reflog", 100.0, "MiB/s", baseline="raw", target=Target("min", 0.9)),
            Figure("cpu_raw", "c", "raw loop", 0.5, "s/GiB", higher_is_better=False),
            Figure("cpu", "c", "reflog", 0.7, "s/GiB", baseline="cpu_raw", target=Target("max", 1.2)),
        ),
    ).resolve()
    assert section.figure("fast").ratio == pytest.approx(0.95)
    assert section.figure("fast").target_met is True
    assert section.figure("slow").target_met is False
    assert section.figure("cpu").ratio == pytest.approx(1.4)
    assert section.figure("cpu").target_met is False  # at most 1.2 times the raw CPU
    assert section.figure("raw").ratio is None and section.figure("raw").target_met is None
    table = format_section(section)
    assert ">= 0.9 met" in table and ">= 0.9 MISSED" in table and "<= 1.2 MISSED" in table


@pytest.mark.req("PERF-6")
def test_unknown_sections_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reflog.cli", "bench", "--only", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "unknown section" in done.stderr
