"""The fault vocabulary (faults.kinds) and faults carrying their brokers as data (faults.history)."""

from __future__ import annotations

import json
import re

import pytest

from faults.history import Fault, History, brokers_in_target
from faults.kinds import DAMAGING, TRAITS, FaultKind, Scope, kind_of
from faults.report import ReportRun, render_html


def test_every_kind_has_one_row_of_traits() -> None:
    assert set(TRAITS) == set(FaultKind)
    for kind in FaultKind:
        assert kind.traits is TRAITS[kind]


def test_a_kind_is_its_json_spelling() -> None:
    for kind in FaultKind:
        assert kind == kind.value and json.dumps(kind) == json.dumps(kind.value)
        assert kind_of(kind.value) is kind
    assert kind_of("meteor") is None


def test_damaging_kinds_are_the_storage_damaging_ones_and_hit_their_brokers() -> None:
    assert {k for k in FaultKind if k.damages_storage} == DAMAGING
    assert FaultKind.POWER_LOSS in DAMAGING and FaultKind.CRASH not in DAMAGING
    assert FaultKind.SLOW_DISK not in DAMAGING and FaultKind.SLOW_DISK.on_disk
    assert all(kind.hits_broker for kind in DAMAGING)


def test_scopes_and_repairs() -> None:
    assert {k for k in FaultKind if k.scope is Scope.LINK} == {FaultKind.BLOCK, FaultKind.LINK_FAULTS}
    assert {k for k in FaultKind if k.scope is Scope.CLUSTER} == {FaultKind.SPLIT, FaultKind.HEAL}
    assert {k for k in FaultKind if k.is_repair} == {FaultKind.HEAL, FaultKind.RESTART}
    assert {k for k in FaultKind if k.lasts_until_heal} == {
        FaultKind.ISOLATE,
        FaultKind.SPLIT,
        FaultKind.BLOCK,
        FaultKind.LINK_FAULTS,
    }


def test_brokers_travel_with_a_fault_through_json() -> None:
    history = History()
    history.fault(FaultKind.BLOCK, "broker-1->broker-3", 2.0, brokers=(1, 3))
    history.fault(FaultKind.SPLIT, "cluster", 3.0, brokers=(2,), left=["broker-2"])
    loaded = History.from_jsonl(history.to_jsonl())
    assert [f.brokers for f in loaded.faults()] == [(1, 3), (2,)]
    assert loaded.to_jsonl() == history.to_jsonl()


@pytest.mark.parametrize(
    ("target", "brokers"),
    [("broker-2", (2,)), ("broker-10,broker-1", (10, 1)), ("broker-1->broker-3", (1, 3)), ("cluster", ())],
)
def test_a_fault_recorded_without_brokers_takes_those_its_target_names(
    target: str, brokers: tuple[int, ...]
) -> None:
    assert brokers_in_target(target) == brokers
    history = History()
    history.fault("crash", target, 1.0)
    assert history.faults()[0].brokers == brokers
    old_line = json.dumps({"event": "fault", "kind": "crash", "target": target, "time": 1.0, "detail": {}})
    assert History.from_jsonl(old_line + "\n").faults() == [Fault("crash", target, 1.0, {}, brokers)]


def test_the_report_places_faults_by_their_brokers_not_their_target() -> None:
    history = History()
    history.fault(FaultKind.CRASH, "the second broker", 1.0, brokers=(2,))
    history.fault(FaultKind.LINK_FAULTS, "slow link", 2.0, brokers=(3, 1), delay=0.5)
    history.fault(FaultKind.SPLIT, "cluster", 3.0, brokers=(4,), left=["broker-4"])
    run = ReportRun("r", "", "defaults", "no loss", True, {}, history)
    page = render_html([run])
    lanes = re.findall(r'<text class="lane-label" data-lane="([^"]+)"', page)
    assert lanes == ["broker-1", "broker-2", "broker-3", "cluster"]  # a split's side draws no lane
    markers = re.findall(r'<g class="fault" data-lane="([^"]+)" data-kind="([^"]+)"', page)
    assert markers == [("broker-2", "crash"), ("broker-3", "link_faults"), ("cluster", "split")]
