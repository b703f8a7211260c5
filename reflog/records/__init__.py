"""Kafka's record batch format v2 ("magic 2"), exactly: build, parse, verify and decode.

A record batch is Kafka's unit of storage and transfer: a 61-byte header (offsets,
length, leader epoch, magic, CRC-32C, attributes, timestamps, producer state, record
count) followed by the records, compressed as a whole with gzip, snappy, lz4 or zstd.
The bytes on disk are the bytes on the wire, so this one codec serves the log, the
replication path and the tests.

* :func:`build_batch` encodes records as Kafka's producer would.
* :func:`parse_header` reads and structurally checks only the header (cheap; no CRC).
* :func:`verify_crc` adds "the whole batch is present and its CRC-32C matches";
  :func:`verified_batches` splits a buffer into :class:`VerifiedBatch` es, one CRC each.
* :func:`verify_batches_in_place` checks a region's batches through views into the page
  cache, copying only their headers (the zero-copy fetch path).
* :func:`validate_batch` makes every check of :func:`decode_batch` without building records;
  :func:`validate_batch_steps` does it a fixed number of records at a time;
  :func:`validate_records` / :func:`validate_records_steps` do it on a :class:`VerifiedBatch`
  without computing its CRC again.
* :func:`decode_batch` validates everything and returns the records; it raises
  :class:`~reflog.errors.CorruptRecordError` for any malformed input and nothing else,
  and bounds decompression by ``max_uncompressed_bytes``.
* :func:`rebuild_batch` rewrites a stored batch keeping only some records (the log cleaner).
* :func:`stamp_batch` sets the two fields the leader assigns, which lie outside the CRC, on a
  :class:`VerifiedBatch` in one copy; :func:`with_base_offset` /
  :func:`with_partition_leader_epoch` patch one of them on raw bytes.

The append pipeline (:mod:`reflog.log.append`) is built from these: split and check each CRC
once, walk the records (a leader), stamp (a leader), write.

What the codec promises is specified by the ``REC-*`` requirements in ``specs/``.
"""

from __future__ import annotations

from reflog.records._crc import crc32c
from reflog.records._decode import (
    DEFAULT_MAX_UNCOMPRESSED_BYTES,
    decode_batch,
    validate_batch,
    validate_batch_steps,
    validate_records,
    validate_records_steps,
)
from reflog.records._encode import build_batch
from reflog.records._in_place import InPlaceCheck, verify_batches_in_place
from reflog.records._rebuild import rebuild_batch
from reflog.records._stamp import stamp_batch, with_base_offset, with_partition_leader_epoch
from reflog.records._types import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    NO_TIMESTAMP,
    BatchHeader,
    Compression,
    Header,
    Record,
    RecordBatch,
    TimestampType,
    VerifiedBatch,
)
from reflog.records._verify import parse_header, verified_batches, verify_crc

__all__ = [
    "BATCH_HEADER_SIZE",
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "LOG_OVERHEAD",
    "MAGIC_V2",
    "NO_TIMESTAMP",
    "BatchHeader",
    "Compression",
    "Header",
    "InPlaceCheck",
    "Record",
    "RecordBatch",
    "TimestampType",
    "VerifiedBatch",
    "build_batch",
    "crc32c",
    "decode_batch",
    "parse_header",
    "rebuild_batch",
    "validate_batch",
    "stamp_batch",
    "validate_batch_steps",
    "validate_records",
    "validate_records_steps",
    "verify_batches_in_place",
    "verified_batches",
    "verify_crc",
    "with_base_offset",
    "with_partition_leader_epoch",
]
