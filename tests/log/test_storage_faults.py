"""The single-node storage faults of crash-consistency.md §4, injected through SimFilesystem (FLT-*)."""

from __future__ import annotations

import contextlib
import copy
import errno

import pytest

from faults.storage_oracle import batch_map, guaranteed_end
from reflog.clock import ManualClock
from reflog.errors import CorruptRecordError, LogOfflineError, StorageError
from reflog.log import (
    CLEAN_SHUTDOWN_FILE,
    RECOVERY_POINT_FILE,
    Log,
    LogConfig,
    LogManager,
    TopicPartition,
    read_checkpoint,
    write_checkpoint,
)
from reflog.records import verify_crc
from reflog.storage.sim import PowerLossMode, SimFilesystem, SimulatedCrash
from tests.log.helpers import batch, values_of

TP = TopicPartition("t", 0)
DIR = "data/t-0"


def start(fs: SimFilesystem, clock: ManualClock, config: LogConfig | None = None) -> LogManager:
    manager = LogManager(fs, "data", clock, default_config=config or LogConfig())
    manager.startup()
    return manager


def fill(log: Log, count: int, size: int = 300, start: int = 0) -> None:
    for i in range(start, start + count):
        log.append_as_leader(batch([b"%05d" % i + b"." * size]), leader_epoch=0)


def served_values(log: Log) -> list[bytes | None]:
    out: list[bytes | None] = []
    for raw in log.iter_batches():
        verify_crc(raw)
        out.extend(values_of(raw))
    return out


def is_clean_log(data: bytes) -> bool:
    """Whether ``data`` is a sequence of valid batches with contiguous offsets from 0."""
    position, expected = 0, 0
    while position < len(data):
        try:
            header = verify_crc(data, position)
        except CorruptRecordError:
            return False
        if header.base_offset != expected:
            return False
        position, expected = position + header.size, header.next_offset
    return True


def expected_values(count: int, size: int = 300) -> list[bytes | None]:
    return [b"%05d" % i + b"." * size for i in range(count)]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


@pytest.mark.req("FLT-1", "LOG-16", "LOG-13")
def test_clean_power_loss_keeps_exactly_the_flushed_prefix(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=1)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 30)
    log.flush()
    manager.checkpoint_recovery_points()
    fill(log, 25, start=30)
    fs.writeback_tick()  # some pages may reach the volatile device cache: still not durable
    assert log.log_end_offset == 55
    fs.power_loss(PowerLossMode.CLEAN)
    manager = start(fs, clock)
    recovered = manager.logs[TP]
    report = recovered.recovery_report
    assert report is not None and not report.clean_shutdown
    assert report.recovered_from is not None and report.recovered_from <= 30
    assert recovered.log_end_offset == 30
    assert served_values(recovered) == expected_values(30)
    assert recovered.recovery_point == 30


@pytest.mark.req("FLT-2")
def test_partial_power_loss_discards_intact_batches_after_the_first_hole(clock: ManualClock) -> None:
    """Find a seed where a later page survived but an earlier one did not; recovery stops at the hole."""
    for seed in range(200):
        fs = SimFilesystem(clock=clock, seed=seed)
        manager = start(fs, clock)
        log = manager.create_log(*TP)
        fill(log, 4)
        log.flush()
        fill(log, 60, start=4)  # ~5 pages of unflushed batches
        seg = log.active_segment.log_path
        durable_size = len(fs.durable_bytes(seg))
        report = fs.power_loss(PowerLossMode.PARTIAL)
        lost = sorted(p.page for p in report.lost_pages if p.path == seg)
        kept = sorted(p.page for p in report.surviving_pages if p.path == seg)
        if not lost or not kept or max(kept) < min(lost) or min(lost) * 4096 < durable_size:
            continue
        recovered = start(fs, clock).logs[TP]
        values = served_values(recovered)
        assert values == expected_values(len(values))
        # Nothing at or after the first lost page is served, although later pages survived.
        assert recovered.active_segment.size <= min(lost) * 4096
        assert recovered.log_end_offset >= 4
        return
    pytest.fail("no seed produced out-of-order survival")


