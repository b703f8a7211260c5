"""Every storage error takes the log offline, whichever operation meets it (LOG-19, KIP-112).

The append, flush and read paths are covered in test_storage_faults.py; these are the others: a
roll or a full truncation that cannot create the new segment (EMFILE from the real ``open(2)``, on
real files), a truncation whose fsync fails and a timestamp lookup that meets a latent read error
(both on the simulated device). Each raises :class:`LogOfflineError` with the OS error's errno and
the path it hit, and from then on every call refuses with the log's directory as the path.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import reflog.storage._os as os_storage
from reflog.clock import ManualClock
from reflog.errors import LogOfflineError
from reflog.log import Log, LogConfig
from reflog.storage import OsFilesystem
from reflog.storage.sim import SimFilesystem
from tests.log.helpers import batch

DIRECTORY = "data/t-0"


def filled(fs: OsFilesystem | SimFilesystem, clock: ManualClock, count: int = 10) -> Log:
    fs.makedirs("data")
    log = Log.open(fs, DIRECTORY, LogConfig(), clock)
    for i in range(count):
        log.append_as_leader(batch([b"%05d" % i + b"." * 300]), leader_epoch=0)
    return log


def assert_offline_from_now_on(log: Log) -> None:
    assert log.offline
    for call in (
        lambda: log.append_as_leader(batch([b"after"]), leader_epoch=0),
        lambda: log.read(0, 100),
        log.flush,
        lambda: log.truncate_to(0),
    ):
        with pytest.raises(LogOfflineError) as info:
            call()
        assert info.value.path == DIRECTORY and "is offline after an I/O error" in str(info.value)


@pytest.fixture
def emfile_in_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], None]:
    """Call it to make every later ``open(2)`` under ``tmp_path`` fail with EMFILE."""
    real_open = os.open
    root = os.fspath(tmp_path) + os.sep

    def arm() -> None:
        def open_(path: str, flags: int, mode: int = 0o777, **kwargs: object) -> int:
            if os.fspath(path).startswith(root):
                raise OSError(errno.EMFILE, "Too many open files", path)
            return real_open(path, flags, mode)

        monkeypatch.setattr(os_storage.os, "open", open_)

    return arm


@pytest.mark.req("LOG-19")
@pytest.mark.parametrize("operation", ["roll", "truncate_fully_and_start_at"])
def test_a_new_segment_that_cannot_be_created_takes_the_log_offline(
    operation: str, tmp_path: Path, clock: ManualClock, emfile_in_data: Callable[[], None]
) -> None:
    log = filled(OsFilesystem(tmp_path), clock)
    emfile_in_data()
    with pytest.raises(LogOfflineError) as info:
        if operation == "roll":
            log.roll()
        else:
            log.truncate_fully_and_start_at(500)
    assert info.value.errno == errno.EMFILE and info.value.retriable
    expected = 10 if operation == "roll" else 500
    assert info.value.path == f"{DIRECTORY}/{expected:020d}.log"
    assert "went offline" in str(info.value)
    assert_offline_from_now_on(log)


@pytest.mark.req("LOG-19")
def test_a_truncation_whose_fsync_fails_takes_the_log_offline(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=3)
    log = filled(fs, clock)
    segment = log.active_segment.log_path
    fs.faults.fail_writeback(segment)
    with pytest.raises(LogOfflineError) as info:
        log.truncate_to(5)
    assert (info.value.errno, info.value.path) == (errno.EIO, segment)
    assert_offline_from_now_on(log)


@pytest.mark.req("LOG-19", "LOG-25")
def test_a_timestamp_lookup_that_meets_a_read_error_takes_the_log_offline(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=3)
    log = filled(fs, clock)
    log.flush()
    fs.drop_clean()
    segment = log.active_segment.log_path
    fs.faults.latent_read_error(segment, first_page=0)
    with pytest.raises(LogOfflineError) as info:
        log.offset_for_timestamp(0)
    assert (info.value.errno, info.value.path) == (errno.EIO, segment)
    assert_offline_from_now_on(log)
