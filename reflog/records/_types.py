"""The value types of the record codec: enums, constants and frozen dataclasses.

Nothing here parses or validates bytes; :mod:`reflog.records._verify` and
:mod:`reflog.records._decode` do. The dataclasses are plain, immutable values so that tests
can compare them with ``==``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Bytes of the v2 batch header, from ``baseOffset`` through ``recordsCount``.
BATCH_HEADER_SIZE = 61
#: Bytes before a batch's ``batchLength`` counts: ``baseOffset`` (8) + ``batchLength`` (4).
LOG_OVERHEAD = 12
#: The only batch format ("magic") reflog reads and writes.
MAGIC_V2 = 2
#: Kafka's ``RecordBatch.NO_TIMESTAMP``: the base timestamp of an empty batch.
NO_TIMESTAMP = -1

INT8_MIN, INT8_MAX = -(2**7), 2**7 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Attribute bits of the batch header (Kafka's DefaultRecordBatch masks).
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40
#: Every attribute bit Kafka defines; the others (7..15) must be zero.
KNOWN_ATTRIBUTE_BITS = 0x7F


class Compression(enum.IntEnum):
    """The codec of a batch's records section (attribute bits 0-2)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class TimestampType(enum.IntEnum):
    """What a batch's timestamps mean (attribute bit 3)."""

    #: Each record carries the producer's timestamp (base timestamp + delta).
    CREATE_TIME = 0
    #: Every record's timestamp is the broker's append time, held in ``maxTimestamp``.
    LOG_APPEND_TIME = 1


@dataclass(frozen=True, slots=True)
class Header:
    """One record header: a UTF-8 string key and a nullable byte value."""

    key: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Record:
    """One record.

    ``timestamp`` is in milliseconds. When building, ``None`` means "use the batch's
    default timestamp"; a decoded record always has it set (for ``LOG_APPEND_TIME``
    batches it is the batch's append time). ``offset`` is the absolute offset; decoding
    sets it, building ignores it (records get consecutive offset deltas 0, 1, 2, ...).
    """

    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The 61-byte header of a v2 record batch, field by field as on the wire."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def compression(self) -> Compression:
        """The codec of the records section (bits 0-2 of ``attributes``).

        Raises ``ValueError`` for the undefined ids 5-7, which :func:`parse_header`
        never lets through.
        """
        return Compression(self.attributes & COMPRESSION_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        """``CREATE_TIME`` or ``LOG_APPEND_TIME`` (bit 3)."""
        if self.attributes & TIMESTAMP_TYPE_MASK:
            return TimestampType.LOG_APPEND_TIME
        return TimestampType.CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        """Whether the batch belongs to a transaction (bit 4)."""
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        """Whether the batch holds control records such as transaction markers (bit 5)."""
        return bool(self.attributes & CONTROL_MASK)

    @property
    def delete_horizon_ms(self) -> int | None:
        """The compaction delete horizon when bit 6 is set (it lives in ``base_timestamp``), else ``None``."""
        if self.attributes & DELETE_HORIZON_MASK:
            return self.base_timestamp
        return None

    @property
    def last_offset(self) -> int:
        """Offset of the batch's last offset slot: ``base_offset + last_offset_delta``."""
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        """The offset that follows this batch: ``last_offset + 1``."""
        return self.last_offset + 1

    @property
    def size(self) -> int:
        """Total bytes of the batch: ``batch_length + LOG_OVERHEAD``."""
        return self.batch_length + LOG_OVERHEAD


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """A fully decoded and validated batch: its header and its records in order."""

    header: BatchHeader
    records: tuple[Record, ...]


@dataclass(frozen=True, slots=True)
class VerifiedBatch:
    """One batch's bytes with its header, the header parsed and the CRC-32C checked, once.

    :func:`~reflog.records.verified_batches` makes them; the append pipeline passes them on so
    that no later step checks the same bytes again. ``raw`` is immutable ``bytes``, so the check
    stays true; :func:`~reflog.records.stamp_batch` keeps it true (it changes only fields outside
    the CRC). Constructing one by hand asserts that the check was made.
    """

    raw: bytes
    header: BatchHeader