@pytest.mark.req("FLT-3", "HAR-3")
def test_torn_power_loss_recovers_to_the_last_valid_batch(clock: ManualClock) -> None:
    torn_seen = 0
    for seed in range(40):
        fs = SimFilesystem(clock=clock, seed=seed)
        manager = start(fs, clock)
        log = manager.create_log(*TP)
        fill(log, 3)
        log.flush()
        fill(log, 40, start=3)
        positions = batch_map(log)
        report = fs.power_loss(PowerLossMode.TORN, survival_probability=0.9, torn_probability=0.7)
        torn_seen += len(report.torn_pages)
        recovered = start(fs, clock).logs[TP]  # raises nothing
        values = served_values(recovered)
        assert values == expected_values(len(values))
        # Flushed batches survive unless a torn write destroyed the sector holding them (reported).
        assert len(values) >= guaranteed_end(3, positions, report)
        # The file ends exactly at the end of the last valid batch.
        segment = recovered.active_segment
        assert segment.size == sum(h.header.size for h in segment.batches_from(0))
    assert torn_seen > 0


@pytest.mark.req("FLT-4")
def test_process_crash_loses_nothing(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=3)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 50)
    fs.crash_process()
    recovered = start(fs, clock).logs[TP]
    assert recovered.recovery_report is not None
    assert recovered.recovery_report.truncated_bytes == 0
    assert recovered.log_end_offset == 50
    assert served_values(recovered) == expected_values(50)


@pytest.mark.req("FLT-5", "LOG-19")
def test_fsync_eio_takes_the_log_offline_and_is_never_retried(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=4)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 5)
    log.flush()
    fill(log, 5, start=5)
    fs.faults.fail_writeback(log.active_segment.log_path)
    with pytest.raises(LogOfflineError) as info:
        log.flush()
    assert info.value.retriable and info.value.error_code == 56 and info.value.errno == errno.EIO
    assert log.recovery_point == 5  # never passes the failed range
    with pytest.raises(LogOfflineError):
        log.append_as_leader(batch([b"after"]), leader_epoch=0)  # no acknowledgement after the error
    with pytest.raises(LogOfflineError):
        log.flush()
    with pytest.raises(LogOfflineError):
        log.read(0, 100)
    # fsyncgate: the file system's next fsync of the same file "succeeds" although the data is not durable.
    handle = fs.open(log.active_segment.log_path)
    fs.fsync(handle)
    assert fs.durable_bytes(log.active_segment.log_path) != fs.visible_bytes(log.active_segment.log_path)
    fs.close(handle)
    manager.shutdown()
    assert not fs.exists(f"data/{CLEAN_SHUTDOWN_FILE}")  # an offline log never shuts down cleanly
    fs.power_loss(PowerLossMode.CLEAN)
    recovered = start(fs, clock).logs[TP]
    assert served_values(recovered) == expected_values(5)


@pytest.mark.req("FLT-6", "LOG-19")
def test_enospc_fails_the_append_before_anything_is_visible(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=5)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 10)
    size_before = log.active_segment.size
    fs.faults.enospc_after(0)
    with pytest.raises(LogOfflineError) as info:
        fill(log, 40, start=10)
    assert info.value.errno == errno.ENOSPC
    assert log.log_end_offset >= 10
    acked = log.log_end_offset
    assert fs.visible_bytes(log.active_segment.log_path)[: log.active_segment.size] is not None
    assert len(fs.visible_bytes(log.active_segment.log_path)) == log.active_segment.size >= size_before
    fs.faults.clear()
    fs.crash_process()
    recovered = start(fs, clock).logs[TP]
    assert served_values(recovered) == expected_values(acked)


@pytest.mark.req("FLT-7", "LOG-7")
def test_bit_flip_at_rest_is_never_served_and_recovery_cuts_there(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=6)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 20)
    log.flush()
    seg = log.active_segment
    position = next(iter(seg.batches_from(0))).header.size * 7 + 100  # inside batch 7's records
    fs.faults.bitflip(seg.log_path, position, bit=3)
    assert log.read(7, 1).records is not None  # the cached copy is still intact
    fs.drop_clean()
    with pytest.raises(CorruptRecordError):
        log.read(7, 1)
    with pytest.raises(CorruptRecordError):
        log.read(0, 1 << 20)  # a larger read containing batch 7 is refused as a whole
    assert values_of(log.read(0, 1).records or b"") == expected_values(1)
    fs.power_loss(PowerLossMode.CLEAN)  # without a clean shutdown, recovery validates from 0
    handle_manager = LogManager(fs, "data", clock)
    write_checkpoint(fs, f"data/{RECOVERY_POINT_FILE}", ["t 0 0"])
    handle_manager.startup()
    recovered = handle_manager.logs[TP]
    assert recovered.log_end_offset == 7
    assert served_values(recovered) == expected_values(7)


