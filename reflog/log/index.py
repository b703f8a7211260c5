"""Sparse offset and time indexes of a segment (Kafka's ``.index`` and ``.timeindex``).

An offset-index entry maps the last offset of a batch (relative to the segment's base
offset, int32) to the byte position where the batch starts (int32): 8 bytes, big-endian.
A time-index entry maps a timestamp (int64, ms) to the relative offset of the batch that
holds it (int32): 12 bytes. Entries are added every ``index.interval.bytes`` of log and
are strictly increasing in both columns.

Indexes are derived data. Kafka preallocates and mmaps them; reflog appends entries
with ``pwrite`` through the storage seam (a listed deviation). Loading checks the file
(:class:`CorruptIndexError` when the size is not a whole number of entries, entries are
not increasing, or point outside the log); the segment then rebuilds it from the log.
"""

from __future__ import annotations

import bisect
import struct

from reflog.errors import ReflogError
from reflog.storage import FileHandle, Filesystem

OFFSET_ENTRY = struct.Struct(">ii")
TIME_ENTRY = struct.Struct(">qi")


class CorruptIndexError(ReflogError):
    """An index file fails its sanity check and must be rebuilt from the log."""


class OffsetIndex:
    """Offset -> file position, sparse; lookups find the floor entry by binary search."""

    def __init__(self, fs: Filesystem, path: str, base_offset: int, max_entries: int) -> None:
        self.fs = fs
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_entries)
        self._handle: FileHandle = fs.open(path, create=True)
        self._offsets: list[int] = []
        self._positions: list[int] = []
        self._dirty = False

    def load(self, log_size: int) -> None:
        """Read and check the entries on file.

        Raises :class:`CorruptIndexError` when the file fails the sanity check.
        """
        raw = self.fs.pread(self._handle, 0, self.fs.size(self._handle))
        if len(raw) % OFFSET_ENTRY.size:
            raise CorruptIndexError(f"{self.path}: size {len(raw)} is not a multiple of {OFFSET_ENTRY.size}")
        offsets: list[int] = []
        positions: list[int] = []
        for relative, position in OFFSET_ENTRY.iter_unpack(raw):
            offset = self.base_offset + relative
            if relative < 0 or position < 0 or position >= max(log_size, 1):
                raise CorruptIndexError(f"{self.path}: entry ({offset}, {position}) outside the segment")
            if offsets and (offset <= offsets[-1] or position <= positions[-1]):
                raise CorruptIndexError(f"{self.path}: entries not increasing at offset {offset}")
            offsets.append(offset)
            positions.append(position)
        self._offsets, self._positions = offsets, positions

    @property
    def entries(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    def append(self, offset: int, position: int) -> None:
        """Add an entry; ``offset`` and ``position`` must exceed the last entry's."""
        if self._offsets and (offset <= self._offsets[-1] or position <= self._positions[-1]):
            raise CorruptIndexError(f"{self.path}: non-increasing index append ({offset}, {position})")
        self.fs.pwrite(
            self._handle,
            len(self._offsets) * OFFSET_ENTRY.size,
            OFFSET_ENTRY.pack(offset - self.base_offset, position),
        )
        self._offsets.append(offset)
        self._positions.append(position)
        self._dirty = True

    def lookup(self, target: int) -> tuple[int, int]:
        """The entry with the largest offset <= ``target``, or ``(base_offset, 0)``."""
        i = bisect.bisect_right(self._offsets, target) - 1
        if i < 0:
            return self.base_offset, 0
        return self._offsets[i], self._positions[i]

    def truncate_to(self, offset: int) -> None:
        """Drop entries whose offset is >= ``offset``."""
        keep = bisect.bisect_left(self._offsets, offset)
        del self._offsets[keep:]
        del self._positions[keep:]
        self.fs.truncate(self._handle, keep * OFFSET_ENTRY.size)
        self._dirty = True

    def truncate_to_position(self, position: int) -> None:
        """Drop entries pointing at or beyond byte ``position`` of the log."""
        keep = bisect.bisect_left(self._positions, position)
        del self._offsets[keep:]
        del self._positions[keep:]
        self.fs.truncate(self._handle, keep * OFFSET_ENTRY.size)
        self._dirty = True

    def flush(self) -> None:
        """fsync the index file if it changed since its last flush (an unchanged index costs nothing)."""
        if self._dirty:
            self.fs.fsync(self._handle)
            self._dirty = False

    def close(self) -> None:
        self.fs.close(self._handle)


class TimeIndex:
    """Timestamp -> offset, sparse; an entry is added only when the max timestamp grows."""

    def __init__(self, fs: Filesystem, path: str, base_offset: int) -> None:
        self.fs = fs
        self.path = path
        self.base_offset = base_offset
        self._handle: FileHandle = fs.open(path, create=True)
        self._timestamps: list[int] = []
        self._offsets: list[int] = []
        self._dirty = False

    def load(self, next_offset: int) -> None:
        """Read and check the entries. Raises :class:`CorruptIndexError`."""
        raw = self.fs.pread(self._handle, 0, self.fs.size(self._handle))
        if len(raw) % TIME_ENTRY.size:
            raise CorruptIndexError(f"{self.path}: size {len(raw)} is not a multiple of {TIME_ENTRY.size}")
        timestamps: list[int] = []
        offsets: list[int] = []
        for timestamp, relative in TIME_ENTRY.iter_unpack(raw):
            offset = self.base_offset + relative
            if relative < 0 or offset >= max(next_offset, self.base_offset + 1):
                raise CorruptIndexError(f"{self.path}: entry offset {offset} outside the segment")
            if timestamps and (timestamp <= timestamps[-1] or offset < offsets[-1]):
                raise CorruptIndexError(f"{self.path}: entries not increasing at timestamp {timestamp}")
            timestamps.append(timestamp)
            offsets.append(offset)
        self._timestamps, self._offsets = timestamps, offsets

    @property
    def entries(self) -> int:
        return len(self._timestamps)

    @property
    def last_timestamp(self) -> int | None:
        return self._timestamps[-1] if self._timestamps else None

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add ``(timestamp, offset)`` if ``timestamp`` is newer than the last entry."""
        if self._timestamps and timestamp <= self._timestamps[-1]:
            return
        self.fs.pwrite(
            self._handle,
            len(self._timestamps) * TIME_ENTRY.size,
            TIME_ENTRY.pack(timestamp, offset - self.base_offset),
        )
        self._timestamps.append(timestamp)
        self._offsets.append(offset)
        self._dirty = True

    def lookup(self, timestamp: int) -> int:
        """Offset to start scanning from for the first record with a timestamp >= ``timestamp``."""
        i = bisect.bisect_left(self._timestamps, timestamp) - 1
        return self.base_offset if i < 0 else self._offsets[i]

    def truncate_to(self, offset: int) -> None:
        """Drop entries whose offset is >= ``offset``."""
        keep = bisect.bisect_left(self._offsets, offset)
        del self._timestamps[keep:]
        del self._offsets[keep:]
        self.fs.truncate(self._handle, keep * TIME_ENTRY.size)
        self._dirty = True

    def flush(self) -> None:
        """fsync the index file if it changed since its last flush (an unchanged index costs nothing)."""
        if self._dirty:
            self.fs.fsync(self._handle)
            self._dirty = False

    def close(self) -> None:
        self.fs.close(self._handle)
