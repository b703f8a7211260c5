"""A broker whose log goes offline after an I/O error halts, and comes back on restart (REP-26)."""

from __future__ import annotations

import pytest
import trio

from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.errors import StorageError
from reflog.replication.messages import PartitionMetadata
from reflog.replication.partition import Partition
from reflog.storage.sim import SimFilesystem


def active_segment(fs: SimFilesystem, directory: str) -> str:
    return f"{directory}/{sorted(n for n in fs.listdir(directory) if n.endswith('.log'))[-1]}"


@pytest.mark.req("REP-26")
@pytest.mark.parametrize("fault", ["fsync EIO", "ENOSPC"])
async def test_an_io_error_halts_the_broker_without_a_false_acknowledgement(
    fault: str, autojump_clock: object
) -> None:
    async with open_cluster(brokers=3, seed=4) as cluster:
        await cluster.create_topic("t", replication_factor=3, configs={"flush.messages": 1})
        producer = cluster.producer(acks=1, retries=0)
        assert (await producer.send("t", b"before")).status is SendStatus.OK
        leader = cluster.controller.partition("t", 0).leader
        handle = cluster.broker(leader)
        fs = handle.fs
        assert isinstance(fs, SimFilesystem)
        if fault == "fsync EIO":
            fs.faults.fail_writeback(active_segment(fs, "data/t-0"), persistent=True)
        else:
            fs.faults.enospc_after(0)
        result = await producer.send("t", b"x" * 5000)  # needs a fsync, or a new page
        assert result.status is not SendStatus.OK  # never acknowledged
        with trio.fail_after(5):
            while handle.running:
                await trio.sleep(0.1)
        assert handle.exit_reason is not None and "log directory failed" in handle.exit_reason
        await trio.sleep(12)  # after broker.session.timeout.ms (9 s) the controller fences it
        assert cluster.controller.partition("t", 0).leader not in (leader, -1)
        fs.faults.clear()
        await handle.restart()
        assert handle.running and handle.exit_reason is None
        await cluster.wait_for_leaders("t")


@pytest.mark.req("REP-26")
async def test_a_clean_shutdown_whose_final_flush_fails_is_unclean_and_does_not_raise(
    autojump_clock: object,
) -> None:
    async with open_cluster(brokers=3, seed=5) as cluster:
        await cluster.create_topic("t", replication_factor=3)
        producer = cluster.producer(acks="all")
        assert (await producer.send("t", b"unflushed")).status is SendStatus.OK
        handle = cluster.broker(1)
        fs = handle.fs
        assert isinstance(fs, SimFilesystem)
        fs.faults.fail_writeback(active_segment(fs, "data/t-0"))
        await handle.stop()  # the final flush fails: no exception, no clean-shutdown marker
        assert not handle.running and handle.exit_reason is not None
        await handle.restart()
        assert handle.broker.last_startup_clean is False  # recovery ran


@pytest.mark.req("REP-26")
async def test_a_new_leader_that_cannot_write_its_epoch_checkpoint_halts_alone(
    autojump_clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the deep profile: becoming leader writes the leader-epoch checkpoint, and ENOSPC
    there must halt that broker (a log dir failure), not crash the process hosting the cluster."""
    async with open_cluster(brokers=3, seed=6) as cluster:
        await cluster.create_topic("t", replication_factor=3, configs={"min.insync.replicas": 1})
        producer = cluster.producer(acks="all")
        assert (await producer.send("t", b"kept")).status is SendStatus.OK
        metadata = cluster.controller.partition("t", 0)
        full_id = next(r for r in metadata.isr if r != metadata.leader)
        original = Partition.apply_metadata

        def apply(self: Partition, new: PartitionMetadata, *args: object, **kwargs: object) -> None:
            if self.broker_id == full_id and new.leader == full_id:
                raise StorageError("ENOSPC: no space left for 'data/t-0/leader-epoch-checkpoint.tmp'")
            original(self, new, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Partition, "apply_metadata", apply)
        for other in metadata.replicas:
            if other != full_id:
                await cluster.broker(other).kill()  # the full broker is the only one left to lead
        full = cluster.broker(full_id)
        with trio.fail_after(60):
            while full.running:
                await trio.sleep(0.5)
        assert full.exit_reason is not None and "leader-epoch-checkpoint" in full.exit_reason
        monkeypatch.undo()
        for handle in cluster.brokers:
            await handle.restart()
        # The process and every other broker went on: a new topic takes writes. ("t" itself may stay
        # offline: every replica of it restarted uncleanly, and KIP-966 waits for an unclean election.)
        await cluster.create_topic("u", replication_factor=3)
        assert (await producer.send("u", b"after")).status is SendStatus.OK
