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

Offsets are contiguous: every batch's base offset is the previous batch's last offset
plus one. (Kafka allows gaps after compaction; reflog has no compaction.)
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple

import attrs

from reflog.clock import Clock
from reflog.errors import (
    CorruptRecordError,
    LogOfflineError,
    MessageTooLargeError,
    OffsetOutOfRangeError,
    ReflogUsageError,
    StorageError,
)
from reflog.log.checkpoint import CorruptCheckpointError
from reflog.log.config import LogConfig
from reflog.log.epoch_cache import EpochEntry, LeaderEpochCache
from reflog.log.segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, LogSegment
from reflog.records import (
    BatchHeader,
    InPlaceCheck,
    decode_batch,
    validate_batch,
    verify_batches_in_place,
    verify_crc,
)
from reflog.storage import FileHandle, Filesystem

MAX_RELATIVE_OFFSET = 2**31 - 1
"""The largest ``offset - segment base offset`` an index entry holds (Java's ``Integer.MAX_VALUE``)."""

_SEGMENT_FILE = re.compile(r"^(\d{20})(\.log|\.index|\.timeindex)$")


_BASE_OFFSET = struct.Struct(">q")  # bytes 0..8 of a batch
_LEADER_EPOCH = struct.Struct(">i")  # bytes 12..16 (after baseOffset and batchLength)


def _stamp(batch: bytes, base_offset: int, leader_epoch: int) -> bytes:
    """``batch`` with its base offset and partition leader epoch set, in one copy.

    Both fields lie outside the CRC (which covers attributes..end), so the checksum stays valid.
    """
    out = bytearray(batch)
    _BASE_OFFSET.pack_into(out, 0, base_offset)
    _LEADER_EPOCH.pack_into(out, 12, leader_epoch)
    return bytes(out)


class TimestampAndOffset(NamedTuple):
    """A record found by timestamp (Kafka's ``FileRecords.TimestampAndOffset``)."""

    timestamp: int
    offset: int
    leader_epoch: int


class LogAppendInfo(NamedTuple):
    """Where an append landed: offsets ``first_offset..last_offset`` inclusive."""

    first_offset: int
    last_offset: int
    record_count: int
    batch_count: int


@attrs.frozen
class FileRegion:
    """``length`` bytes at ``position`` of an open segment file: what a fetch sends.

    The network layer may ``os.sendfile`` it when ``fs.sendfile_fd(handle)`` gives a
    descriptor, or call :meth:`read`. The region stays valid until the segment is
    truncated, deleted or closed.
    """

    fs: Filesystem
    handle: FileHandle
    position: int
    length: int
    first_offset: int = -1
    """The base offset of the region's first batch (-1: not known)."""

    def read(self) -> bytes:
        """The region's bytes, read through the storage seam."""
        return self.fs.pread(self.handle, self.position, self.length)


@attrs.frozen
class FetchData:
    """The answer to :meth:`Log.read`: whole batches starting at the one holding ``fetch_offset``.

    ``region`` is ``None`` when there is nothing to return. ``records`` holds the
    region's bytes when the read verified them by reading them (the default), else ``None``;
    ``in_place`` reports a verification done through views, without a copy.
    """

    fetch_offset: int
    region: FileRegion | None
    records: bytes | None
    log_start_offset: int
    log_end_offset: int
    in_place: InPlaceCheck | None = None
    """Set when the region was verified in place (``read(..., in_place=True)``)."""

    @property
    def size(self) -> int:
        return 0 if self.region is None else self.region.length


@attrs.frozen
class RecoveryReport:
    """What opening the log found and did."""

    clean_shutdown: bool
    recovered_from: int | None
    """Offset where validation started (``None``: nothing was validated)."""
    truncated_bytes: int
    deleted_segments: tuple[int, ...]
    reason: str | None
    """Why the log was cut, if it was."""
    epoch_cache_rebuilt: bool
    log_end_offset: int


