"""What a read of the log returns, and the check that its bytes are not corrupt.

:meth:`reflog.log.Log.read` answers with a :class:`FetchData` naming a :class:`FileRegion` of
a segment file. Unless told not to, it verifies the region first, so corrupt bytes on disk are
never served: by reading it and checking every batch's CRC and offsets (:func:`verified_records`),
or through views into the page cache without copying it (:func:`verified_in_place`, the
zero-copy fetch). Both raise :class:`~reflog.errors.CorruptRecordError` for a bad batch or a
short read, and :class:`~reflog.errors.StorageError` on an I/O error. :func:`find_by_timestamp`
is the segment search behind :meth:`reflog.log.Log.offset_for_timestamp`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import attrs

from reflog.errors import CorruptRecordError
from reflog.log.segment import LogSegment
from reflog.records import (
    BatchHeader,
    InPlaceCheck,
    decode_batch,
    parse_header,
    verify_batches_in_place,
    verify_crc,
)
from reflog.storage import FileHandle, Filesystem


class TimestampAndOffset(NamedTuple):
    """A record found by timestamp (Kafka's ``FileRecords.TimestampAndOffset``)."""

    timestamp: int
    offset: int
    leader_epoch: int


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


def verified_records(region: FileRegion, first_offset: int, directory: str) -> bytes:
    """The region's bytes, once each batch's CRC passed and the offsets increase from ``first_offset``.

    The first batch starts at ``first_offset``; each next one at or above where the previous one
    ended (the log cleaner leaves gaps).
    """
    data = region.read()
    if len(data) != region.length:
        raise CorruptRecordError(f"short read of {region.length} bytes in {directory}")
    position = 0
    expected = first_offset
    while position < len(data):
        header = verify_crc(data, position)
        if header.base_offset < expected or (position == 0 and header.base_offset != expected):
            raise CorruptRecordError(
                f"batch at offset {header.base_offset} where {expected} was expected in {directory}"
            )
        expected = header.next_offset
        position += header.size
    return data


def verified_in_place(region: FileRegion, first_offset: int, directory: str) -> InPlaceCheck:
    """The check of :func:`verified_records` made through views into the page cache, without a copy."""
    with region.fs.read_views(region.handle, region.position, region.length) as views:
        if sum(view.nbytes for view in views) != region.length:
            raise CorruptRecordError(f"short read of {region.length} bytes in {directory}")
        try:
            return verify_batches_in_place(views, first_offset)
        except CorruptRecordError as exc:
            raise CorruptRecordError(f"{exc} in {directory}") from exc


def find_by_timestamp(
    segments: Sequence[LogSegment], timestamp: int, upper: int
) -> TimestampAndOffset | None:
    """The first record below offset ``upper`` whose timestamp is at least ``timestamp``, or ``None``.

    The body of :meth:`reflog.log.Log.offset_for_timestamp`: the first segment whose largest
    timestamp reaches ``timestamp`` is searched through its time index, and the first batch
    whose max timestamp reaches it decoded. Raises :class:`CorruptRecordError` if that batch
    does not decode, :class:`~reflog.errors.StorageError` on an I/O error.
    """
    for segment in segments:
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
            raw = segment.fs.pread(segment.handle, found.position, header.size)
            for record in decode_batch(raw).records:
                # Decoded records always carry both (decode_batch fills them in).
                found_at, offset = record.timestamp, record.offset
                if found_at is not None and offset is not None and found_at >= timestamp:
                    if offset >= upper:
                        return None
                    return TimestampAndOffset(found_at, offset, header.partition_leader_epoch)
        return None
    return None


def read_segments(
    segments: Sequence[LogSegment],
    bases: Sequence[int],
    fetch_offset: int,
    max_bytes: int,
    *,
    upper: int,
    empty: FetchData,
    verify: bool,
    in_place: bool,
    directory: str,
) -> FetchData:
    """The body of :meth:`reflog.log.Log.read` once the offsets are checked: whole batches from the
    one holding ``fetch_offset`` below ``upper`` within ``max_bytes``, or ``empty``.

    ``bases`` are the segments' base offsets. Raises :class:`CorruptRecordError` for a bad batch
    when ``verify``, :class:`~reflog.errors.StorageError` on an I/O error.
    """
    i = bisect.bisect_right(bases, fetch_offset) - 1
    for segment in segments[i:]:
        found = segment.region_for(fetch_offset, max_bytes, upper)
        if found is None:
            if segment.next_offset > fetch_offset and not segment.is_empty:
                return empty  # the batch holding the offset reaches max_offset
            continue  # below the offset, or emptied by the cleaner
        position, length, first_offset = found
        region = FileRegion(segment.fs, segment.handle, position, length, first_offset)
        start, end = empty.log_start_offset, empty.log_end_offset
        if verify and in_place:
            check = verified_in_place(region, first_offset, directory)
            return FetchData(fetch_offset, region, None, start, end, check)
        records = verified_records(region, first_offset, directory) if verify else None
        return FetchData(fetch_offset, region, records, start, end)
    return empty


def split_batches(records: bytes) -> Iterator[tuple[BatchHeader, bytes]]:
    """Each batch of ``records`` (already CRC-checked) with its header, split by the headers alone."""
    position = 0
    while position < len(records):
        header = parse_header(records, position)
        yield header, records[position : position + header.size]
        position += header.size


__all__ = [
    "FetchData",
    "FileRegion",
    "TimestampAndOffset",
    "find_by_timestamp",
    "read_segments",
    "split_batches",
    "verified_in_place",
    "verified_records",
]
