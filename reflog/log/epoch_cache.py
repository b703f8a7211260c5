"""The leader-epoch cache: for each leader epoch, the first offset written in it.

Kafka (KIP-101/279) keeps ``(epoch, start_offset)`` pairs in ``leader-epoch-checkpoint``
next to the partition's segments. A leader records the pair when its leadership begins;
a follower records a pair whenever a fetched batch carries a newer epoch. A follower
asks the leader for the end offset of its latest epoch (:meth:`LeaderEpochCache.end_offset_for`)
to find where the two logs diverge. The cache is truncated together with the log.

Every change is written through :func:`reflog.log.checkpoint.write_checkpoint`
(tmp file, fsync, rename, directory fsync). A checkpoint that does not parse is not
trusted: :meth:`LeaderEpochCache.load` raises, and the log rebuilds the cache from the
epochs stamped in its batches.
"""

from __future__ import annotations

import bisect
import itertools
from typing import NamedTuple

from reflog.log.checkpoint import CorruptCheckpointError, parse_ints, read_checkpoint, write_checkpoint
from reflog.storage import Filesystem
from reflog.vocabulary import UNDEFINED_EPOCH, UNDEFINED_OFFSET

EPOCH_CHECKPOINT_NAME = "leader-epoch-checkpoint"


class EpochEntry(NamedTuple):
    """Leader epoch ``epoch`` began at ``start_offset``."""

    epoch: int
    start_offset: int


class LeaderEpochCache:
    """Sorted ``(epoch, start_offset)`` entries, both strictly increasing, persisted on change."""

    def __init__(
        self, fs: Filesystem | None, path: str | None, entries: list[EpochEntry] | None = None
    ) -> None:
        self._fs = fs
        self._path = path
        self._entries: list[EpochEntry] = list(entries or [])

    @classmethod
    def load(cls, fs: Filesystem, directory: str) -> LeaderEpochCache:
        """Read ``directory/leader-epoch-checkpoint`` (empty when absent).

        Raises :class:`CorruptCheckpointError` when the file does not parse or its
        entries are not strictly increasing.
        """
        path = f"{directory}/{EPOCH_CHECKPOINT_NAME}"
        lines = read_checkpoint(fs, path)
        entries = [EpochEntry(*parse_ints(line, 2, path)) for line in lines or []]
        for before, after in itertools.pairwise(entries):
            if after.epoch <= before.epoch or after.start_offset < before.start_offset:
                raise CorruptCheckpointError(f"{path}: entries not increasing")
        return cls(fs, path, entries)

    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch, or :data:`UNDEFINED_EPOCH` when empty."""
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    def _persist(self) -> None:
        if self._fs is not None and self._path is not None:
            write_checkpoint(self._fs, self._path, [f"{e.epoch} {e.start_offset}" for e in self._entries])

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; returns whether anything changed.

        A no-op when ``epoch`` is already the latest. Entries that conflict with the new
        one (an epoch >= ``epoch`` or a start offset >= ``start_offset``) are removed first,
        as Kafka does, so the entries stay strictly increasing.
        """
        if epoch < 0:
            return False
        if self._entries and self._entries[-1].epoch == epoch:
            return False
        kept = [e for e in self._entries if e.epoch < epoch and e.start_offset < start_offset]
        kept.append(EpochEntry(epoch, start_offset))
        self._entries = kept
        self._persist()
        return True

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget every epoch that starts at or after ``end_offset`` (the log was truncated there)."""
        kept = [e for e in self._entries if e.start_offset < end_offset]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._persist()

    def truncate_from_start(self, start_offset: int) -> None:
        """Drop epochs wholly below ``start_offset``; the epoch covering it now starts there."""
        index = bisect.bisect_right([e.start_offset for e in self._entries], start_offset) - 1
        if index < 0:
            return
        covering = self._entries[index]
        kept = [
            EpochEntry(covering.epoch, max(covering.start_offset, start_offset)),
            *self._entries[index + 1 :],
        ]
        if kept != self._entries:
            self._entries = kept
            self._persist()

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> EpochEntry:
        """Kafka's ``endOffsetFor``: the largest epoch <= ``requested_epoch`` and where it ends.

        Returns ``(epoch, end_offset)``: for the latest epoch, the log end offset; for an
        older epoch, the start offset of the first later epoch; ``(UNDEFINED, UNDEFINED)``
        when ``requested_epoch`` is undefined or newer than every known epoch.
        """
        if requested_epoch == UNDEFINED_EPOCH or not self._entries:
            return EpochEntry(UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        if requested_epoch == self.latest_epoch:
            return EpochEntry(requested_epoch, log_end_offset)
        epochs = [e.epoch for e in self._entries]
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher == len(self._entries):
            return EpochEntry(UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        if higher == 0:
            return EpochEntry(requested_epoch, self._entries[0].start_offset)
        return EpochEntry(self._entries[higher - 1].epoch, self._entries[higher].start_offset)

    def replace(self, entries: list[EpochEntry]) -> None:
        """Replace every entry (used when the cache is rebuilt from the log) and persist."""
        if entries != self._entries:
            self._entries = list(entries)
            self._persist()
