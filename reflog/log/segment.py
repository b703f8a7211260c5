"""One log segment: a ``.log`` file of record batches plus its two sparse indexes.

Files are named by the segment's base offset, 20 digits zero-padded
(``00000000000000000042.log``, ``.index``, ``.timeindex``). Batches are stored exactly
as they travel on the wire; the segment never rewrites them.

The segment keeps in memory only its size, next offset, largest timestamp and the two
indexes. Finding an offset reads the floor entry of the offset index and then walks
batch headers forward from there (at most about ``index.interval.bytes`` of them),
as Kafka's ``translateOffset`` does: no scan from the start of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from reflog.errors import CorruptRecordError
from reflog.log.config import LogConfig
from reflog.log.index import OFFSET_ENTRY, CorruptIndexError, OffsetIndex, TimeIndex
from reflog.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, BatchHeader, parse_header, verify_crc
from reflog.storage import FileHandle, Filesystem

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
NO_TIMESTAMP = -1
_LAST_OFFSET = 2**62


def segment_name(base_offset: int) -> str:
    """The file stem of the segment starting at ``base_offset`` (20 digits)."""
    return f"{base_offset:020d}"


class BatchPosition(NamedTuple):
    """A batch found in a segment file: where it starts and what its header says."""

    position: int
    header: BatchHeader


class SegmentRecovery(NamedTuple):
    """What :meth:`LogSegment.recover` found: valid bytes kept, bytes cut, why it stopped."""

    valid_bytes: int
    truncated_bytes: int
    reason: str | None


class LogSegment:
    """A segment file with its indexes. Not thread-safe; owned by one :class:`reflog.log.Log`."""

    def __init__(
        self, fs: Filesystem, directory: str, base_offset: int, config: LogConfig, now: float
    ) -> None:
        self.fs = fs
        self.directory = directory
        self.base_offset = base_offset
        self.config = config
        stem = f"{directory}/{segment_name(base_offset)}"
        self.log_path = stem + LOG_SUFFIX
        self.handle: FileHandle = fs.open(self.log_path, create=True)
        self.offset_index = OffsetIndex(
            fs, stem + INDEX_SUFFIX, base_offset, config.segment_index_bytes // OFFSET_ENTRY.size
        )
        self.time_index = TimeIndex(fs, stem + TIME_INDEX_SUFFIX, base_offset)
        self.size = fs.size(self.handle)
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.created_at = now
        self._bytes_since_index_entry = 0

    # ------------------------------------------------------------------ reading headers
    def read_header(self, position: int) -> BatchHeader | None:
        """The header of the batch at ``position``, or ``None`` at the end of the segment.

        Raises :class:`CorruptRecordError` when the header is malformed or the batch
        it announces runs past the end of the file.
        """
        if position >= self.size:
            return None
        if self.size - position < BATCH_HEADER_SIZE:
            raise CorruptRecordError(f"{self.log_path}@{position}: truncated batch header")
        raw = self.fs.pread(self.handle, position, BATCH_HEADER_SIZE)
        header = parse_header(raw)
        if header.size > self.size - position:
            raise CorruptRecordError(
                f"{self.log_path}@{position}: batch of {header.size} bytes runs past the end ({self.size})"
            )
        return header

    def batches_from(self, position: int) -> Iterator[BatchPosition]:
        """Walk batch headers from ``position`` to the end. Raises :class:`CorruptRecordError`."""
        while (header := self.read_header(position)) is not None:
            yield BatchPosition(position, header)
            position += header.size

    def find(self, offset: int) -> BatchPosition | None:
        """The batch holding ``offset`` (or the first batch after it), found through the index.

        Returns ``None`` when ``offset`` is at or past the segment's end. An index entry
        that does not point at a batch ending at its offset means the index is corrupt:
        the index is rebuilt from the log and the lookup repeated.
        """
        if offset >= self.next_offset:
            return None
        entry_offset, position = self.offset_index.lookup(offset)
        header = self.read_header(position)
        if header is None or (position > 0 and header.last_offset != entry_offset):
            self.rebuild_indexes()
            entry_offset, position = self.offset_index.lookup(offset)
        for found in self.batches_from(position):
            if found.header.last_offset >= offset:
                return found
        return None

    # ------------------------------------------------------------------ writing
    def append(self, batch: bytes, header: BatchHeader, now: float) -> int:
        """Write ``batch`` (whose header is ``header``) at the end; returns its position.

        Raises :class:`reflog.errors.StorageError` if the write fails; the segment is
        then unchanged in memory.
        """
        position = self.size
        self.fs.pwrite(self.handle, position, batch)
        if self.size == 0:
            self.created_at = now
        self.size += len(batch)
        self._index_batch(position, header)
        return position

    def _index_batch(self, position: int, header: BatchHeader) -> None:
        self.max_timestamp = max(self.max_timestamp, header.max_timestamp)
        self.next_offset = header.next_offset
        # Kafka's LogSegment.append: the batch gets an entry when more than index.interval.bytes
        # were written since the last entry *before* it, then its own bytes are counted.
        if self._bytes_since_index_entry > self.config.index_interval_bytes:
            self.offset_index.append(header.last_offset, position)
            self.time_index.maybe_append(self.max_timestamp, header.last_offset)
            self._bytes_since_index_entry = 0
        self._bytes_since_index_entry += header.size

    def flush(self) -> None:
        """fsync the log file and both indexes. Raises :class:`reflog.errors.StorageError`."""
        self.fs.fsync(self.handle)
        self.offset_index.flush()
        self.time_index.flush()

    def truncate_to(self, offset: int) -> int:
        """Remove every batch at or above ``offset``; returns the number of bytes removed.

        ``offset`` must fall on a batch boundary or at the end; if it falls inside a
        batch, that whole batch is removed (as Kafka does).
        """
        found = self.find(offset)
        self._bytes_since_index_entry = 0  # Kafka's truncateTo restarts the interval, even for no cut
        if found is None:
            return 0
        return self._truncate_bytes(found.position)

    def _truncate_bytes(self, position: int) -> int:
        removed = self.size - position
        self.fs.truncate(self.handle, position)
        self.size = position
        self.offset_index.truncate_to_position(position)
        self._reload_tail_state()
        return removed

    def _reload_tail_state(self) -> None:
        """Recompute next offset and max timestamp from the last index entry to the end of the file."""
        _, position = self.offset_index.lookup(_LAST_OFFSET)
        self.next_offset = self.base_offset
        scanned_max = NO_TIMESTAMP
        self._bytes_since_index_entry = 0
        # The interval restarts from zero, as in Kafka (a segment opened or truncated starts its
        # bytesSinceLastIndexEntry at 0), whatever was written after the last entry.
        for found in self.batches_from(position):
            self.next_offset = found.header.next_offset
            scanned_max = max(scanned_max, found.header.max_timestamp)
        self.time_index.truncate_to(self.next_offset)
        indexed_max = self.time_index.last_timestamp
        self.max_timestamp = max(scanned_max, NO_TIMESTAMP if indexed_max is None else indexed_max)

    # ------------------------------------------------------------------ loading and recovery
    def load(self) -> None:
        """Open a segment written before (clean shutdown or below the recovery point).

        Checks the indexes and rebuilds them from the log if they fail; then finds the
        next offset by walking from the last index entry. Raises
        :class:`CorruptRecordError` if that walk meets a malformed batch.
        """
        try:
            self.offset_index.load(self.size)
            last_offset, position = self.offset_index.lookup(_LAST_OFFSET)
            self.time_index.load(last_offset + 1)
            if self.offset_index.entries:
                header = self.read_header(position)
                if header is None or header.last_offset != last_offset:
                    raise CorruptIndexError(f"{self.offset_index.path}: last entry does not match the log")
        except (CorruptIndexError, CorruptRecordError):
            self.rebuild_indexes()
            return
        self._reload_tail_state()

    def rebuild_indexes(self) -> None:
        """Recreate both indexes from the batch headers in the log file."""
        self.offset_index.truncate_to(self.base_offset)
        self.time_index.truncate_to(self.base_offset)
        self.next_offset = self.base_offset
        self.max_timestamp = NO_TIMESTAMP
        self._bytes_since_index_entry = 0
        for found in self.batches_from(0):
            self._index_batch(found.position, found.header)

    def recover(self, expected_base: int, on_batch: Callable[[BatchHeader], None]) -> SegmentRecovery:
        """Validate every batch and cut the file at the first invalid one (Kafka's ``LogSegment.recover``).

        A batch is valid when its header parses, it lies wholly inside the file, its
        CRC-32C matches, and its base offset is at or above the next expected offset (the
        segment's base for the first batch): offsets increase, with gaps where the log
        cleaner removed whole batches. Indexes are rebuilt on the way, and
        ``on_batch`` sees every valid header (to rebuild the leader-epoch cache). Never
        raises for bad data; raises :class:`reflog.errors.StorageError` on I/O errors.
        """
        self.offset_index.truncate_to(self.base_offset)
        self.time_index.truncate_to(self.base_offset)
        self.next_offset = self.base_offset
        self.max_timestamp = NO_TIMESTAMP
        self._bytes_since_index_entry = 0
        position = 0
        expected = expected_base
        reason: str | None = None
        while position < self.size:
            try:
                header = self.read_header(position)
                if header is None:
                    break
                verify_crc(self.fs.pread(self.handle, position, header.size))
            except CorruptRecordError as exc:
                reason = str(exc)
                break
            if header.base_offset < expected:
                reason = (
                    f"batch at {position} has base offset {header.base_offset}, expected {expected} or above"
                )
                break
            self._index_batch(position, header)
            on_batch(header)
            expected = header.next_offset
            position += header.size
        truncated = self.size - position
        if truncated:
            self.fs.truncate(self.handle, position)
            self.size = position
        return SegmentRecovery(position, truncated, reason)

    # ------------------------------------------------------------------ reading data
    def region_for(self, offset: int, max_bytes: int, max_offset: int) -> tuple[int, int, int] | None:
        """Position, length and first offset of whole batches starting at the one holding ``offset``.

        Batches are added while the total stays within ``max_bytes``; the first is
        included even when larger (so a consumer always makes progress). Batches whose
        last offset reaches ``max_offset`` (exclusive) are left out. ``None`` when no
        batch qualifies.
        """
        start = self.find(offset)
        if start is None or start.header.base_offset >= max_offset:
            return None
        length = 0
        for found in self.batches_from(start.position):
            if found.header.last_offset >= max_offset:
                break
            if length and length + found.header.size > max_bytes:
                break
            length += found.header.size
        if length == 0:
            return None
        return start.position, length, start.header.base_offset

    def close(self) -> None:
        self.fs.close(self.handle)
        self.offset_index.close()
        self.time_index.close()

    def delete_files(self) -> None:
        """Close and remove the segment's three files (durable after the directory's fsync)."""
        self.close()
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            if self.fs.exists(path):
                self.fs.delete(path)

    @property
    def is_empty(self) -> bool:
        return self.size == 0

    def __repr__(self) -> str:
        return f"LogSegment(base={self.base_offset}, next={self.next_offset}, size={self.size})"


__all__ = ["LOG_OVERHEAD", "BatchPosition", "LogSegment", "SegmentRecovery", "segment_name"]
