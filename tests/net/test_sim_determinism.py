"""Same seed, same history: a busy faulty scenario replays event for event.

Two strengths are checked. Each link's own history (when each frame was sent, delivered,
dropped, duplicated or blackholed, and what its receiver got) depends only on the seed: it
is the same whatever order trio runs the tasks in. The whole network's trace, interleaving
all links, is the same too once trio's scheduler is itself deterministic; Hypothesis
arranges that inside ``@given`` by seeding trio's private scheduler ``Random`` (trio
registers it with Hypothesis), which this test does by hand.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio._core import _run as trio_run_module

from reflog.net.framing import FrameReader
from reflog.net.sim import LinkKey, NetEvent, SimNetwork
from tests.net.helpers import send_numbered

Trace = tuple[list[NetEvent], dict[str, list[int]]]
LinkHistory = dict[tuple[LinkKey, str], list[tuple[float, int]]]


async def _scenario(seed: int) -> Trace:
    events: list[NetEvent] = []
    received: dict[str, list[int]] = {}
    async with SimNetwork.open(seed, observer=events.append) as net:
        net.set_link_faults("client-1", "broker-1", drop=0.2, delay=(0.0, 2.0), duplicate=0.1)
        net.set_link_faults("client-2", "broker-1", delay=(0.0, 1.0), reorder=True)
        net.set_link_faults("broker-1", "broker-2", drop=0.3, duplicate=0.3)
        listener = net.listen("broker-1")
        net.listen("broker-2")

        async def drain() -> None:
            stream = await listener.accept()
            reader = FrameReader(stream)
            got = received.setdefault(stream.remote, [])
            while (frame := await reader.receive_frame()) is not None:
                got.append(int(frame))

        async def client(name: str, count: int) -> None:
            stream = await net.connect(name, "broker-1")
            for burst in range(count):
                await send_numbered(stream, 5, start=burst * 5)
                await trio.sleep(0.3)
            await stream.aclose()

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(drain)
            nursery.start_soon(client, "client-1", 10)
            nursery.start_soon(client, "client-2", 10)
            nursery.start_soon(client, "broker-2", 10)
            await trio.sleep(1.0)
            net.partition([{"broker-1"}, {"client-1"}])
            await trio.sleep(1.0)
            net.heal()
        for stats in net.stats.values():  # nothing is left in flight: every frame is accounted for
            assert stats.sent + stats.duplicated == stats.delivered + stats.dropped
    return events, received


def _run(seed: int, *, scheduler_seed: int | None = None) -> Trace:
    if scheduler_seed is not None:
        trio_run_module._r.seed(scheduler_seed)  # what Hypothesis does for trio inside @given
    return trio.run(_scenario, seed, clock=trio.testing.MockClock(autojump_threshold=0))


def _per_link(
    trace: Trace,
) -> tuple[dict[tuple[LinkKey, str], list[tuple[float, int]]], dict[str, list[int]]]:
    """Per link and event kind, the (time, size) sequence; and each receiver's frames.

    Connection ids are left out (they follow connect order), and so is the interleaving of
    kinds on one link at one instant (whether the pump ran between two sends of one burst).
    """
    events, received = trace
    links: LinkHistory = {}
    for event in events:
        links.setdefault((event.link, event.kind), []).append((event.time, event.size))
    return links, received


@pytest.mark.req("NET-22", "NET-21")
def test_each_link_history_depends_only_on_the_seed() -> None:
    runs = [_per_link(_run(11, scheduler_seed=s)) for s in (1, 2, 3)]
    links, received = runs[0]
    kinds = {kind for _, kind in links}
    assert kinds >= {"connect", "send", "deliver", "drop", "duplicate", "blackhole", "eof"}
    assert sum(len(v) for v in received.values()) > 50
    assert runs[1] == runs[0] and runs[2] == runs[0]
    assert _per_link(_run(12, scheduler_seed=1)) != runs[0]


@pytest.mark.req("NET-22")
def test_same_seed_same_whole_trace_under_a_deterministic_scheduler() -> None:
    first = _run(11, scheduler_seed=5)
    assert _run(11, scheduler_seed=5) == first
    assert _run(12, scheduler_seed=5) != first