class Log:
    """A partition's log in directory ``directory`` of ``fs``. Open it with :meth:`open`."""

    def __init__(
        self,
        fs: Filesystem,
        directory: str,
        config: LogConfig,
        clock: Clock,
        on_recovery_point_lowered: Callable[[Log], None] | None = None,
    ) -> None:
        self.fs = fs
        self.directory = directory
        self.config = config
        self.clock = clock
        self._on_recovery_point_lowered = on_recovery_point_lowered
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._recovery_point = 0
        self._dir_dirty = False
        self._offline: BaseException | None = None
        self._closed = False
        self._last_flush_time = clock.now()
        self.epoch_cache = LeaderEpochCache(fs, f"{directory}/leader-epoch-checkpoint")
        self.recovery_report: RecoveryReport | None = None

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
    ) -> Log:
        """Open (creating if needed) and, unless it was shut down cleanly, recover the log.

        ``recovery_point`` is the checkpointed offset below which data is known flushed;
        segments wholly below it are trusted, the rest validated batch by batch.
        Recovery never raises for bad data on disk; it raises :class:`StorageError`
        on an I/O error. Its findings are in :attr:`recovery_report`. Recovery is
        idempotent: a crash in the middle of it, then another recovery, gives the
        same log as one uninterrupted recovery.
        """
        log = cls(fs, directory, config, clock, on_recovery_point_lowered)
        log._load(recovery_point, clean_shutdown)
        return log

    def _load(self, recovery_point: int, clean_shutdown: bool) -> None:
        self.fs.makedirs(self.directory)
        bases = self._tidy_directory()
        now = self.clock.now()
        segments = [LogSegment(self.fs, self.directory, base, self.config, now) for base in bases]
        epoch_rebuilt = False
        try:
            self.epoch_cache = LeaderEpochCache.load(self.fs, self.directory)
        except CorruptCheckpointError:
            epoch_rebuilt = True
        recover_from_index = len(segments)
        if not clean_shutdown:
            # The segment holding the recovery point and everything after it are unflushed.
            for i in range(len(segments)):
                following = segments[i + 1].base_offset if i + 1 < len(segments) else None
                if following is None or following > recovery_point:
                    recover_from_index = i
                    break
        kept: list[LogSegment] = []
        deleted: list[int] = []
        truncated = 0
        reason: str | None = None
        recovered_from: int | None = None
        for i, segment in enumerate(segments):
            expected = kept[-1].next_offset if kept else segment.base_offset
            if reason is not None or segment.base_offset != expected:
                reason = reason or f"segment {segment.base_offset} does not follow offset {expected}"
                segment.delete_files()
                deleted.append(segment.base_offset)
                continue
            if i < recover_from_index:
                try:
                    segment.load()
                    kept.append(segment)
                    continue
                except CorruptRecordError:
                    recover_from_index = i  # a trusted segment turned out damaged: validate it
            if recovered_from is None:
                recovered_from = segment.base_offset
                self.epoch_cache.truncate_from_end(segment.base_offset)
            outcome = segment.recover(segment.base_offset, self._assign_epoch_from_batch)
            truncated += outcome.truncated_bytes
            if outcome.reason is not None:
                reason = outcome.reason
            kept.append(segment)
        if not kept:
            kept.append(LogSegment(self.fs, self.directory, 0, self.config, now))
            self._dir_dirty = True
        self._segments = kept
        self._bases = [s.base_offset for s in kept]
        if epoch_rebuilt:
            self._rebuild_epoch_cache()
        self.epoch_cache.truncate_from_end(self.log_end_offset)
        self.epoch_cache.truncate_from_start(self.log_start_offset)
        if deleted:
            self._dir_dirty = True
        # Kafka (KAFKA-10101): after a clean shutdown everything is flushed, so the recovery point
        # is the LEO; otherwise it stays at the checkpoint, since recovered bytes may sit only in the
        # page cache (recovery truncates but does not fsync). Whatever recovery kept was read from
        # the device, and recovering again cuts the same invalid bytes: recovery is idempotent.
        if clean_shutdown and recovered_from is None:
            self._recovery_point = self.log_end_offset
        else:
            self._recovery_point = min(recovery_point, self.log_end_offset)
        self.recovery_report = RecoveryReport(
            clean_shutdown=clean_shutdown,
            recovered_from=recovered_from,
            truncated_bytes=truncated,
            deleted_segments=tuple(deleted),
            reason=reason,
            epoch_cache_rebuilt=epoch_rebuilt,
            log_end_offset=self.log_end_offset,
        )

    def _tidy_directory(self) -> list[int]:
        """Delete leftovers (``*.tmp``, orphan indexes); return the segment base offsets, sorted."""
        names = self.fs.listdir(self.directory)
        logs: set[int] = set()
        for name in names:
            match = _SEGMENT_FILE.match(name)
            if match and match.group(2) == LOG_SUFFIX:
                logs.add(int(match.group(1)))
        for name in names:
            match = _SEGMENT_FILE.match(name)
            orphan_index = (
                match is not None and match.group(2) != LOG_SUFFIX and int(match.group(1)) not in logs
            )
            if name.endswith(".tmp") or orphan_index:
                self.fs.delete(f"{self.directory}/{name}")
                self._dir_dirty = True
        return sorted(logs)

    def _assign_epoch_from_batch(self, header: BatchHeader) -> None:
        if header.partition_leader_epoch > self.epoch_cache.latest_epoch:
            self.epoch_cache.assign(header.partition_leader_epoch, header.base_offset)

    def _rebuild_epoch_cache(self) -> None:
        entries: list[EpochEntry] = []
        for segment in self._segments:
            for found in segment.batches_from(0):
                epoch = found.header.partition_leader_epoch
                if epoch >= 0 and (not entries or epoch > entries[-1].epoch):
                    entries.append(EpochEntry(epoch, found.header.base_offset))
        self.epoch_cache.replace(entries)

    # ================================================================== state
    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    @property
    def log_start_offset(self) -> int:
        """The first offset still in the log (the oldest segment's base offset)."""
        return self._segments[0].base_offset

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

    def _go_offline(self, exc: StorageError) -> LogOfflineError:
        self._offline = exc
        return LogOfflineError(f"log {self.directory} went offline: {exc}", errno=exc.errno, path=exc.path)

    # ================================================================== appending
    def append_as_leader(
        self, records: bytes, leader_epoch: int, *, validated: bool = False
    ) -> LogAppendInfo:
        """Validate ``records`` (one or more batches), give them the next offsets, stamp ``leader_epoch``.

        Every batch is fully decoded first (CRC, structure, compression); nothing is
        written unless all are valid. ``validated`` says the caller has already walked every
        record (:mod:`reflog.log.validator`): then only the CRCs are checked again. Raises
        :class:`CorruptRecordError` for bad bytes, :class:`MessageTooLargeError` above
        ``max.message.bytes``, :class:`LogOfflineError` when the log is (or goes) offline.
        """
        self._check_usable()
        batches = self._split_batches(records, full_validation=not validated)
        next_offset = self.log_end_offset
        stamped: list[tuple[bytes, BatchHeader]] = []
        for raw, header in batches:
            assigned = dataclasses.replace(
                header, base_offset=next_offset, partition_leader_epoch=leader_epoch
            )
            stamped.append((_stamp(raw, next_offset, leader_epoch), assigned))
            next_offset = assigned.next_offset
        return self._append(stamped)

    def append_as_follower(self, records: bytes) -> LogAppendInfo:
        """Append batches fetched from the leader, keeping their offsets and epochs.

        The first batch must start exactly at the log end offset and each next batch
        where the previous ended. As in Kafka (``ignoreRecordSize``), ``max.message.bytes`` is
        not checked: the leader accepted the batch. Raises :class:`CorruptRecordError` for bad
        bytes or non-contiguous offsets, :class:`LogOfflineError` when offline.
        """
        self._check_usable()
        batches = self._split_batches(records, full_validation=False, check_size=False)
        expected = self.log_end_offset
        for _, header in batches:
            if header.base_offset != expected:
                raise CorruptRecordError(
                    f"follower append at offset {header.base_offset}, expected {expected} in {self.directory}"
                )
            expected = header.next_offset
        return self._append(batches)

    def _split_batches(
        self, records: bytes, *, full_validation: bool, check_size: bool = True
    ) -> list[tuple[bytes, BatchHeader]]:
        batches: list[tuple[bytes, BatchHeader]] = []
        position = 0
        while position < len(records):
            header = verify_crc(records, position)
            if check_size and header.size > self.config.max_message_bytes:
                raise MessageTooLargeError(
                    f"batch of {header.size} bytes exceeds max.message.bytes={self.config.max_message_bytes}"
                )
            if full_validation:
                validate_batch(records, position)
            batches.append((bytes(records[position : position + header.size]), header))
            position += header.size
        if not batches:
            raise CorruptRecordError("no record batch in append")
        return batches

    def _append(self, batches: list[tuple[bytes, BatchHeader]]) -> LogAppendInfo:
        first = batches[0][1].base_offset
        records = 0
        try:
            for raw, header in batches:
                self._maybe_roll(len(raw), header.last_offset)
                self.active_segment.append(raw, header, self.clock.now())
                self._assign_epoch_from_batch(header)
                records += header.records_count
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        info = LogAppendInfo(first, batches[-1][1].last_offset, records, len(batches))
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
            segment = LogSegment(self.fs, self.directory, base, self.config, self.clock.now())
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        self._segments.append(segment)
        self._bases.append(base)
        self._dir_dirty = True
        self.flush(base)
        return segment

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
            while len(self._segments) > 1 and self._segments[-1].base_offset >= offset:
                self._segments.pop().delete_files()
                self._bases.pop()
                self._dir_dirty = True
            if offset < self.log_start_offset:
                self._segments.pop().delete_files()
                self._segments = [LogSegment(self.fs, self.directory, offset, self.config, self.clock.now())]
                self._bases = [offset]
                self._dir_dirty = True
            else:
                self.active_segment.truncate_to(offset)
            self.active_segment.flush()
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
            for segment in self._segments:
                segment.delete_files()
            self._segments = [LogSegment(self.fs, self.directory, offset, self.config, self.clock.now())]
            self._bases = [offset]
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
        empty active segment always remains.
        """
        self._check_usable()
        bound = self.log_end_offset if max_offset is None else max_offset
        now_ms = self.clock.now() * 1000
        excess = self.size_in_bytes - self.config.retention_bytes if self.config.retention_bytes >= 0 else 0
        doomed = 0
        for segment in self._segments:
            if segment.next_offset > bound or segment.is_empty:
                break
            by_time = (
                self.config.retention_ms >= 0
                and segment.max_timestamp >= 0
                and now_ms - segment.max_timestamp > self.config.retention_ms
            )
            by_size = excess - segment.size >= 0 and self.config.retention_bytes >= 0
            if not (by_time or by_size):
                break
            excess -= segment.size
            doomed += 1
        if doomed == 0:
            return 0
        if doomed == len(self._segments):
            self.roll()
        try:
            for segment in self._segments[:doomed]:
                segment.delete_files()
            del self._segments[:doomed]
            del self._bases[:doomed]
            self.fs.fsync_dir(self.directory)
            self._dir_dirty = False
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        self.epoch_cache.truncate_from_start(self.log_start_offset)
        return doomed

    # ================================================================== reading
    def read(
        self,
        fetch_offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        verify: bool = True,
        in_place: bool = False,
    ) -> FetchData:
        """Whole batches from the one holding ``fetch_offset``, within ``max_bytes`` (at least one).

        ``max_offset`` (exclusive, e.g. the high watermark) bounds what is returned.
        With ``verify`` (the default) the bytes are read and each batch's CRC and
        offsets are checked, so corrupt bytes on disk are never served: a bad batch
        raises :class:`CorruptRecordError`. With ``in_place`` as well, the batches are checked
        through views into the page cache (:meth:`Filesystem.read_views`) and not copied:
        ``records`` stays ``None`` and the caller sends the region itself (zero-copy fetch).
        Raises :class:`OffsetOutOfRangeError` for
        an offset outside [log start, log end], :class:`LogOfflineError` when offline.
        """
        self._check_usable()
        leo = self.log_end_offset
        upper = leo if max_offset is None else min(max_offset, leo)
        if fetch_offset < self.log_start_offset or fetch_offset > leo:
            raise OffsetOutOfRangeError(
                f"offset {fetch_offset} outside [{self.log_start_offset}, {leo}] in {self.directory}"
            )
        empty = FetchData(fetch_offset, None, None, self.log_start_offset, leo)
        if fetch_offset >= upper:
            return empty
        i = bisect.bisect_right(self._bases, fetch_offset) - 1
        try:
            for segment in self._segments[i:]:
                found = segment.region_for(fetch_offset, max_bytes, upper)
                if found is None:
                    if segment.next_offset > fetch_offset:
                        return empty
                    continue
                position, length, first_offset = found
                region = FileRegion(self.fs, segment.handle, position, length, first_offset)
                if verify and in_place:
                    check = self._verified_in_place(region, first_offset)
                    return FetchData(fetch_offset, region, None, self.log_start_offset, leo, check)
                records = self._verified(region, first_offset) if verify else None
                return FetchData(fetch_offset, region, records, self.log_start_offset, leo)
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        return empty

    def read_records(self, fetch_offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """The verified bytes of :meth:`read` (``b""`` when there is nothing to return)."""
        return self.read(fetch_offset, max_bytes, max_offset=max_offset).records or b""

    def _verified(self, region: FileRegion, first_offset: int) -> bytes:
        data = region.read()
        if len(data) != region.length:
            raise CorruptRecordError(f"short read of {region.length} bytes in {self.directory}")
        position = 0
        expected = first_offset
        while position < len(data):
            header = verify_crc(data, position)
            if header.base_offset != expected:
                raise CorruptRecordError(
                    f"batch at offset {header.base_offset} where {expected} was expected in {self.directory}"
                )
            expected = header.next_offset
            position += header.size
        return data

    def _verified_in_place(self, region: FileRegion, first_offset: int) -> InPlaceCheck:
        with self.fs.read_views(region.handle, region.position, region.length) as views:
            if sum(view.nbytes for view in views) != region.length:
                raise CorruptRecordError(f"short read of {region.length} bytes in {self.directory}")
            try:
                return verify_batches_in_place(views, first_offset)
            except CorruptRecordError as exc:
                raise CorruptRecordError(f"{exc} in {self.directory}") from exc

    def offset_for_timestamp(
        self, timestamp: int, max_offset: int | None = None
    ) -> TimestampAndOffset | None:
        """The first record whose timestamp is at least ``timestamp`` (Kafka's ``fetchOffsetByTimestamp``).

        The first segment whose largest timestamp reaches ``timestamp`` is searched: its time
        index gives where to start, the batch headers skip to the first batch whose max timestamp
        reaches it, and that batch is decoded to find the record. ``None`` when no record
        qualifies, or when the record found lies at or above ``max_offset`` (exclusive, e.g. the
        high watermark: Kafka does not reveal records a consumer cannot read yet). Raises
        :class:`CorruptRecordError` if the stored batch does not decode,
        :class:`LogOfflineError` when offline.
        """
        self._check_usable()
        upper = self.log_end_offset if max_offset is None else min(max_offset, self.log_end_offset)
        try:
            for segment in self._segments:
                if segment.max_timestamp < timestamp or segment.is_empty:
                    continue
                start = segment.find(max(segment.time_index.lookup(timestamp), segment.base_offset))
                if start is None:
                    return None
                for found in segment.batches_from(start.position):
                    header = found.header
                    if header.base_offset >= upper:
                        return None
                    if header.max_timestamp < timestamp:
                        continue
                    raw = self.fs.pread(segment.handle, found.position, header.size)
                    for record in decode_batch(raw).records:
                        # Decoded records always carry both (decode_batch fills them in).
                        found_at, offset = record.timestamp, record.offset
                        if found_at is not None and offset is not None and found_at >= timestamp:
                            if offset >= upper:
                                return None
                            return TimestampAndOffset(found_at, offset, header.partition_leader_epoch)
                return None
        except StorageError as exc:
            raise self._go_offline(exc) from exc
        return None

    def batch_headers(self) -> Iterator[BatchHeader]:
        """The header of every batch, oldest first, read from the segment files (no CRC check)."""
        for segment in self._segments:
            for found in segment.batches_from(0):
                yield found.header

    def iter_batches(self, start_offset: int | None = None) -> Iterator[bytes]:
        """Every verified batch from ``start_offset`` (default: the log start) to the end."""
        offset = self.log_start_offset if start_offset is None else start_offset
        while offset < self.log_end_offset:
            fetched = self.read(offset, 1 << 20)
            if fetched.records is None:
                return
            position = 0
            while position < len(fetched.records):
                header = verify_crc(fetched.records, position)
                yield fetched.records[position : position + header.size]
                position += header.size
                offset = header.next_offset

    # ================================================================== closing
    def close(self) -> None:
        """Close every file without flushing (flush first for a clean shutdown)."""
        if self._closed:
            return
        self._closed = True
        for segment in self._segments:
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
