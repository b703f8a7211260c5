"""Checking batches where they lie: CRC-32C over views into the page cache, without copying them.

A zero-copy fetch must not serve corrupt bytes either, but it never reads the batch into a
buffer of its own. :func:`verify_batches_in_place` walks the batches of a region given as a list
of views (one ``mmap`` view on the OS backend, one view per cached page in the simulation),
copying only each 61-byte header to parse it and feeding the rest to the CRC incrementally.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import crc32c as _crc32c

from reflog.errors import CorruptRecordError
from reflog.records._types import BATCH_HEADER_SIZE
from reflog.records._verify import CRC_FROM, parse_header


@attrs.frozen
class InPlaceCheck:
    """What :func:`verify_batches_in_place` did: batches checked, bytes the CRC read in place,
    and header bytes copied out to parse them (the only bytes it copies)."""

    batches: int
    crc_bytes: int
    header_bytes_copied: int


class _Chunks:
    """A list of views read as one byte string, by absolute position."""

    def __init__(self, views: Sequence[memoryview]) -> None:
        self.views = views
        self.starts: list[int] = []
        total = 0
        for view in views:
            self.starts.append(total)
            total += view.nbytes
        self.size = total

    def pieces(self, start: int, end: int) -> list[memoryview]:
        out = []
        for view, base in zip(self.views, self.starts, strict=True):
            lo, hi = max(start, base), min(end, base + view.nbytes)
            if lo < hi:
                out.append(view[lo - base : hi - base])
        return out


def verify_batches_in_place(views: Sequence[memoryview], first_offset: int) -> InPlaceCheck:
    """Check that ``views`` hold whole, intact batches starting at offset ``first_offset``.

    Each batch passes :func:`parse_header`, is wholly present, has a CRC-32C matching its
    stored one, and the first starts at ``first_offset``, each next one at or above where the
    previous ended (a compacted log has gaps). Raises
    :class:`CorruptRecordError` on the first failure (a short region counts as truncation).
    """
    error: str | None = None
    try:
        return _walk(_Chunks(views), first_offset)
    except CorruptRecordError as exc:
        error = str(exc)
    # Raised here, after the failed walk's frame (and every slice of ``views`` it held) is gone,
    # so the caller can unmap the region while the error propagates.
    raise CorruptRecordError(error)


def _walk(chunks: _Chunks, first_offset: int) -> InPlaceCheck:
    position = 0
    expected = first_offset
    batches = crc_bytes = header_bytes = 0
    while position < chunks.size:
        header_copy = b"".join(chunks.pieces(position, position + BATCH_HEADER_SIZE))
        header_bytes += len(header_copy)
        header = parse_header(header_copy)
        end = position + header.size
        if end > chunks.size:
            raise CorruptRecordError(
                f"batch at byte {position} is truncated: {chunks.size - position} of {header.size} bytes"
            )
        crc = 0
        for piece in chunks.pieces(position + CRC_FROM, end):
            crc = _crc32c.crc32c(piece, crc)
        if crc != header.crc:
            raise CorruptRecordError(f"batch CRC mismatch: stored {header.crc:#010x}, computed {crc:#010x}")
        if header.base_offset < expected or (batches == 0 and header.base_offset != expected):
            raise CorruptRecordError(f"batch at offset {header.base_offset} where {expected} was expected")
        crc_bytes += header.size - CRC_FROM
        batches += 1
        expected = header.next_offset
        position = end
    return InPlaceCheck(batches, crc_bytes, header_bytes)


__all__ = ["InPlaceCheck", "verify_batches_in_place"]
