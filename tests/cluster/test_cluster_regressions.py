"""Regressions the deep profile found in the end-to-end machine, replayed as fixed step lists (REP-27)."""

from __future__ import annotations

import pytest

from reflog.storage.sim import PowerLossMode
from tests.cluster.test_cluster_state_machine import ClusterMachine


@pytest.mark.req("REP-27")
def test_pages_whose_write_back_failed_are_not_counted_as_guaranteed() -> None:
    """fsyncgate: broker 3's write-back fails (EIO), it halts and restarts without a reboot, and
    trusts the cached pages, which are clean but never reached the device; later fsyncs succeed
    without writing them. Its power loss then destroys records its recovery point covers. The
    premise must not count them as guaranteed by its storage (they are excused, not lost)."""
    machine = ClusterMachine()
    B0, B1, B2, B3, B4 = machine.setup(n=5, seed=0, min_isr=2, flush_messages=1)
    steps = [
        lambda: machine.a_follower_falls_behind(broker=B1, producer="idempotent"),
        lambda: machine.disk_fault(broker=B2, kind="fsync_error"),
        machine.heal,
        lambda: machine.a_follower_falls_behind(broker=B4, producer="acks-all"),
        lambda: machine.fault_the_leader_under_load(
            count=1, how="power_loss", producer="acks-all", replication=0.5
        ),
        lambda: machine.kill(broker=B1),
        lambda: machine.clear_disk_faults(broker=B1),
        lambda: machine.fault_the_leader_under_load(
            count=2, how="torn_power_loss", producer="acks-1", replication=0.5
        ),
        lambda: machine.fault_the_leader_under_load(
            count=4, how="clean_shutdown", producer="acks-1", replication=0.1
        ),
        lambda: machine.torn_power_loss_under_load(count=4, producer="acks-1", replica=1),
        lambda: machine.replace_disk(broker=B0),
        lambda: machine.replace_disk(broker=B1),
        lambda: machine.restart(broker=B2),
        lambda: machine.fsync(broker=B2),
        lambda: machine.produce(count=4, producer="acks-0"),
        lambda: machine.isolate(broker=B3),
        lambda: machine.a_follower_falls_behind(broker=B1, producer="acks-all"),
        lambda: machine.power_loss(broker=B2, mode=PowerLossMode.TORN),
    ]
    try:
        for step in steps:
            step()
            machine.the_guarantee_holds()
        fs = machine.cluster.broker(3).fs
        assert fs.failed_writes, "the scenario exercises a failed write-back"  # type: ignore[attr-defined]
    finally:
        machine.teardown()  # the final phase restarts broker 3 and checks what it recovered
