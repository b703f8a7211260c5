"""``reflog scenarios`` runs the catalogue and exits non-zero on an unexpected verdict (HAR-6)."""

from __future__ import annotations

import json

import attrs
import pytest

import faults.scenarios as catalogue
import reflog.cli_scenarios as cli
from reflog.cli import main


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
