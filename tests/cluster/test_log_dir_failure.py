"""A broker whose log goes offline after an I/O error halts, and comes back on restart (REP-26)."""

from __future__ import annotations

import pytest
import trio

from reflog.client import SendStatus
from reflog.cluster import open_cluster
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
