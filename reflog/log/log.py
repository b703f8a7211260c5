"""A partition's log: segments, appends, reads, flushes, truncation, retention and recovery.

This is Kafka's ``UnifiedLog``/``LocalLog`` reduced to what a single replica's storage
does. The replication layer decides *what* to append or truncate; the log makes it
durable (or not) exactly as Kafka does:

* an append writes to the page cache and returns: it is *not* durable;
* :meth:`Log.flush` fsyncs segments and only then advances the **recovery point**;
  ``flush.messages``/``flush.ms`` trigger it, and a segment is fsynced when it rolls;
* after an unclean shutdown, :meth:`Log.open` validates every batch from the segment
  holding the recovery point, cuts the log at the first invalid batch and deletes
  every later segment (see :mod:`reflog.log.segment`);
* an I/O error takes the log **offline** (Kafka's KIP-112): the failed fsync is never
  retried, and every later append, flush or read raises :class:`LogOfflineError`.

Offsets increase: a leader's appends are contiguous; the log cleaner
(:mod:`reflog.log.cleaner`) leaves gaps where it removed records or whole batches, and a
follower copies them, as in Kafka.

The Log delegates: its reads are :class:`reflog.log.reads.LogReads`'s, which segments retention
and DeleteRecords delete is :mod:`reflog.log.retention`'s decision, and the edits of the segment
list that delete files are :mod:`reflog.log.truncation`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from reflog.clock import Clock
from reflog.errors import (
    LogOfflineError,
    OffsetOutOfRangeError,
    ReflogUsageError,
    StorageError,
)
from reflog.log.append import LogAppendInfo, append_info, follower_batches, leader_batches
from reflog.log.config import LogConfig
from reflog.log.epoch_cache import LeaderEpochCache
from reflog.log.reads import FetchData, FileRegion, LogReads, TimestampAndOffset
from reflog.log.recovery import RecoveryReport, assign_epoch, load_log
from reflog.log.retention import retention_doomed, start_offset_doomed
from reflog.log.segment import INDEX_SUFFIX, TIME_INDEX_SUFFIX, LogSegment
from reflog.log.truncation import cut_segments, delete_oldest, restart_segments
from reflog.log.validator import ValidatedBatch
from reflog.records import VerifiedBatch
from reflog.storage import Filesystem

MAX_RELATIVE_OFFSET = 2**31 - 1
"""The largest ``offset - segment base offset`` an index entry holds (Java's ``Integer.MAX_VALUE``)."""


class Log(LogReads):
    """A partition's log in directory ``directory`` of ``fs``. Open it with :meth:`open`.

    Its reads (:meth:`read`, :meth:`offset_for_timestamp`, :meth:`iter_batches`, ...) are
    :class:`reflog.log.reads.LogReads`'s."""

    def __init__(
        self,
        fs: Filesystem,
        directory: str,
        config: LogConfig,
        clock: Clock,
        on_recovery_point_lowered: Callable[[Log], None] | None = None,
        *,
        on_log_start_offset_changed: Callable[[Log], None] | None = None,
    ) -> None:
        self.fs = fs
        self.directory = directory
        self.config = config
        self.clock = clock
        self._on_recovery_point_lowered = on_recovery_point_lowered
        self._on_log_start_offset_changed = on_log_start_offset_changed
        self._start = 0
        """Kafka's ``logStartOffset`` when DeleteRecords moved it inside the first segment."""
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._recovery_point = 0
        self._dir_dirty = False
        self._offline: BaseException | None = None
        self._closed = False
        self._last_flush_time = clock.now()
        self.epoch_cache = LeaderEpochCache(fs, f"{directory}/leader-epoch-checkpoint")
        self.recovery_report: RecoveryReport | None = None
        self._retired: list[LogSegment] = []

    # ================================================================== opening and recovery
    @classmethod
    def open(
        cls,
        fs: Filesystem,
        directory: str,
        config: LogConfig,
        clock: Clock,
        *,
        recovery_point: int = 0,
        clean_shutdown: bool = False,
        on_recovery_point_lowered: Callable[[Log], None] | None = None,
        log_start_offset: int = 0,
        on_log_start_offset_changed: Callable[[Log], None] | None = None,
    ) -> Log:
        """Open (creating if needed) and, unless it was shut down cleanly, recover the log.

        ``recovery_point`` is the checkpointed offset below which data is known flushed;
        segments wholly below it are trusted, the rest validated batch by batch.
        Recovery never raises for bad data on disk; it raises :class:`StorageError`
        on an I/O error. Its findings are in :attr:`recovery_report`. Recovery is
        idempotent: a crash in the middle of it, then another recovery, gives the
        same log as one uninterrupted recovery (:mod:`reflog.log.recovery`).
        """
        log = cls(
            fs,
            directory,
            config,
            clock,
            on_recovery_point_lowered,
            on_log_start_offset_changed=on_log_start_offset_changed,
        )
        loaded = load_log(
            fs, directory, config, clock, recovery_point=recovery_point, clean_shutdown=clean_shutdown
        )
        log._segments = loaded.segments
        log._bases = [segment.base_offset for segment in loaded.segments]
        log.epoch_cache = loaded.epoch_cache
        log._recovery_point = loaded.recovery_point
        log._dir_dirty = loaded.dir_dirty
        log.recovery_report = loaded.report
        if log_start_offset > log.log_end_offset:
            # The records below the checkpointed start were deleted: a shorter recovered log
            # must not bring any of them back (Kafka's LogLoader starts the log there).
            log.truncate_fully_and_start_at(log_start_offset)
        log._start = log_start_offset
        return log

    # ================================================================== state
    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    @property
    def log_start_offset(self) -> int:
        """The first offset still in the log: the oldest segment's base offset, or beyond it
        where DeleteRecords moved it (:meth:`maybe_increment_log_start_offset`)."""
        return max(self._start, self._segments[0].base_offset)

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        """Move the log start offset up to ``offset`` (DeleteRecords, PRO-89); whether it moved.

        As Kafka's ``UnifiedLog.maybeIncrementLogStartOffset``: records below ``offset`` are no
        longer served (a read below it is out of range), the segments wholly below it are deleted
        (the log rolls first when all are), the epoch cache is truncated from the start, and the
        new start is handed to ``on_log_start_offset_changed`` (the checkpoint). Raises
        :class:`OffsetOutOfRangeError` beyond the log end offset, :class:`StorageError` on I/O.
        """
        self._check_usable()
        if offset <= self.log_start_offset:
            return False
        if offset > self.log_end_offset:
            raise OffsetOutOfRangeError(f"log start {offset} beyond the log end {self.log_end_offset}")
        self._start = offset
        if self.active_segment.next_offset <= offset:
            self.roll()  # every record goes: an empty active segment stays (a no-op when empty)
        doomed = start_offset_doomed(self._segments, offset)
        if doomed:
            self._delete_oldest(doomed)
        self.epoch_cache.truncate_from_start(offset)
        if self._on_log_start_offset_changed is not None:
            self._on_log_start_offset_changed(self)
        return True

    @property
    def log_end_offset(self) -> int:
        """LEO: the offset the next appended record will get."""
        return self._segments[-1].next_offset

    @property
    def recovery_point(self) -> int:
        """Every offset below this has been fsynced; moves only after a completed flush."""
        return self._recovery_point

    @property
    def unflushed_messages(self) -> int:
        return self.log_end_offset - self._recovery_point

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def offline(self) -> bool:
        return self._offline is not None

    @property
    def offline_cause(self) -> str | None:
        """The I/O error that took the log offline (``"ENOSPC on ...: No space left on device"``)."""
        return None if self._offline is None else str(self._offline)

    def _check_usable(self) -> None:
        if self._closed:
            raise ReflogUsageError(f"log {self.directory} is closed")
        if self._offline is not None:
            raise LogOfflineError(
                f"log {self.directory} is offline after an I/O error: {self._offline}", path=self.directory
            )

    @contextmanager
    def io_guard(self) -> Iterator[None]:
        """Storage work for this log from outside (the cleaner): a :class:`StorageError` takes it
        offline and leaves as :class:`LogOfflineError` (also raised when offline or closed)."""
        self._check_usable()
        try:
            yield
        except StorageError as exc:
            raise self._go_offline(exc) from exc

    def replace_segment(self, old: LogSegment, new: LogSegment) -> None:
        """Put ``new`` (swapped in by :mod:`reflog.log.swap`) in place of ``old``, a closed segment at
        the same base (else :class:`ReflogUsageError`). ``old`` stays open, so a region handed to a
        reader stays readable, until :meth:`close_retired` (the cleaner's next pass) or :meth:`close`."""
        if old is self.active_segment or old not in self._segments or new.base_offset != old.base_offset:
            raise ReflogUsageError(f"cannot replace {old!r} by {new!r} in {self.directory}")
        self._segments[self._segments.index(old)] = new
        self._retired.append(old)

    def close_retired(self) -> None:
        """Close the segments :meth:`replace_segment` replaced (Kafka's ``file.delete.delay.ms``)."""
        for retired in self._retired:
            retired.close()
        self._retired = []

    def _go_offline(self, exc: StorageError) -> LogOfflineError:
        self._offline = exc
        return LogOfflineError(f"log {self.directory} went offline: {exc}", errno=exc.errno, path=exc.path)

    # ================================================================== appending
    def append_as_leader(self, records: bytes | ValidatedBatch, leader_epoch: int) -> LogAppendInfo:
        """Validate ``records`` (one or more batches), give them the next offsets, stamp ``leader_epoch``.

        The append pipeline (:mod:`reflog.log.append`): each batch's CRC is checked once and every
        record walked, unless ``records`` is a :class:`ValidatedBatch` (the validator did both);
        nothing is written unless all are valid. Raises :class:`CorruptRecordError` for bad
        bytes, :class:`MessageTooLargeError` above ``max.message.bytes``,
        :class:`LogOfflineError` when the log is (or goes) offline.
        """
        self._check_usable()
        batches = leader_batches(
            records, self.log_end_offset, leader_epoch, max_message_bytes=self.config.max_message_bytes
        )
        return self._append(batches)

    def append_as_follower(self, records: bytes | Sequence[VerifiedBatch]) -> LogAppendInfo:
        """Append batches fetched from the leader, keeping their offsets and epochs.

        ``records`` is the fetched bytes, or the batches the caller already split and CRC-checked
        from them (:func:`reflog.records.verified_batches`): each batch's CRC is checked once.
        Each batch must start at or above where the previous one ended (the log end offset for
        the first): a compacted leader has gaps. As in Kafka (``ignoreRecordSize``), ``max.message.bytes`` is
        not checked: the leader accepted the batch. Raises :class:`CorruptRecordError` for bad
        bytes or offsets below the log end, :class:`LogOfflineError` when offline.
        """
        self._check_usable()
        return self._append(follower_batches(records, self.log_end_offset, where=f" in {self.directory}"))

    def _append(self, batches: Sequence[VerifiedBatch]) -> LogAppendInfo:
        try:
            for batch in batches:
                self._maybe_roll(len(batch.raw), batch.header.last_offset)
                self.active_segment.append(batch.raw, batch.header, self.clock.now())
                assign_epoch(self.epoch_cache, batch.header)
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        info = append_info(batches)
        if self.unflushed_messages >= self.config.flush_messages:
            self.flush()
        return info

    # ================================================================== rolling and flushing
    def _maybe_roll(self, incoming_bytes: int, last_offset: int) -> None:
        """Kafka's ``LogSegment.shouldRoll``: size, age, a full index, or an offset the index cannot hold.

        The indexes store offsets relative to the segment's base offset in 32 bits
        (``canConvertToRelativeOffset``): a batch ending more than ``2**31 - 1`` past the base
        starts a new segment, whose base is the batch's own base offset (the log end offset),
        and a batch's last offset delta is itself an int32, so it always fits there.
        """
        active = self.active_segment
        if active.is_empty:
            return
        too_big = active.size + incoming_bytes > self.config.segment_bytes
        too_old = (self.clock.now() - active.created_at) * 1000 >= self.config.segment_ms
        too_far = last_offset - active.base_offset > MAX_RELATIVE_OFFSET
        if too_big or too_old or too_far or active.offset_index.is_full:
            self.roll()

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset and fsync the old ones.

        Kafka flushes the rolled segment asynchronously right after the roll; reflog
        does it before returning (so the recovery point reaches the new base offset).
        A no-op returning the active segment when it is empty.
        """
        self._check_usable()
        if self.active_segment.is_empty:
            return self.active_segment
        base = self.log_end_offset
        try:
            segment = self._new_segment(base)
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        self._segments.append(segment)
        self._bases.append(base)
        self._dir_dirty = True
        self.flush(base)
        return segment

    def _new_segment(self, base_offset: int) -> LogSegment:
        """A new, empty segment file at ``base_offset`` (not yet in the list). :class:`StorageError`."""
        return LogSegment(self.fs, self.directory, base_offset, self.config, self.clock.now())

    def flush(self, offset: int | None = None) -> None:
        """fsync every segment holding data below ``offset`` (default: the log end offset).

        Then fsync the directory if segments were created or deleted, and only then
        move the recovery point to ``offset``. An fsync failure takes the log offline
        and raises :class:`LogOfflineError`; the recovery point does not move.
        """
        self._check_usable()
        target = self.log_end_offset if offset is None else min(offset, self.log_end_offset)
        try:
            if target > self._recovery_point:
                for segment in self._segments:
                    if segment.base_offset < target and segment.next_offset > self._recovery_point:
                        segment.flush()
            if self._dir_dirty:
                self.fs.fsync_dir(self.directory)
                self._dir_dirty = False
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        self._recovery_point = max(self._recovery_point, target)
        self._last_flush_time = self.clock.now()

    def flush_if_due(self) -> bool:
        """Flush if ``flush.ms`` passed since the last flush and data is unflushed; returns whether it did."""
        due = (self.clock.now() - self._last_flush_time) * 1000 >= self.config.flush_ms
        if due and self.unflushed_messages > 0:
            self.flush()
            return True
        return False

    # ================================================================== truncation and retention
    def truncate_to(self, offset: int) -> bool:
        """Remove every record at or above ``offset``; returns whether anything was removed.

        The leader-epoch cache is truncated at ``offset`` in any case. The truncation is made
        durable (fsync of the cut segment, directory fsync for deleted ones) before returning,
        and the recovery point lowered to ``offset`` if it was above. ``offset`` below the log
        start offset empties the log and restarts it at ``offset``.
        """
        self._check_usable()
        if offset >= self.log_end_offset:
            # Kafka's truncateTo always truncates the epoch cache, even when the log is unchanged:
            # an epoch that began at the LEO with no batch yet must go too.
            self.epoch_cache.truncate_from_end(offset)
            return False
        try:
            restart = offset < self.log_start_offset
            if restart:
                self._start = offset
            if cut_segments(
                self._segments, self._bases, offset, restart=restart, new_segment=self._new_segment
            ):
                self._dir_dirty = True
            if self._dir_dirty:
                self.fs.fsync_dir(self.directory)
                self._dir_dirty = False
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        self.epoch_cache.truncate_from_end(self.log_end_offset)
        if self._recovery_point > self.log_end_offset:
            self._recovery_point = self.log_end_offset
            if self._on_recovery_point_lowered is not None:
                self._on_recovery_point_lowered(self)
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and restart the log, empty, at ``offset``.

        For a follower whose log ends below the leader's log start offset.

        Durable before returning, like :meth:`truncate_to`.
        """
        self._check_usable()
        try:
            restart_segments(self._segments, self._bases, offset, self._new_segment)
            self._start = offset
            self.fs.fsync_dir(self.directory)
            self._dir_dirty = False
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        self.epoch_cache.replace([])  # Kafka's clearAndFlush
        if self._recovery_point != offset:
            self._recovery_point = offset
            if self._on_recovery_point_lowered is not None:
                self._on_recovery_point_lowered(self)

    def delete_retention_segments(self, *, max_offset: int | None = None) -> int:
        """Delete old segments past ``retention.ms`` or beyond ``retention.bytes``; returns how many.

        Only segments that end at or below ``max_offset`` (the high watermark, when the
        caller has one) may go. When every segment qualifies the log rolls first, so an
        empty active segment always remains. Nothing goes unless ``delete`` is in
        ``cleanup.policy``; a segment the cleaner emptied does not stop the scan.
        """
        self._check_usable()
        if not self.config.delete:
            return 0
        bound = self.log_end_offset if max_offset is None else max_offset
        doomed = retention_doomed(self._segments, self.config, self.clock.now() * 1000, bound)
        if doomed == 0:
            return 0
        if doomed == len(self._segments):
            self.roll()
        self._delete_oldest(doomed)
        self.epoch_cache.truncate_from_start(self.log_start_offset)
        return doomed

    def _delete_oldest(self, count: int) -> None:
        """Delete the ``count`` oldest segments' files, then fsync the directory (offline on I/O error)."""
        try:
            delete_oldest(self._segments, self._bases, count)
            self.fs.fsync_dir(self.directory)
            self._dir_dirty = False
        except StorageError as exc:
            raise self._go_offline(exc) from exc

    # ================================================================== closing
    def close(self) -> None:
        """Close every file without flushing (flush first for a clean shutdown)."""
        if self._closed:
            return
        self._closed = True
        for segment in [*self._segments, *self._retired]:
            segment.close()

    def __repr__(self) -> str:
        return (
            f"Log({self.directory!r}, start={self.log_start_offset}, end={self.log_end_offset}, "
            f"recovery_point={self._recovery_point}, segments={len(self._segments)})"
        )


__all__ = [
    "INDEX_SUFFIX",
    "TIME_INDEX_SUFFIX",
    "FetchData",
    "FileRegion",
    "Log",
    "LogAppendInfo",
    "RecoveryReport",
    "TimestampAndOffset",
]
