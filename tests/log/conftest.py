"""Fixtures for log tests: a manual clock and the two storage backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflog.clock import ManualClock
from reflog.storage import Filesystem, OsFilesystem
from reflog.storage.sim import SimFilesystem


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


@pytest.fixture
def sim_fs(clock: ManualClock) -> SimFilesystem:
    return SimFilesystem(clock=clock, seed=0)


@pytest.fixture
def os_fs(tmp_path: Path) -> OsFilesystem:
    return OsFilesystem(tmp_path / "root")


@pytest.fixture(params=["os", "sim"])
def any_fs(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Filesystem:
    """The same test on real files and on the simulated page cache (LOG-20)."""
    if request.param == "os":
        return OsFilesystem(tmp_path / "root")
    return SimFilesystem(clock=clock, seed=0)
