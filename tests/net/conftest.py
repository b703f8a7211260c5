"""Fixtures for the network seam's tests: a running :class:`SimNetwork`."""

from __future__ import annotations

import pytest
import trio

from reflog.net.sim import SimNetwork
from tests.net.helpers import SEED


@pytest.fixture
async def net(nursery: trio.Nursery) -> SimNetwork:
    """A running network (seed :data:`SEED`), stopped when the test ends."""
    network = SimNetwork(SEED)
    await nursery.start(network.run)
    return network