@pytest.mark.req("FLT-8", "LOG-19")
def test_latent_read_error_takes_the_log_offline(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=7)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 40)
    log.flush()
    fs.drop_clean()
    fs.faults.latent_read_error(log.active_segment.log_path, first_page=1)
    assert log.read(0, 1).records is not None  # page 0 reads fine
    with pytest.raises(LogOfflineError) as info:
        log.read(0, 1 << 20)  # every page
    assert info.value.retriable and info.value.errno == errno.EIO
    with pytest.raises(LogOfflineError):
        log.read(0, 1)


def lookups(log: Log) -> list[tuple[int, int]]:
    answers = []
    for offset in range(log.log_start_offset, log.log_end_offset):
        fetched = log.read(offset, 1)
        assert fetched.region is not None
        answers.append((fetched.region.position, fetched.region.length))
    return answers


@pytest.mark.req("FLT-9", "LOG-17")
@pytest.mark.parametrize("damage", ["delete", "truncate", "garble", "swap-entries"])
def test_damaged_index_is_rebuilt_with_the_same_answers(clock: ManualClock, damage: str) -> None:
    fs = SimFilesystem(clock=clock, seed=8)
    config = LogConfig(index_interval_bytes=500)
    manager = start(fs, clock, config)
    log = manager.create_log(*TP)
    fill(log, 60)
    before = lookups(log)
    index_path = log.active_segment.offset_index.path
    assert log.active_segment.offset_index.entries > 5
    manager.shutdown()
    if damage == "delete":
        fs.delete(index_path)
    else:
        handle = fs.open(index_path)
        if damage == "truncate":
            fs.truncate(handle, 13)
        elif damage == "garble":
            fs.pwrite(handle, 8, b"\x00\x00\x00\x05\x00\x00\x00\x03")  # an entry pointing mid-batch
        else:
            first, second = fs.pread(handle, 0, 8), fs.pread(handle, 8, 8)
            fs.pwrite(handle, 0, second + first)
        fs.close(handle)
    recovered = start(fs, clock, config).logs[TP]
    assert lookups(recovered) == before
    # Entries point at batch starts whose last offset is the entry's offset.
    segment = recovered.active_segment
    for entry in range(segment.offset_index.entries):
        offset, position = segment.offset_index.lookup(segment.offset_index._offsets[entry])
        header = segment.read_header(position)
        assert header is not None and header.last_offset == offset


@pytest.mark.req("FLT-10", "LOG-17")
@pytest.mark.parametrize("damage", ["delete", "garble", "roll-back"])
def test_damaged_recovery_checkpoint_makes_recovery_start_earlier(clock: ManualClock, damage: str) -> None:
    fs = SimFilesystem(clock=clock, seed=9)
    config = LogConfig(segment_bytes=3000)
    manager = start(fs, clock, config)
    log = manager.create_log(*TP)
    fill(log, 20)
    log.flush()
    manager.checkpoint_recovery_points()
    old = fs.visible_bytes(f"data/{RECOVERY_POINT_FILE}")
    fill(log, 20, start=20)
    log.flush()
    manager.checkpoint_recovery_points()
    fill(log, 10, start=40)
    fs.sync()
    reference = copy.deepcopy(fs)
    path = f"data/{RECOVERY_POINT_FILE}"
    if damage == "delete":
        fs.delete(path)
    else:
        handle = fs.open(path)
        fs.truncate(handle, 0)
        fs.pwrite(handle, 0, b"0\n1\nt 0 zz\n" if damage == "garble" else old)
        fs.close(handle)
    fs.sync()
    fs.power_loss(PowerLossMode.CLEAN)
    reference.power_loss(PowerLossMode.CLEAN)
    damaged = start(fs, clock, config)
    true_start = start(reference, clock, config).logs[TP]
    recovered = damaged.logs[TP]
    assert recovered.recovery_report is not None and true_start.recovery_report is not None
    assert recovered.recovery_report.recovered_from is not None
    assert true_start.recovery_report.recovered_from is not None
    assert recovered.recovery_report.recovered_from <= true_start.recovery_report.recovered_from
    assert served_values(recovered) == served_values(true_start) == expected_values(50)


