"""Mutation proof: both state machines catch the deliberate bugs of ``tests/mutants.py`` (REP-13, REP-29).

Each test switches one bug on with ``monkeypatch`` (undone when the test ends), runs a state
machine with its own ``ci``-profile settings (derandomized, the same example budget and step
count as in the default suite; shrinking is skipped, since only "it fails" matters here), and
asserts that an invariant fails. A mutant that stops being caught fails its test.

Which machine catches which bug follows from what each one models: the sans-IO machine controls
every fetch and every metadata update (so message-level races are within its reach) but keeps its
logs in memory; the end-to-end machine runs real segment files on simulated storage (so recovery
and fsync bugs are within its reach) but its network delivers in order.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from tests.cluster.test_cluster_state_machine import ClusterMachine
from tests.mutants import MUTANTS
from tests.replication.test_replication_state_machine import ReplicationMachine

SANS_IO = "sans-IO"
END_TO_END = "end-to-end"
MACHINES: dict[str, type[RuleBasedStateMachine]] = {SANS_IO: ReplicationMachine, END_TO_END: ClusterMachine}

CATCHERS: dict[str, tuple[str, ...]] = {
    "a follower truncates to its HW": (SANS_IO, END_TO_END),
    "the HW ignores min.insync.replicas": (SANS_IO, END_TO_END),
    "an ack before the ISR has the record": (SANS_IO, END_TO_END),
    # The end-to-end follower would refetch the diverging offset forever without simulated time
    # passing: a livelock, not a failed invariant. The sans-IO machine sees the divergence itself.
    "a follower ignores DivergingEpoch": (SANS_IO,),
    "election from outside the ISR": (END_TO_END,),
    "recovery skips the CRC": (END_TO_END,),
    "the recovery point advances before fsync": (END_TO_END,),
    "ISR expansion below the epoch's start offset": (SANS_IO,),
    "a fetch from a stale epoch accepted": (SANS_IO,),
}
"""Mutant -> the machines that must catch it under ``ci``."""

CASES = [(mutant, machine) for mutant, machines in CATCHERS.items() for machine in machines]


def mutation_settings(machine: type[RuleBasedStateMachine]) -> settings:
    """The machine's own settings under the loaded profile, without the shrink phase."""
    own = machine.TestCase.settings
    return settings(
        own,
        database=None,
        print_blob=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[*own.suppress_health_check, HealthCheck.filter_too_much],
    )


@pytest.mark.req("REP-13", "REP-29")
def test_every_mutant_has_a_catcher() -> None:
    assert set(CATCHERS) == set(MUTANTS), "each mutant in tests/mutants.py names the machines that catch it"
    assert len(MUTANTS) >= 8


@pytest.mark.req("REP-13", "REP-29")
@pytest.mark.parametrize(("mutant", "machine"), CASES, ids=[f"{m} [{k}]" for m, k in CASES])
def test_the_state_machine_catches(mutant: str, machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    MUTANTS[mutant](monkeypatch)
    cls = MACHINES[machine]
    with pytest.raises(AssertionError):
        run_state_machine_as_test(cls, settings=mutation_settings(cls))
