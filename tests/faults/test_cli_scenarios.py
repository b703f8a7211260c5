"""``reflog scenarios`` runs the catalogue and exits non-zero on an unexpected verdict (HAR-6)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

import faults.catalogue as catalogue
import reflog.cli_scenarios as cli
import reflog.log.segment as segment_module
from faults.history import History
from reflog.cli import main
from reflog.records import BatchHeader, parse_header


@pytest.mark.req("HAR-6")
def test_scenarios_command_prints_json_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--only", "acks-all-leader-power-loss", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["scenario"] == "acks-all-leader-power-loss" and rows[0]["verdict"] == "as expected"


@pytest.mark.req("HAR-6")
def test_unknown_scenario_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--only", "no-such-scenario"]) == 2
    assert "unknown scenario" in capsys.readouterr().err


@pytest.mark.req("HAR-6")
def test_an_unexpected_verdict_exits_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    broken = tuple(
        attrs.evolve(s, topic_configs={"min.insync.replicas": 2}) if "flush" in s.name else s
        for s in catalogue.CATALOGUE
    )
    monkeypatch.setattr(cli, "CATALOGUE", broken)
    assert main(["scenarios", "--only", "all-replicas-power-loss-flush-every-message"]) == 1
    assert "replay: reflog scenarios --seed 1 --only" in capsys.readouterr().err


@pytest.mark.req("HAR-14")
def test_table_progress_metrics_report_and_histories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    histories = tmp_path / "histories"
    only = ["torn-tail-recovered", "lagging-consumer-page-cache"]
    argv = ["scenarios", "--seed", "2", "--report", str(report), "--history-dir", str(histories)]
    assert main([*argv, "--only", *only]) == 0
    out, err = capsys.readouterr()
    assert "[------------------------] 0/2" in err and "2/2" in err and "done" in err  # progress
    header, rule, *rows = out.splitlines()[:4]
    assert header.startswith("scenario") and header.rstrip().endswith("verdict") and set(rule) <= {"-", " "}
    assert all(row.rstrip().endswith("as expected") for row in rows)
    assert "measured:" in out and "torn-tail-recovered: torn pages on the leader = " in out
    assert "lagging-consumer-page-cache: leader read hit rate, with a lagging consumer = " in out
    assert "2 of 2 scenarios as expected, in " in out and f"report: {report}" in out
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and all(name in page for name in only)
    saved = sorted(p.name for p in histories.iterdir())
    assert saved == [f"{name}.seed2.jsonl" for name in sorted(only)]
    assert History.from_jsonl((histories / saved[0]).read_text(encoding="utf-8")).faults()


@pytest.mark.req("HAR-14")
def test_an_unexpected_verdict_names_the_anomaly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def header_only(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
        return parse_header(buf, pos)

    monkeypatch.setattr(segment_module, "verify_crc", header_only)  # recovery keeps torn batches
    assert main(["scenarios", "--only", "torn-tail-recovered"]) == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED (" in out and "replicas holding corrupt batches" in out
