"""What a read of the log returns, and the check that its bytes are not corrupt.

:meth:`reflog.log.Log.read` answers with a :class:`FetchData` naming a :class:`FileRegion` of
a segment file. Unless told not to, it verifies the region first, so corrupt bytes on disk are
never served: by reading it and checking every batch's CRC and offsets (:func:`verified_records`),
or through views into the page cache without copying it (:func:`verified_in_place`, the
zero-copy fetch). Both raise :class:`~reflog.errors.CorruptRecordError` for a bad batch or a
short read, and :class:`~reflog.errors.StorageError` on an I/O error. :func:`find_by_timestamp`
is the segment search behind :meth:`reflog.log.Log.offset_for_timestamp`. :class:`LogReads` is the
read half of the Log (its base class): ``read``, ``offset_for_timestamp``, ``iter_batches``.
"""

from __future__ import annotations

import abc
import bisect
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import attrs

from reflog.errors import CorruptRecordError, LogOfflineError, OffsetOutOfRangeError, StorageError
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


class LogReads(abc.ABC):
    """The read half of :class:`reflog.log.Log`: fetches, lookups by timestamp, batch iteration.

    A base class of the Log, which provides the segments and the state below; every method
    raises :class:`LogOfflineError` when the log is (or goes, on an I/O error) offline.
    """

    directory: str
    _segments: list[LogSegment]
    _bases: list[int]

    @property
    @abc.abstractmethod
    def log_start_offset(self) -> int: ...

    @property
    @abc.abstractmethod
    def log_end_offset(self) -> int: ...

    @abc.abstractmethod
    def _check_usable(self) -> None: ...

    @abc.abstractmethod
    def _go_offline(self, exc: StorageError) -> LogOfflineError: ...

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
        try:
            return read_segments(
                self._segments,
                self._bases,
                fetch_offset,
                max_bytes,
                upper=upper,
                empty=empty,
                verify=verify,
                in_place=in_place,
                directory=self.directory,
            )
        except StorageError as exc:
            raise self._go_offline(exc) from exc

    def read_records(self, fetch_offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """The verified bytes of :meth:`read` (``b""`` when there is nothing to return)."""
        return self.read(fetch_offset, max_bytes, max_offset=max_offset).records or b""

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
            return find_by_timestamp(self._segments, timestamp, upper)
        except StorageError as exc:
            raise self._go_offline(exc) from exc

    def batch_headers(self) -> Iterator[BatchHeader]:
        """The header of every batch, oldest first, read from the segment files (no CRC check)."""
        for segment in self._segments:
            for found in segment.batches_from(0):
                yield found.header

    def iter_batches(self, start_offset: int | None = None) -> Iterator[bytes]:
        """Every verified batch from ``start_offset`` (default: the log start) to the end.

        :meth:`read` checked each batch's CRC, so the batches are split by their headers alone.
        """
        offset = self.log_start_offset if start_offset is None else start_offset
        while offset < self.log_end_offset:
            fetched = self.read(offset, 1 << 20)
            if fetched.records is None:
                return
            for header, batch in split_batches(fetched.records):
                yield batch
                offset = header.next_offset


__all__ = [
    "FetchData",
    "FileRegion",
    "LogReads",
    "TimestampAndOffset",
    "find_by_timestamp",
    "read_segments",
    "split_batches",
    "verified_in_place",
    "verified_records",
]
