"""Log compaction (``cleanup.policy=compact``): Kafka's ``LogCleaner``, one log at a time, sans-IO.

The cleaner keeps, for every key, the last record written for it, and drops older ones:

* **Where.** Only whole segments that end at or below the *first uncleanable offset* are
  cleaned: the least of the active segment's base, the high watermark (reflog has no
  transactions, so it is the last stable offset), the recovery point (only durable segments),
  and the base of the first segment holding a record newer than ``min.compaction.lag.ms``
  (:func:`cleanable_range`). Nothing at or above it is read for removal, rewritten or moved.
* **What.** The *dirty section* runs from the cleaner checkpoint (the end of the last cleaning)
  to that offset; an offset map of it gives each key's latest offset (records of a segment that
  straddles the offset count, below it, though that segment is not rewritten). Every cleanable segment,
  clean and dirty, is then rewritten keeping a record unless the map holds a later offset for
  its key; a record without a key is dropped (Kafka counts it as invalid).
* **Tombstones** (a null value) are kept until ``delete.retention.ms`` after their batch was
  first cleaned: that cleaning stores the *delete horizon* in the batch (KIP-534), and a
  cleaning at or after it drops them (:func:`clean_log`).
* **Offsets never change.** A rewritten batch keeps its base and last offset, its records their
  own offsets (:func:`reflog.records.rebuild_batch`); a batch left without records is dropped,
  except a producer's last batch, kept empty so its sequence survives (Kafka's
  ``RETAIN_EMPTY``). Gaps appear; the log end offset never moves.
* **When** (:func:`needs_cleaning`): the dirty share of the cleanable bytes reaches
  ``min.cleanable.dirty.ratio``, or the oldest dirty record is older than
  ``max.compaction.lag.ms``, or a delete horizon has passed.
* **Safely.** Segments are replaced oldest first, each through :mod:`reflog.log.swap`, so an
  interrupted cleaning leaves a prefix of new segments and a suffix of old ones, which hold the
  same latest value for every key.

:class:`LogCleaner` holds one data directory's cleaner state (the ``cleaner-offset-checkpoint``
file and the delete horizons) and is driven by the broker's maintenance loop with the clock
seam; each broker cleans its own replicas. Storage errors take the log offline
(:class:`~reflog.errors.LogOfflineError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import attrs

from reflog.clock import Clock
from reflog.errors import CorruptRecordError
from reflog.log.checkpoint import CorruptCheckpointError, parse_ints, read_checkpoint, write_checkpoint
from reflog.log.log import Log
from reflog.log.segment import LogSegment
from reflog.log.swap import swap_in, write_cleaned
from reflog.records import Record, RecordBatch, decode_batch, rebuild_batch
from reflog.storage import Filesystem
from reflog.vocabulary import TopicPartition, topic_name_error

CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"
"""Kafka's file of each compacted log's first dirty offset, in the data directory."""


@attrs.frozen
class CleanableRange:
    """What of a log the cleaner may touch now (Kafka's ``LogToClean``)."""

    first_dirty: int
    """The cleaner checkpoint, within the log: where the dirty section starts."""
    first_uncleanable: int
    """Nothing at or above this offset is cleaned (see the module docstring)."""
    segments: tuple[LogSegment, ...]
    """The whole segments below ``first_uncleanable``, oldest first."""
    clean_bytes: int
    dirty_bytes: int

    @property
    def dirty_ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0

    @property
    def dirty(self) -> tuple[LogSegment, ...]:
        return tuple(s for s in self.segments if s.next_offset > self.first_dirty and not s.is_empty)


@attrs.frozen
class CleanResult:
    """What one :func:`clean_log` did."""

    segments_rewritten: int
    records_removed: int
    tombstones_removed: int
    bytes_before: int
    bytes_after: int
    first_dirty: int
    """The new checkpoint: the end of the cleaned section."""
    latest_delete_horizon: int | None
    """The latest delete horizon a kept batch carries (``None``: no tombstone kept)."""


def first_uncleanable_offset(log: Log, high_watermark: int, now_ms: int, first_dirty: int) -> int:
    """Kafka's ``firstUncleanableDirtyOffset``, and reflog's recovery point (see the module)."""
    bounds = [log.active_segment.base_offset, high_watermark, log.recovery_point]
    lag = log.config.min_compaction_lag_ms
    if lag > 0:
        for segment in log.segments[:-1]:
            if segment.next_offset > first_dirty and segment.max_timestamp > now_ms - lag:
                bounds.append(segment.base_offset)
                break
    return min(bounds)


def cleanable_range(log: Log, first_dirty: int, high_watermark: int, now_ms: int) -> CleanableRange:
    """The segments the cleaner may rewrite now; a checkpoint outside the log restarts at its start."""
    if not log.log_start_offset <= first_dirty <= log.log_end_offset:
        first_dirty = log.log_start_offset
    upper = first_uncleanable_offset(log, high_watermark, now_ms, first_dirty)
    segments = tuple(s for s in log.segments[:-1] if s.next_offset <= upper and s.base_offset < upper)
    clean = sum(s.size for s in segments if s.next_offset <= first_dirty)
    dirty = sum(s.size for s in segments if s.next_offset > first_dirty)
    return CleanableRange(first_dirty, upper, segments, clean, dirty)


def needs_cleaning(
    cleanable: CleanableRange, log: Log, now_ms: int, latest_delete_horizon: int | None = None
) -> bool:
    """Kafka's ``grabFilthiestCompactedLog`` test for one log (see the module docstring)."""
    if not log.config.compact or not cleanable.segments:
        return False
    if cleanable.dirty_bytes and cleanable.dirty_ratio >= log.config.min_cleanable_dirty_ratio:
        return True
    dirty = cleanable.dirty
    if dirty:
        oldest = _first_batch_timestamp(dirty[0])
        if oldest is not None and oldest >= 0 and now_ms - oldest > log.config.max_compaction_lag_ms:
            return True
    return latest_delete_horizon is not None and latest_delete_horizon <= now_ms


def _first_batch_timestamp(segment: LogSegment) -> int | None:
    for found in segment.batches_from(0):
        return found.header.max_timestamp
    return None


def build_offset_map(segments: Sequence[LogSegment], upper: int) -> dict[bytes, int]:
    """Each key's latest offset among the records of ``segments`` below ``upper``."""
    latest: dict[bytes, int] = {}
    for segment in segments:
        if segment.base_offset >= upper:
            break
        for _, batch in _stored_batches(segment):
            if batch.header.is_control:
                continue
            for record in batch.records:
                if record.key is not None and record.offset is not None and record.offset < upper:
                    latest[record.key] = record.offset
    return latest


def clean_log(log: Log, cleanable: CleanableRange, now_ms: int) -> CleanResult:
    """Compact ``cleanable`` of ``log`` (see the module docstring); the segments are replaced in place.

    A segment none of whose batches change is left as it is. Raises
    :class:`~reflog.errors.LogOfflineError` when the log is offline or storage fails (it then
    goes offline); the segments already swapped in stay, the rest are unchanged.
    """
    removed = tombstones = before = after = rewritten = 0
    horizon_kept: int | None = None
    with log.io_guard():
        log.close_retired()  # the previous pass's segments: no reader holds them any more
        mapped = [s for s in log.segments if s.next_offset > cleanable.first_dirty]
        latest = build_offset_map(mapped, cleanable.first_uncleanable)
        last_of_producer = _last_batch_of_each_producer(log)
        for segment in cleanable.segments:
            kept: list[bytes] = []
            changed = False
            for raw, batch in _stored_batches(segment):
                outcome = _clean_batch(
                    batch, latest, last_of_producer, now_ms, log.config.delete_retention_ms
                )
                removed += outcome.records_removed
                tombstones += outcome.tombstones_removed
                if outcome.horizon is not None:
                    horizon_kept = max(outcome.horizon, horizon_kept or outcome.horizon)
                changed = changed or not outcome.unchanged
                if outcome.unchanged:
                    kept.append(raw)
                elif outcome.raw is not None:
                    kept.append(outcome.raw)
            before += segment.size
            if not changed:
                after += segment.size
                continue
            cleaned_path = write_cleaned(log.fs, log.directory, segment.base_offset, kept)
            new = swap_in(log.fs, segment, cleaned_path, log.config)
            log.replace_segment(segment, new)
            after += new.size
            rewritten += 1
    return CleanResult(
        rewritten, removed, tombstones, before, after, cleanable.first_uncleanable, horizon_kept
    )


class _BatchOutcome(NamedTuple):
    unchanged: bool
    """The batch stays byte for byte."""
    raw: bytes | None
    """Otherwise its rewritten bytes, or ``None``: the batch goes."""
    records_removed: int
    tombstones_removed: int
    horizon: int | None
    """The delete horizon of the kept batch when it holds a tombstone."""


def _clean_batch(
    batch: RecordBatch,
    latest: Mapping[bytes, int],
    last_of_producer: Mapping[int, int],
    now_ms: int,
    delete_retention_ms: int,
) -> _BatchOutcome:
    header = batch.header
    if header.is_control:
        return _BatchOutcome(True, None, 0, 0, None)
    horizon = header.delete_horizon_ms
    deletes_expired = horizon is not None and now_ms >= horizon
    retained: list[Record] = []
    dead = 0
    for record in batch.records:
        if record.key is None or record.offset is None:
            continue  # Kafka drops a keyless record from a compacted log
        if latest.get(record.key, -1) > record.offset:
            continue  # a later record has the key
        if record.value is None and deletes_expired:
            dead += 1
            continue
        retained.append(record)
    gone = len(batch.records) - len(retained)
    has_tombstone = any(r.value is None for r in retained)
    new_horizon = now_ms + delete_retention_ms if has_tombstone and horizon is None else None
    kept_horizon = (new_horizon if horizon is None else horizon) if has_tombstone else None
    if not gone and new_horizon is None:
        return _BatchOutcome(True, None, 0, 0, kept_horizon)
    if not retained and last_of_producer.get(header.producer_id) != header.last_offset:
        return _BatchOutcome(False, None, gone, dead, None)
    raw = rebuild_batch(header, retained, delete_horizon_ms=new_horizon)
    return _BatchOutcome(False, raw, gone, dead, kept_horizon)


def _stored_batches(segment: LogSegment) -> list[tuple[bytes, RecordBatch]]:
    """Every batch of ``segment``: its stored bytes and its decoded records (CRC checked)."""
    out: list[tuple[bytes, RecordBatch]] = []
    for found in segment.batches_from(0):
        raw = segment.fs.pread(segment.handle, found.position, found.header.size)
        out.append((raw, decode_batch(raw)))
    return out


def _last_batch_of_each_producer(log: Log) -> dict[int, int]:
    last: dict[int, int] = {}
    for header in log.batch_headers():
        if header.producer_id >= 0:
            last[header.producer_id] = header.last_offset
    return last


class LogCleaner:
    """One data directory's cleaner: the checkpoint of first dirty offsets and the delete horizons.

    :meth:`clean` is what the broker's maintenance loop calls every ``log.cleaner.backoff.ms``.
    """

    def __init__(self, fs: Filesystem, data_dir: str, clock: Clock) -> None:
        self.fs = fs
        self.path = f"{data_dir}/{CLEANER_CHECKPOINT_FILE}"
        self.clock = clock
        self.first_dirty: dict[TopicPartition, int] = {}
        self.delete_horizons: dict[TopicPartition, int] = {}
        self.last_results: dict[TopicPartition, CleanResult] = {}
        self.uncleanable: set[TopicPartition] = set()
        """Logs a cleaning found a corrupt batch in: never cleaned again by this process."""

    def load(self) -> None:
        """Read the checkpoint; one that does not parse is not trusted (every log is dirty)."""
        try:
            entries = read_checkpoint(self.fs, self.path) or []
            for entry in entries:
                topic, _, rest = entry.partition(" ")
                partition, offset = parse_ints(rest, 2, self.path)
                if topic_name_error(topic) is not None:
                    raise CorruptCheckpointError(f"{self.path}: bad topic in {entry!r}")
                self.first_dirty[TopicPartition(topic, partition)] = offset
        except CorruptCheckpointError:
            self.first_dirty = {}

    def clean(self, logs: Mapping[TopicPartition, Log], high_watermarks: Mapping[TopicPartition, int]) -> int:
        """Clean every compacted log that :func:`needs_cleaning`, then compact,delete retention.

        ``high_watermarks`` bounds each log (a log without one is not cleaned). Returns how many
        logs were cleaned; checkpoints them durably. A log holding a batch that does not decode is
        marked uncleanable (as Kafka's ``LogCleanerManager`` does) and the pass goes on. Raises
        :class:`~reflog.errors.LogOfflineError` for a storage error (that log goes offline).
        """
        now_ms = int(self.clock.now() * 1000)
        cleaned = 0
        for tp, log in sorted(logs.items()):
            hw = high_watermarks.get(tp)
            if hw is None or log.offline or not log.config.compact:
                continue
            if tp in self.uncleanable:
                continue
            cleanable = cleanable_range(log, self.first_dirty.get(tp, log.log_start_offset), hw, now_ms)
            if needs_cleaning(cleanable, log, now_ms, self.delete_horizons.get(tp)):
                try:
                    result = clean_log(log, cleanable, now_ms)
                except CorruptRecordError:
                    self.uncleanable.add(tp)  # Kafka's markPartitionUncleanable: the others go on
                    continue
                self.last_results[tp] = result
                self.first_dirty[tp] = result.first_dirty
                if result.latest_delete_horizon is None:
                    self.delete_horizons.pop(tp, None)
                else:
                    self.delete_horizons[tp] = result.latest_delete_horizon
                cleaned += 1
            if log.config.delete:
                log.delete_retention_segments(max_offset=hw)
        if cleaned:
            self.checkpoint(logs)
        return cleaned

    def checkpoint(self, logs: Mapping[TopicPartition, Log]) -> None:
        """Durably write the first dirty offset of every log still present."""
        entries = [
            f"{tp.topic} {tp.partition} {o}" for tp, o in sorted(self.first_dirty.items()) if tp in logs
        ]
        write_checkpoint(self.fs, self.path, entries)


__all__ = [
    "CLEANER_CHECKPOINT_FILE",
    "CleanResult",
    "CleanableRange",
    "LogCleaner",
    "build_offset_map",
    "clean_log",
    "cleanable_range",
    "first_uncleanable_offset",
    "needs_cleaning",
]
