"""Opening a partition's log directory: tidy it, load its segments, recover what was not flushed.

:func:`load_log` is what :meth:`reflog.log.Log.open` runs before the log serves anything.
After a clean shutdown every segment is trusted (its indexes are loaded); otherwise every batch
from the segment holding the recovery point on is validated (header, CRC, increasing offsets),
the log is cut at the first invalid batch and every later segment deleted, as Kafka's
``LogLoader`` does (see :meth:`reflog.log.segment.LogSegment.recover`). A trusted segment that
turns out damaged is validated as well. Before anything is loaded, a segment replacement the log
cleaner left unfinished is completed or discarded (:func:`reflog.log.swap.finish_interrupted_swaps`).
A corrupt leader-epoch checkpoint is rebuilt from the batches' epochs.

Recovery never raises for bad data on disk; it raises :class:`~reflog.errors.StorageError` on
an I/O error. It is idempotent: a crash in the middle of it, then another recovery, gives the
same log as one uninterrupted recovery.
"""

from __future__ import annotations

import re

import attrs

from reflog.clock import Clock
from reflog.errors import CorruptRecordError
from reflog.log.checkpoint import CorruptCheckpointError
from reflog.log.config import LogConfig
from reflog.log.epoch_cache import EpochEntry, LeaderEpochCache
from reflog.log.segment import LOG_SUFFIX, LogSegment
from reflog.log.swap import finish_interrupted_swaps
from reflog.records import BatchHeader
from reflog.storage import Filesystem

_SEGMENT_FILE = re.compile(r"^(\d{20})(\.log|\.index|\.timeindex)$")


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


@attrs.frozen
class LoadedLog:
    """What :func:`load_log` hands the :class:`~reflog.log.Log`: its state after recovery."""

    segments: list[LogSegment]
    """At least one segment, contiguous, oldest first."""
    epoch_cache: LeaderEpochCache
    recovery_point: int
    dir_dirty: bool
    """Whether files were created or deleted since the directory was last fsynced."""
    report: RecoveryReport


def assign_epoch(cache: LeaderEpochCache, header: BatchHeader) -> None:
    """Record in ``cache`` the start of the epoch of a batch appended or recovered, if it is new."""
    if header.partition_leader_epoch > cache.latest_epoch:
        cache.assign(header.partition_leader_epoch, header.base_offset)


def load_log(
    fs: Filesystem,
    directory: str,
    config: LogConfig,
    clock: Clock,
    *,
    recovery_point: int,
    clean_shutdown: bool,
) -> LoadedLog:
    """Open (creating if needed) and, unless it was shut down cleanly, recover ``directory``.

    ``recovery_point`` is the checkpointed offset below which data is known flushed; segments
    wholly below it are trusted, the rest validated batch by batch. Raises
    :class:`~reflog.errors.StorageError` on an I/O error, never for bad data.
    """
    fs.makedirs(directory)
    swapped, swaps_finished = finish_interrupted_swaps(fs, directory)
    bases, dir_dirty = _tidy_directory(fs, directory)
    dir_dirty = dir_dirty or swaps_finished
    now = clock.now()
    segments = [LogSegment(fs, directory, base, config, now) for base in bases]
    epoch_rebuilt = False
    try:
        epoch_cache = LeaderEpochCache.load(fs, directory)
    except CorruptCheckpointError:
        epoch_cache = LeaderEpochCache(fs, f"{directory}/leader-epoch-checkpoint")
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
        if reason is not None or segment.base_offset < expected:
            reason = reason or f"segment {segment.base_offset} does not follow offset {expected}"
            segment.delete_files()
            deleted.append(segment.base_offset)
            continue
        if i < recover_from_index:
            try:
                segment.load()
                if segment.base_offset in swapped:
                    segment.rebuild_indexes()  # the old segment's indexes went with it
                kept.append(segment)
                continue
            except CorruptRecordError:
                recover_from_index = i  # a trusted segment turned out damaged: validate it
        if recovered_from is None:
            recovered_from = segment.base_offset
            epoch_cache.truncate_from_end(segment.base_offset)
        outcome = segment.recover(segment.base_offset, lambda header: assign_epoch(epoch_cache, header))
        truncated += outcome.truncated_bytes
        if outcome.reason is not None:
            reason = outcome.reason
        kept.append(segment)
    if not kept:
        kept.append(LogSegment(fs, directory, 0, config, now))
        dir_dirty = True
    if epoch_rebuilt:
        epoch_cache.replace(_epochs_of(kept))
    log_end_offset = kept[-1].next_offset
    epoch_cache.truncate_from_end(log_end_offset)
    epoch_cache.truncate_from_start(kept[0].base_offset)
    if deleted:
        dir_dirty = True
    # Kafka (KAFKA-10101): after a clean shutdown everything is flushed, so the recovery point
    # is the LEO; otherwise it stays at the checkpoint, since recovered bytes may sit only in the
    # page cache (recovery truncates but does not fsync). Whatever recovery kept was read from
    # the device, and recovering again cuts the same invalid bytes: recovery is idempotent.
    if clean_shutdown and recovered_from is None:
        recovered_point = log_end_offset
    else:
        recovered_point = min(recovery_point, log_end_offset)
    report = RecoveryReport(
        clean_shutdown=clean_shutdown,
        recovered_from=recovered_from,
        truncated_bytes=truncated,
        deleted_segments=tuple(deleted),
        reason=reason,
        epoch_cache_rebuilt=epoch_rebuilt,
        log_end_offset=log_end_offset,
    )
    return LoadedLog(kept, epoch_cache, recovered_point, dir_dirty, report)


def _tidy_directory(fs: Filesystem, directory: str) -> tuple[list[int], bool]:
    """Delete leftovers (``*.tmp``, orphan indexes); the segment base offsets, sorted, and
    whether anything was deleted."""
    names = fs.listdir(directory)
    logs: set[int] = set()
    for name in names:
        match = _SEGMENT_FILE.match(name)
        if match and match.group(2) == LOG_SUFFIX:
            logs.add(int(match.group(1)))
    deleted = False
    for name in names:
        match = _SEGMENT_FILE.match(name)
        orphan_index = match is not None and match.group(2) != LOG_SUFFIX and int(match.group(1)) not in logs
        if name.endswith(".tmp") or orphan_index:
            fs.delete(f"{directory}/{name}")
            deleted = True
    return sorted(logs), deleted


def _epochs_of(segments: list[LogSegment]) -> list[EpochEntry]:
    """The leader-epoch entries the batch headers of ``segments`` give (a rebuilt checkpoint)."""
    entries: list[EpochEntry] = []
    for segment in segments:
        for found in segment.batches_from(0):
            epoch = found.header.partition_leader_epoch
            if epoch >= 0 and (not entries or epoch > entries[-1].epoch):
                entries.append(EpochEntry(epoch, found.header.base_offset))
    return entries


__all__ = ["LoadedLog", "RecoveryReport", "assign_epoch", "load_log"]
