"""The log cleaner (LOG-30..LOG-37): what compaction keeps, when it runs, and how it survives a crash.

The property test drives a compacted log through appends (keys from a small set, some tombstones),
rolls, cleanings at random high watermarks and times, and reopenings, against a model (every record
appended, with its offset). Replay a failure with the ``@reproduce_failure`` blob Hypothesis prints,
or rerun ``pytest tests/log/test_compaction.py --hypothesis-profile=ci`` (derandomized).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflog.clock import ManualClock
from reflog.errors import CorruptRecordError, InvalidConfigError, ReflogUsageError
from reflog.log import LONG_MAX, Log, LogConfig, LogManager, TopicPartition
from reflog.log.cleaner import (
    CLEANER_CHECKPOINT_FILE,
    LogCleaner,
    clean_log,
    cleanable_range,
    needs_cleaning,
)
from reflog.log.config import validate_topic_configs
from reflog.log.swap import CLEANED_SUFFIX, SWAP_SUFFIX
from reflog.records import Compression, Record, build_batch, decode_batch, rebuild_batch
from reflog.storage import Filesystem
from reflog.storage.sim import PowerLossMode, SimFilesystem, SimulatedCrash

DIR = "data/t-0"
KEYS = [b"a", b"b", b"c", b"d"]

Model = list[tuple[int, bytes | None, bytes | None]]  # (offset, key, value) of every record appended


def compacted(fs: Filesystem, clock: ManualClock, **config: object) -> Log:
    settings_ = {"segment_bytes": 200, "cleanup_policy": "compact", **config}
    return Log.open(fs, DIR, LogConfig(**settings_), clock)  # type: ignore[arg-type]


def put(log: Log, key: bytes | None, value: bytes | None, clock: ManualClock, model: Model) -> int:
    now_ms = int(clock.now() * 1000)
    info = log.append_as_leader(build_batch([Record(key, value)], timestamp=now_ms), leader_epoch=0)
    model.append((info.first_offset, key, value))
    return info.first_offset


def records(log: Log) -> Model:
    """Every record the log serves, in order, read through :meth:`Log.read` (CRC checked)."""
    out: Model = []
    for raw in log.iter_batches():
        out.extend((r.offset or 0, r.key, r.value) for r in decode_batch(raw).records)
    return out


def latest(entries: Model) -> dict[bytes, tuple[int, bytes | None]]:
    found: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, key, value in entries:
        if key is not None:
            found[key] = (offset, value)
    return found


def now_ms(clock: ManualClock) -> int:
    return int(clock.now() * 1000)


def clean(log: Log, clock: ManualClock, first_dirty: int = 0, hw: int | None = None) -> tuple[int, int]:
    """One cleaning as the cleaner does it; the first uncleanable offset and the new first dirty."""
    cleanable = cleanable_range(log, first_dirty, log.log_end_offset if hw is None else hw, now_ms(clock))
    result = clean_log(log, cleanable, now_ms(clock))
    return cleanable.first_uncleanable, result.first_dirty


# ------------------------------------------------------------------------------------ the property
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.one_of(st.none(), st.binary(max_size=40))),
        st.tuples(st.just("roll"), st.none(), st.none()),
        st.tuples(st.just("clean"), st.floats(0, 1), st.none()),
        st.tuples(st.just("clean"), st.just(1.0), st.none()),
        st.tuples(st.just("time"), st.integers(0, 3), st.none()),
        st.tuples(st.just("reopen"), st.none(), st.none()),
    ),
    min_size=10,
    max_size=80,
)


@pytest.mark.req("LOG-31", "LOG-32", "LOG-33", "LOG-34")
@settings(max_examples=100)
@given(ops=OPS, retention_s=st.integers(0, 4), lag_s=st.integers(0, 2))
def test_compaction_never_changes_a_latest_value_an_offset_or_anything_uncleanable(
    ops: list[tuple[str, object, object]], retention_s: int, lag_s: int
) -> None:
    clock = ManualClock(start=1_000.0)
    fs = SimFilesystem(clock=clock, seed=0)
    config = {"delete_retention_ms": retention_s * 1000, "min_compaction_lag_ms": lag_s * 1000}
    log = compacted(fs, clock, **config)
    model: Model = []
    first_dirty = 0
    for op, arg, value in ops:
        if op == "put":
            assert isinstance(arg, bytes)
            put(log, arg, value if isinstance(value, bytes) or value is None else None, clock, model)
        elif op == "roll":
            log.roll()
        elif op == "time":
            assert isinstance(arg, int)
            clock.advance(arg)
        elif op == "reopen":
            log.flush()
            log.close()
            log = compacted(fs, clock, **config)
        else:
            assert isinstance(arg, float)
            hw = log.log_start_offset + int(arg * (log.log_end_offset - log.log_start_offset))
            before = records(log)
            end = log.log_end_offset
            bound = min(hw, log.active_segment.base_offset, log.recovery_point)
            upper, first_dirty = clean(log, clock, first_dirty, hw)
            after = records(log)
            assert log.log_end_offset == end  # the log end never moves
            assert upper <= bound
            assert [r for r in after if r[0] >= bound] == [r for r in before if r[0] >= bound]
            assert set(after) <= set(model)  # offsets and contents never change
            for key, (offset, last) in latest(model).items():
                found = latest(after).get(key)
                if last is None:  # a deleted key: its tombstone, or nothing once the horizon passed
                    assert found is None or found == (offset, None)
                else:
                    assert found == (offset, last), f"key {key!r} lost its latest value"
        assert [r[0] for r in records(log)] == sorted({r[0] for r in records(log)})


# ------------------------------------------------------------------------------------ rules
@pytest.mark.req("LOG-32", "LOG-34", "LOG-20")
def test_a_cleaning_keeps_each_keys_last_record_at_its_offset_and_drops_keyless_ones(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = compacted(any_fs, clock)
    model: Model = []
    for i in range(12):
        put(log, KEYS[i % 3], b"v%d" % i, clock, model)
    log.append_as_leader(build_batch([Record(None, b"no key")]), leader_epoch=0)  # offset 12
    put(log, b"z", b"tail", clock, model)
    log.roll()
    end = log.log_end_offset
    clean(log, clock)
    assert records(log) == [(9, b"a", b"v9"), (10, b"b", b"v10"), (11, b"c", b"v11"), (13, b"z", b"tail")]
    assert log.log_end_offset == end == 14
    fetched = log.read(0, 1 << 20)  # an offset the cleaner removed: the next batch
    assert fetched.region is not None and fetched.region.first_offset == 9
    assert log.read(12, 1 << 20).region is not None
    kept = records(log)
    log.close()
    assert records(compacted(any_fs, clock)) == kept  # the swapped segments are the files now


@pytest.mark.req("LOG-31")
def test_nothing_in_or_after_the_active_segment_or_at_or_above_the_high_watermark_is_cleaned(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = compacted(sim_fs, clock)
    model: Model = []
    for i in range(12):
        put(log, b"k", b"v%d" % i, clock, model)
    active_base = log.active_segment.base_offset
    bases = [s.base_offset for s in log.segments]
    hw = bases[2]
    upper, _ = clean(log, clock, hw=hw + 1)  # the HW inside a segment: that segment waits
    assert upper == hw + 1
    kept = records(log)
    assert [r for r in kept if r[0] >= bases[2]] == [r for r in model if r[0] >= bases[2]]
    assert [r for r in kept if r[0] < bases[2]] == []  # superseded below the bound: gone
    upper, _ = clean(log, clock)
    assert upper == active_base
    assert [r for r in records(log) if r[0] >= active_base] == [r for r in model if r[0] >= active_base]
    assert [r for r in records(log) if r[0] < active_base] == [model[active_base - 1]]  # k's last there


@pytest.mark.req("LOG-31")
def test_min_compaction_lag_keeps_young_records_uncleaned(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = compacted(sim_fs, clock, min_compaction_lag_ms=10_000)
    model: Model = []
    for i in range(8):
        put(log, b"k", b"v%d" % i, clock, model)
    log.roll()
    cleanable = cleanable_range(log, 0, log.log_end_offset, now_ms(clock))
    assert cleanable.first_uncleanable == 0 and cleanable.segments == ()
    clock.advance(9.999)  # younger than the lag (Kafka: uncleanable while largestTimestamp > now - lag)
    assert cleanable_range(log, 0, log.log_end_offset, now_ms(clock)).segments == ()
    clock.advance(0.001)
    assert cleanable_range(log, 0, log.log_end_offset, now_ms(clock)).first_uncleanable == 8


@pytest.mark.req("LOG-33")
def test_a_tombstone_stays_until_delete_retention_ms_after_its_first_cleaning(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = compacted(sim_fs, clock, delete_retention_ms=5_000)
    model: Model = []
    put(log, b"k", b"old", clock, model)
    tombstone = put(log, b"k", None, clock, model)
    put(log, b"other", b"x", clock, model)
    log.roll()
    first_clean = now_ms(clock)
    clean(log, clock)
    assert records(log) == [(tombstone, b"k", None), (2, b"other", b"x")]
    horizons = [h.delete_horizon_ms for h in log.batch_headers() if h.delete_horizon_ms is not None]
    assert horizons == [first_clean + 5_000]
    clock.advance(4.999)
    clean(log, clock)
    assert (tombstone, b"k", None) in records(log)  # before the horizon: kept
    clock.advance(0.001)
    clean(log, clock)
    assert records(log) == [(2, b"other", b"x")]  # at the horizon: dropped


@pytest.mark.req("LOG-34")
def test_a_producers_last_batch_stays_as_an_empty_batch(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = compacted(sim_fs, clock)
    for sequence in range(2):
        raw = build_batch(
            [Record(b"k", b"p%d" % sequence)], producer_id=7, producer_epoch=0, base_sequence=sequence
        )
        log.append_as_leader(raw, leader_epoch=0)
    log.append_as_leader(build_batch([Record(b"k", b"plain")]), leader_epoch=0)
    log.roll()
    clean(log, clock)
    headers = list(log.batch_headers())
    assert [(h.base_offset, h.records_count, h.producer_id, h.base_sequence) for h in headers] == [
        (1, 0, 7, 1),  # the producer's last batch, emptied but kept: its sequence survives
        (2, 1, -1, -1),
    ]


@pytest.mark.req("LOG-34")
@pytest.mark.parametrize("codec", [Compression.NONE, Compression.ZSTD, Compression.GZIP])
def test_a_rebuilt_batch_keeps_its_offsets_fields_and_codec(codec: Compression) -> None:
    raw = build_batch(
        [Record(b"a", b"1", timestamp=5), Record(b"b", b"2", timestamp=9), Record(b"a", None, timestamp=7)],
        base_offset=40,
        partition_leader_epoch=3,
        compression=codec,
        producer_id=2,
        producer_epoch=1,
        base_sequence=10,
    )
    original = decode_batch(raw)
    rebuilt = decode_batch(rebuild_batch(original.header, original.records[:2], delete_horizon_ms=99))
    header = rebuilt.header
    assert (header.base_offset, header.last_offset, header.partition_leader_epoch) == (40, 42, 3)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (2, 1, 10)
    assert header.compression is codec and header.delete_horizon_ms == 99 and header.records_count == 2
    assert [(r.offset, r.key, r.value, r.timestamp) for r in rebuilt.records] == [
        (40, b"a", b"1", 5),
        (41, b"b", b"2", 9),
    ]
    gapped = decode_batch(rebuild_batch(original.header, [original.records[0], original.records[2]]))
    assert [(r.offset, r.timestamp) for r in gapped.records] == [(40, 5), (42, 7)]
    assert gapped.header.delete_horizon_ms is None and gapped.header.max_timestamp == 7
    empty = decode_batch(rebuild_batch(original.header, []))
    assert (empty.header.records_count, empty.header.last_offset, empty.header.base_sequence) == (0, 42, 10)
    with pytest.raises(ReflogUsageError):
        rebuild_batch(original.header, [original.records[2], original.records[1]])


@pytest.mark.req("LOG-35")
def test_cleaning_starts_at_the_dirty_ratio(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = compacted(sim_fs, clock, min_cleanable_dirty_ratio=0.5)
    model: Model = []
    for i in range(8):
        put(log, KEYS[i % 4], b"value-%d" % i, clock, model)
    log.roll()
    cleanable = cleanable_range(log, 0, log.log_end_offset, now_ms(clock))
    assert cleanable.dirty_ratio == 1.0 and needs_cleaning(cleanable, log, now_ms(clock))
    _, first_dirty = clean(log, clock)
    assert first_dirty == 8
    clean_bytes = log.size_in_bytes - log.active_segment.size
    put(log, b"a", b"x" * 10, clock, model)
    log.roll()
    dirty = log.segments[-2].size
    cleanable = cleanable_range(log, first_dirty, log.log_end_offset, now_ms(clock))
    assert (cleanable.clean_bytes, cleanable.dirty_bytes) == (clean_bytes, dirty)
    ratio = dirty / (clean_bytes + dirty)
    for threshold, due in ((ratio, True), (min(1.0, ratio + 0.01), False)):
        config = LogConfig(segment_bytes=200, cleanup_policy="compact", min_cleanable_dirty_ratio=threshold)
        log.config = config
        assert needs_cleaning(cleanable, log, now_ms(clock)) is due


@pytest.mark.req("LOG-35")
def test_max_compaction_lag_and_a_passed_horizon_start_a_cleaning_below_the_ratio(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = compacted(sim_fs, clock, min_cleanable_dirty_ratio=1.0, max_compaction_lag_ms=3_000)
    model: Model = []
    put(log, b"a", b"1", clock, model)
    log.roll()
    put(log, b"b", b"2", clock, model)
    log.roll()
    cleanable = cleanable_range(log, 1, log.log_end_offset, now_ms(clock))  # half dirty
    assert not needs_cleaning(cleanable, log, now_ms(clock))
    clock.advance(3.001)
    assert needs_cleaning(cleanable, log, now_ms(clock))
    log.config = LogConfig(segment_bytes=200, cleanup_policy="compact", min_cleanable_dirty_ratio=1.0)
    assert not needs_cleaning(cleanable, log, now_ms(clock))
    assert needs_cleaning(cleanable, log, now_ms(clock), latest_delete_horizon=now_ms(clock))
    assert not needs_cleaning(cleanable, log, now_ms(clock), latest_delete_horizon=now_ms(clock) + 1)


@pytest.mark.req("LOG-35")
def test_the_cleaner_checkpoints_the_first_dirty_offset_and_distrusts_a_corrupt_checkpoint(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    manager = LogManager(
        sim_fs, "data", clock, default_config=LogConfig(segment_bytes=200, cleanup_policy="compact")
    )
    manager.startup()
    log = manager.create_log("t", 0)
    for i in range(6):
        log.append_as_leader(build_batch([Record(b"k", b"%d" % i)]), leader_epoch=0)
    tp = TopicPartition("t", 0)
    assert manager.clean_logs({tp: log.log_end_offset}) == 1
    first_dirty = log.active_segment.base_offset
    assert manager.cleaner.first_dirty == {tp: first_dirty}
    assert manager.clean_logs({tp: log.log_end_offset}) == 0  # nothing dirty
    reloaded = LogCleaner(sim_fs, "data", clock)
    reloaded.load()
    assert reloaded.first_dirty == {tp: first_dirty}
    handle = sim_fs.open(f"data/{CLEANER_CHECKPOINT_FILE}")
    sim_fs.pwrite(handle, 0, b"x")
    sim_fs.close(handle)
    reloaded.load()
    assert reloaded.first_dirty == {}


@pytest.mark.req("LOG-37")
def test_retention_applies_with_delete_in_the_policy_only(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    for policy, deleted in (("compact", 0), ("compact,delete", 3), ("delete", 3)):
        fs = SimFilesystem(clock=clock, seed=0)
        log = Log.open(fs, DIR, LogConfig(segment_bytes=100, retention_ms=0, cleanup_policy=policy), clock)
        for i in range(3):
            log.append_as_leader(build_batch([Record(b"k%d" % i, b"v" * 40)], timestamp=0), leader_epoch=0)
        assert log.delete_retention_segments() == deleted, policy


@pytest.mark.req("LOG-37")
def test_the_cleaner_pass_applies_retention_to_compact_delete_logs(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    config = LogConfig(segment_bytes=100, retention_ms=0, cleanup_policy="compact,delete")
    manager = LogManager(sim_fs, "data", clock, default_config=config)
    manager.startup()
    log = manager.create_log("t", 0)
    for i in range(3):
        log.append_as_leader(build_batch([Record(b"k%d" % i, b"v" * 40)], timestamp=0), leader_epoch=0)
    tp = TopicPartition("t", 0)
    manager.clean_logs({tp: log.log_end_offset})
    assert log.log_start_offset == log.log_end_offset == 3


@pytest.mark.req("LOG-30")
def test_compaction_configs_have_kafkas_names_defaults_and_bounds() -> None:
    config = LogConfig()
    assert config.cleanup_policy == frozenset({"delete"}) and config.delete and not config.compact
    assert config.delete_retention_ms == 86_400_000 and config.min_cleanable_dirty_ratio == 0.5
    assert config.min_compaction_lag_ms == 0 and config.max_compaction_lag_ms == LONG_MAX
    both = LogConfig.from_properties(
        {"cleanup.policy": "delete, compact", "min.cleanable.dirty.ratio": "0.25"}
    )
    assert both.cleanup_policy == frozenset({"compact", "delete"}) and both.min_cleanable_dirty_ratio == 0.25
    assert validate_topic_configs({"cleanup.policy": "compact,delete", "delete.retention.ms": "0"}) == {
        "cleanup.policy": "compact,delete",
        "delete.retention.ms": "0",
    }
    refused = [
        ({"cleanup.policy": "shred"}, "String must be one of: compact, delete"),
        ({"min.cleanable.dirty.ratio": "-0.1"}, "Value must be at least 0$"),
        ({"min.cleanable.dirty.ratio": "1.01"}, "Value must be no more than 1$"),
        ({"min.cleanable.dirty.ratio": "half"}, "Not a number of type DOUBLE"),
        ({"delete.retention.ms": "-1"}, "Value must be at least 0"),
        ({"max.compaction.lag.ms": "0"}, "Value must be at least 1"),
        ({"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "4"}, "conflict topic config setting"),
    ]
    for configs, message in refused:
        with pytest.raises(InvalidConfigError, match=message):
            validate_topic_configs(configs)
    with pytest.raises(ReflogUsageError):
        LogConfig(min_cleanable_dirty_ratio=2.0)
    # Kafka 4.2: an empty cleanup.policy is allowed and means neither (infinite retention).
    neither = LogConfig.from_properties({"cleanup.policy": ""})
    assert neither.cleanup_policy == frozenset() and not neither.delete and not neither.compact


# ------------------------------------------------------------------------------------ crash safety
SWAP_STEPS = [
    ("pwrite", f"*{CLEANED_SUFFIX}", 1),
    ("fsync", f"*{CLEANED_SUFFIX}", 1),
    ("rename", f"*{CLEANED_SUFFIX}", 1),
    ("fsync_dir", DIR, 1),
    ("delete", "*0.log", 1),
    ("delete", "*.timeindex", 1),
    ("rename", f"*{SWAP_SUFFIX}", 1),
    ("fsync_dir", DIR, 2),
    ("rename", f"*{CLEANED_SUFFIX}", 2),  # the second segment's swap, the first one done
]


@pytest.mark.req("LOG-36")
@pytest.mark.parametrize(("op", "glob", "occurrence"), SWAP_STEPS)
@pytest.mark.parametrize("mode", [PowerLossMode.CLEAN, PowerLossMode.PARTIAL, PowerLossMode.TORN])
def test_a_power_loss_during_a_swap_leaves_the_old_or_the_new_segment_and_every_latest_value(
    op: str, glob: str, occurrence: int, mode: PowerLossMode
) -> None:
    clock = ManualClock(start=1_000.0)
    fs = SimFilesystem(clock=clock, seed=3)
    log = compacted(fs, clock, index_interval_bytes=0)
    model: Model = []
    for i in range(16):  # every segment keeps its unique keys and loses its "a"s: each is rewritten
        put(log, b"a" if i % 2 else b"u%d" % i, b"value-%d" % i, clock, model)
    log.roll()  # everything fsynced: every record is acknowledged and durable
    before = records(log)
    bases = [s.base_offset for s in log.segments[:-1]]
    per_segment_before = {b: [r for r in before if b <= r[0] < _next(bases, b, log)] for b in bases}
    fs.faults.crash_at(op, glob, occurrence)  # type: ignore[arg-type]
    with pytest.raises(SimulatedCrash):
        clean(log, clock)
    fs.power_loss(mode)
    reopened = compacted(fs, clock, index_interval_bytes=0)
    after = records(reopened)
    assert set(after) <= set(before)
    assert latest(after) == latest(before)  # nothing acknowledged is lost
    assert reopened.log_end_offset == 16
    names = fs.listdir(DIR)
    assert not [n for n in names if n.endswith((CLEANED_SUFFIX, SWAP_SUFFIX))]
    new_kept = {b: [r for r in after if b <= r[0] < _next(bases, b, log)] for b in bases}
    for base in bases:  # each segment is its old or its new self
        cleaned = [r for r in per_segment_before[base] if latest(before)[r[1] or b""][0] == r[0]]
        assert new_kept[base] in (per_segment_before[base], cleaned), base
    for segment in reopened.segments:
        positions = [found.position for found in segment.batches_from(0)]
        for found in segment.batches_from(0):
            assert segment.find(found.header.base_offset) == found  # indexes usable after the swap
        assert segment.offset_index.entries == max(0, len(positions) - 1)  # rebuilt, not empty


def _next(bases: list[int], base: int, log: Log) -> int:
    later = [b for b in bases if b > base]
    return later[0] if later else log.active_segment.base_offset


@pytest.mark.req("LOG-36")
def test_recovery_completes_a_swap_file_and_discards_a_cleaned_file(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    config = {"segment_bytes": 1000, "index_interval_bytes": 0}
    log = compacted(sim_fs, clock, **config)
    model: Model = []
    for i in range(6):
        put(log, b"k%d" % i, b"%d" % i, clock, model)
    log.roll()
    first = log.segments[0]
    stored = [sim_fs.pread(first.handle, f.position, f.header.size) for f in first.batches_from(0)]
    log.close()
    stem = f"{DIR}/{first.base_offset:020d}"
    handle = sim_fs.open(f"{stem}{CLEANED_SUFFIX}", create=True)
    sim_fs.pwrite(handle, 0, b"half-written")
    sim_fs.close(handle)
    reopened = compacted(sim_fs, clock, **config)
    assert records(reopened) == model  # the unfinished cleaning is gone, the old segment stays
    assert not sim_fs.exists(f"{stem}{CLEANED_SUFFIX}")
    reopened.close()
    handle = sim_fs.open(f"{stem}{SWAP_SUFFIX}", create=True)
    sim_fs.pwrite(handle, 0, stored[0] + stored[2] + stored[5])  # a finished cleaning of the segment
    sim_fs.close(handle)
    again = Log.open(sim_fs, DIR, LogConfig(cleanup_policy="compact", **config), clock, clean_shutdown=True)
    assert not sim_fs.exists(f"{stem}{SWAP_SUFFIX}")
    assert records(again) == [model[0], model[2], model[5]]
    assert again.segments[0].offset_index.entries == 2  # the new segment's indexes were rebuilt


@pytest.mark.req("LOG-34")
def test_a_read_verifies_offsets_still_increase_across_a_gap(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = compacted(sim_fs, clock)
    log.append_as_follower(build_batch([Record(b"a", b"1")], base_offset=0))
    log.append_as_follower(build_batch([Record(b"b", b"2")], base_offset=5))  # a compacted leader's gap
    assert [r[0] for r in records(log)] == [0, 5]
    in_place = log.read(0, 1 << 20, in_place=True)  # the zero-copy path's check, through views
    assert in_place.in_place is not None and in_place.in_place.batches == 2
    with pytest.raises(CorruptRecordError):
        log.append_as_follower(build_batch([Record(b"c", b"3")], base_offset=5))


@pytest.mark.req("LOG-37")
def test_segments_the_cleaner_emptied_do_not_stop_retention(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = compacted(sim_fs, clock, cleanup_policy="compact,delete", retention_ms=60_000)
    model: Model = []
    for i in range(8):
        put(log, b"k", b"old-%d" % i, clock, model)  # the oldest segments: emptied by the cleaning
    clock.advance(61.0)
    for i in range(4):
        put(log, b"u%d" % i, b"new", clock, model)
    log.roll()
    clean(log, clock)
    emptied = [s.base_offset for s in log.segments if s.is_empty and s is not log.active_segment]
    assert emptied  # the cleaner left empty segments in front
    assert log.delete_retention_segments() == len(emptied) + 1  # and the expired one behind them
    assert all(r[2] == b"new" for r in records(log))


@pytest.mark.req("LOG-39")
def test_a_log_with_a_corrupt_batch_is_marked_uncleanable_and_the_others_are_cleaned(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    manager = LogManager(
        sim_fs, "data", clock, default_config=LogConfig(segment_bytes=200, cleanup_policy="compact")
    )
    manager.startup()
    logs = [manager.create_log("t", p) for p in (0, 1)]
    for log in logs:
        for i in range(6):
            log.append_as_leader(build_batch([Record(b"k", b"%d" % i)]), leader_epoch=0)
    bad = logs[0].segments[1]
    sim_fs.pwrite(bad.handle, 61 + 3, b"\xff")  # a record byte: the batch's CRC no longer matches
    hws = {TopicPartition("t", p): log.log_end_offset for p, log in enumerate(logs)}
    assert manager.clean_logs(hws) == 1
    assert manager.cleaner.uncleanable == {TopicPartition("t", 0)}
    assert TopicPartition("t", 1) in manager.cleaner.last_results  # the healthy log was cleaned
    assert len(records(logs[1])) < 6
    assert not logs[0].offline and logs[0].log_end_offset == 6
    assert manager.clean_logs(hws) == 0  # not tried again


@pytest.mark.req("LOG-34", "PRO-141")
def test_a_timestamp_lookup_after_compaction_finds_the_first_kept_record(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = compacted(sim_fs, clock)
    model: Model = []
    for i in range(10):
        put(log, b"k" if i < 6 else b"u%d" % i, b"%d" % i, clock, model)  # offsets 0..5 share a key
        clock.advance(1.0)
    log.roll()
    clean(log, clock)
    kept = records(log)
    assert kept[0][0] == 5  # 0..4 compacted away
    found = log.offset_for_timestamp(1_000_000 + 2_000)  # the time of offset 2, which is gone
    assert found is not None and (found.offset, found.timestamp) == (5, 1_000_000 + 5_000)