@pytest.mark.req("FLT-11", "LOG-15")
def test_clean_shutdown_marker_is_deleted_durably_before_anything_else(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=10)
    manager = start(fs, clock)
    fill(manager.create_log(*TP), 5)
    manager.shutdown()
    assert fs.durable_exists(f"data/{CLEAN_SHUTDOWN_FILE}")
    manager = start(fs, clock)
    assert manager.logs[TP].recovery_report is not None
    assert manager.logs[TP].recovery_report.clean_shutdown
    assert not fs.durable_exists(f"data/{CLEAN_SHUTDOWN_FILE}")  # gone before any append
    fill(manager.logs[TP], 5, start=5)
    fs.power_loss(PowerLossMode.CLEAN)
    manager = start(fs, clock)
    report = manager.logs[TP].recovery_report
    assert report is not None and not report.clean_shutdown and report.recovered_from is not None
    assert served_values(manager.logs[TP]) == expected_values(5)


@pytest.mark.req("FLT-11")
def test_a_stale_clean_shutdown_marker_does_not_get_garbage_served(clock: ManualClock) -> None:
    """Bug injection: a marker that survives a power loss it should not have. The tail check catches it."""
    for seed in range(30):
        fs = SimFilesystem(clock=clock, seed=seed)
        manager = start(fs, clock)
        log = manager.create_log(*TP)
        fill(log, 3)
        manager.shutdown()  # writes the marker durably
        manager = LogManager(fs, "data", clock)
        marker_bytes = fs.durable_bytes(f"data/{CLEAN_SHUTDOWN_FILE}")
        manager.startup()
        fill(manager.logs[TP], 40, start=3)
        fs.power_loss(PowerLossMode.TORN, survival_probability=0.7)
        if is_clean_log(fs.visible_bytes(f"{DIR}/{'0' * 20}.log")):
            continue  # the tail happens to end on a valid batch: nothing to detect in this seed
        handle = fs.open(f"data/{CLEAN_SHUTDOWN_FILE}", create=True)  # the injected bug
        fs.pwrite(handle, 0, marker_bytes)
        fs.close(handle)
        recovered = start(fs, clock).logs[TP]
        assert recovered.recovery_report is not None and recovered.recovery_report.clean_shutdown
        values = served_values(recovered)  # raises if garbage were served
        assert values == expected_values(len(values))
        assert recovered.recovery_report.recovered_from is not None  # the damaged segment was recovered
        return
    pytest.fail("no seed left a damaged tail")


@pytest.mark.req("FLT-12")
def test_misdirected_write_is_caught_and_recovery_truncates_at_it(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=11)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 30)  # ~2.3 pages
    log.flush()
    fill(log, 30, start=30)
    seg = log.active_segment.log_path
    fs.faults.misdirect_next_run(seg, delta_pages=-2)
    log.flush()
    assert fs.faults.misdirected
    fs.drop_clean()
    with pytest.raises(CorruptRecordError):
        lookups(log)
    fs.power_loss(PowerLossMode.CLEAN)
    write_checkpoint(fs, f"data/{RECOVERY_POINT_FILE}", ["t 0 0"])
    recovered = start(fs, clock).logs[TP]
    values = served_values(recovered)
    assert values == expected_values(len(values))
    assert recovered.log_end_offset < 60
    for base, header in ((h.header.base_offset, h.header) for h in recovered.active_segment.batches_from(0)):
        assert header.base_offset == base


@pytest.mark.req("FLT-14")
def test_segments_below_the_recovery_point_survive_directory_rollback(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=12)
    config = LogConfig(segment_bytes=2000)
    manager = start(fs, clock, config)
    log = manager.create_log(*TP)
    fill(log, 30)  # rolls several times; each roll fsyncs the old segment and the directory
    bases = [s.base_offset for s in log.segments]
    manager.checkpoint_recovery_points()
    report = fs.power_loss(PowerLossMode.CLEAN)
    recovered = start(fs, clock, config).logs[TP]
    assert [s.base_offset for s in recovered.segments][: len(bases) - 1] == bases[:-1]
    assert recovered.log_end_offset >= bases[-1]
    # Control: a file created without a directory fsync does roll back in this model.
    fs.open("data/t-0/unsynced.tmp", create=True)
    report = fs.power_loss(PowerLossMode.CLEAN)
    assert report.rolled_back and not fs.exists("data/t-0/unsynced.tmp")


