"""What a leader changes in a client's batch before it appends it: Kafka's ``LogValidator`` for
``compression.type`` and ``message.timestamp.type`` (LOG-29).

:func:`leader_rewrite` takes a :class:`~reflog.log.validator.ValidatedBatch` and the topic's
:class:`~reflog.log.config.LogConfig` and returns the batch to append and the append time the
Produce response reports (``log_append_time_ms``, -1 for ``CreateTime``):

* ``compression.type`` ``producer`` keeps the producer's codec; any other value (a codec, or
  ``uncompressed``) that differs from the batch's makes the leader decompress the records and
  build the batch again with that codec, keeping every record (key, value, headers, timestamp,
  order), the producer id, epoch and base sequence and the transactional bit (Kafka's
  ``buildRecordsAndAssignOffsets``). The new batch may be larger than the old: the append path
  checks it against ``max.message.bytes`` again (``MESSAGE_TOO_LARGE``, as Kafka's
  ``RecordTooLargeException`` after recompression).
* ``message.timestamp.type`` ``LogAppendTime`` stamps ``now_ms`` as the batch's max timestamp
  and sets the timestamp-type attribute bit; the CRC-32C (which covers both) is computed again.
  Without recompression this is done in place on a copy of the bytes, as Kafka's
  ``setMaxTimestamp``; a reader then sees ``now_ms`` as every record's timestamp.

Anything else returns the batch unchanged (no copy). The input was fully validated, so the only
failure is :class:`~reflog.errors.CorruptRecordError` from a decoder limit on recompression.
"""

from __future__ import annotations

import struct
from typing import Final

from reflog.log.config import LogConfig
from reflog.log.validator import ValidatedBatch
from reflog.records import (
    Compression,
    TimestampType,
    build_batch,
    crc32c,
    decode_batch,
    parse_header,
)
from reflog.records._verify import CRC_AT

CODECS: Final = {
    "uncompressed": Compression.NONE,
    "gzip": Compression.GZIP,
    "snappy": Compression.SNAPPY,
    "lz4": Compression.LZ4,
    "zstd": Compression.ZSTD,
}
"""``compression.type`` values that name a codec (``producer`` names none)."""
_ATTRIBUTES_AT: Final = CRC_AT + 4
_MAX_TIMESTAMP_AT: Final = _ATTRIBUTES_AT + 2 + 4 + 8
_TIMESTAMP_TYPE_BIT: Final = 0x08
NO_APPEND_TIME: Final = -1


def target_codec(config: LogConfig, produced: Compression) -> Compression:
    """The codec the log stores a batch produced with ``produced`` in."""
    return CODECS.get(config.compression_type, produced)


def leader_rewrite(batch: ValidatedBatch, config: LogConfig, now_ms: int) -> tuple[ValidatedBatch, int]:
    """The batch to append and its ``log_append_time_ms`` (see the module docstring)."""
    header = batch.header
    append_time = config.message_timestamp_type == "LogAppendTime"
    codec = target_codec(config, header.compression)
    if codec != header.compression:
        decoded = decode_batch(batch.raw)
        raw = build_batch(
            decoded.records,
            compression=codec,
            timestamp=now_ms if append_time else header.max_timestamp,
            timestamp_type=TimestampType.LOG_APPEND_TIME if append_time else TimestampType.CREATE_TIME,
            producer_id=header.producer_id,
            producer_epoch=header.producer_epoch,
            base_sequence=header.base_sequence,
            is_transactional=header.is_transactional,
        )
        return ValidatedBatch(raw, parse_header(raw)), now_ms if append_time else NO_APPEND_TIME
    if not append_time:
        return batch, NO_APPEND_TIME
    out = bytearray(batch.raw)
    attributes = struct.unpack_from(">h", out, _ATTRIBUTES_AT)[0] | _TIMESTAMP_TYPE_BIT
    struct.pack_into(">h", out, _ATTRIBUTES_AT, attributes)
    struct.pack_into(">q", out, _MAX_TIMESTAMP_AT, now_ms)
    struct.pack_into(">I", out, CRC_AT, crc32c(bytes(out[_ATTRIBUTES_AT:])))
    raw = bytes(out)
    return ValidatedBatch(raw, parse_header(raw)), now_ms


__all__ = ["CODECS", "NO_APPEND_TIME", "leader_rewrite", "target_codec"]