@pytest.mark.req("FLT-14", "LOG-14")
@pytest.mark.parametrize("op", ["fsync", "rename", "fsync_dir"])
@pytest.mark.parametrize("mode", list(PowerLossMode))
def test_checkpoint_is_old_or_new_after_a_crash_while_writing_it(
    clock: ManualClock, op: str, mode: PowerLossMode
) -> None:
    fs = SimFilesystem(clock=clock, seed=13)
    fs.makedirs("cp")
    write_checkpoint(fs, "cp/recovery", ["t 0 5"])
    fs.faults.crash_at(op, "cp*")  # type: ignore[arg-type]
    with pytest.raises(SimulatedCrash):
        write_checkpoint(fs, "cp/recovery", ["t 0 9"])
    fs.power_loss(mode)
    assert read_checkpoint(fs, "cp/recovery") in (["t 0 5"], ["t 0 9"])


@pytest.mark.req("FLT-16", "LOG-18")
@pytest.mark.parametrize("op", ["truncate", "fsync", "fsync_dir", "delete"])
def test_crash_in_the_middle_of_recovery_then_recovery_gives_the_same_log(
    clock: ManualClock, op: str
) -> None:
    fs = SimFilesystem(clock=clock, seed=14)
    config = LogConfig(segment_bytes=2500)
    manager = start(fs, clock, config)
    log = manager.create_log(*TP)
    fill(log, 12)
    log.flush()
    manager.checkpoint_recovery_points()
    fill(log, 30, start=12)
    fs.power_loss(PowerLossMode.PARTIAL, survival_probability=0.6)
    reference = copy.deepcopy(fs)
    once = start(reference, clock, config).logs[TP]
    fs.faults.crash_at(op, "data*")  # type: ignore[arg-type]
    with contextlib.suppress(SimulatedCrash):
        start(fs, clock, config)
    fs.faults.clear()
    fs.power_loss(PowerLossMode.CLEAN)
    twice = start(fs, clock, config).logs[TP]
    assert [(s.base_offset, fs.visible_bytes(s.log_path)) for s in twice.segments] == [
        (s.base_offset, reference.visible_bytes(s.log_path)) for s in once.segments
    ]
    assert served_values(twice) == served_values(once)
    assert twice.epoch_cache.entries == once.epoch_cache.entries


@pytest.mark.req("LOG-12")
def test_flush_messages_and_flush_ms_trigger_fsyncs_and_defaults_never_do(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=15)
    manager = start(fs, clock, LogConfig(flush_messages=3))
    log = manager.create_log(*TP)
    fill(log, 2)
    assert log.recovery_point == 0
    fill(log, 1, start=2)
    assert (
        log.recovery_point == 3
        and len(fs.durable_bytes(log.active_segment.log_path)) == log.active_segment.size
    )
    timed = manager.create_log("timed", 0, LogConfig(flush_ms=5_000))
    fill(timed, 2)
    assert not timed.flush_if_due()
    clock.advance(5)
    assert timed.flush_if_due() and timed.recovery_point == 2
    default = manager.create_log("default", 0, LogConfig())
    fill(default, 50)
    clock.advance(3600)
    manager.tick()
    assert default.recovery_point == 0  # Kafka's default: never fsync on the produce path


@pytest.mark.req("LOG-13", "LOG-19")
def test_recovery_point_moves_only_after_the_fsync_completed(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=16)
    manager = start(fs, clock)
    log = manager.create_log(*TP)
    fill(log, 4)
    fs.faults.crash_at("fsync", f"{DIR}/*.log")
    with pytest.raises(SimulatedCrash):
        log.flush()
    assert log.recovery_point == 0
    log.flush()
    assert log.recovery_point == 4
    fill(log, 2, start=4)
    manager.tick()
    clock.advance(61)
    manager.tick()  # the recovery-point checkpoint interval passed
    assert read_checkpoint(fs, f"data/{RECOVERY_POINT_FILE}") == ["t 0 4"]


@pytest.mark.req("FLT-5")
def test_storage_error_is_typed_with_errno_and_path(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=17)
    fs.makedirs("x")
    handle = fs.open("x/f", create=True)
    fs.pwrite(handle, 0, b"data")
    fs.faults.fail_writeback("x/f")
    with pytest.raises(StorageError) as info:
        fs.fsync(handle)
    assert info.value.errno == errno.EIO and info.value.path == "x/f"
    fs.fsync(handle)  # reported once: the trap reflog must never fall into
