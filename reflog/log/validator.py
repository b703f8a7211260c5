"""The checks a leader makes on a batch a client produced (Kafka's ``ProduceRequest.validateRecords``
and ``LogValidator``), before the producer-state checks and the append.

For one partition of a Produce request, in Kafka's order:

1. exactly one batch (Produce v3+): none, or bytes after the first batch, is
   ``INVALID_RECORD``; a malformed header or a truncated batch is ``CORRUPT_MESSAGE``;
2. ``max.message.bytes``: a batch above it is ``MESSAGE_TOO_LARGE`` (``UnifiedLog``'s
   ``RecordTooLargeException``), and a batch above ``segment.bytes`` ``RECORD_LIST_TOO_LARGE``;
3. the CRC (``CORRUPT_MESSAGE``);
4. ``LogValidator.validateBatch`` for a client's batch: ``recordsCount`` at least 1 and equal to
   ``lastOffsetDelta + 1``; no control batch ("Clients are not allowed to write control
   records"); a producer id with a negative base sequence is refused. All ``INVALID_RECORD``;
5. every record, decompressed (bounded by the codec's limit): ``CORRUPT_MESSAGE``.

Step 5 is the costly one: a compressed batch of millions of empty records is small on the wire.
:func:`client_batch_steps` therefore walks the records :data:`RECORDS_PER_STEP` at a time and
yields in between, so a caller in an event loop (the broker) can let every other task run; the
steps depend only on the batch, so a simulated run replays exactly. :func:`validate_client_batch`
runs all steps at once, for callers without an event loop.

Every failure raises a :class:`~reflog.errors.ReflogError` whose ``error_code`` is Kafka's; a
valid batch comes back as a :class:`ValidatedBatch`, which the append pipeline
(:mod:`reflog.log.append`) trusts without walking the records or computing the CRC again: the
CRC of step 3 is the only one a produced batch gets.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Final

from reflog.errors import (
    InvalidRecordError,
    MessageTooLargeError,
    RecordBatchTooLargeError,
)
from reflog.log.config import LogConfig
from reflog.records import (
    BatchHeader,
    VerifiedBatch,
    decode_batch,
    parse_header,
    validate_records_steps,
    verify_crc,
)

RECORDS_PER_STEP: Final = 8192
"""Records checked between two yields (a few milliseconds of work)."""


@dataclass(frozen=True, slots=True)
class ValidatedBatch(VerifiedBatch):
    """A client's batch (``raw``) that passed every check of this module, with its header.

    A :class:`~reflog.records.VerifiedBatch` whose records were walked too: only
    :func:`client_batch_steps` makes one.
    """


def client_batch_steps(
    records: bytes, config: LogConfig, *, records_per_step: int = RECORDS_PER_STEP
) -> Generator[int, None, ValidatedBatch]:
    """Validate one partition's ``records`` from a Produce request, yielding between steps.

    Returns (as the generator's value) the :class:`ValidatedBatch`. Raises
    :class:`MessageTooLargeError`, :class:`RecordBatchTooLargeError`,
    :class:`InvalidRecordError` or :class:`~reflog.errors.CorruptRecordError` (see the module
    docstring for which check gives which).
    """
    if not records:
        raise InvalidRecordError("a produce request must have one record batch per partition")
    header = parse_header(records)
    if len(records) > header.size:
        raise InvalidRecordError("a produce request may hold exactly one record batch per partition")
    if header.size > config.max_message_bytes:
        raise MessageTooLargeError(
            f"the record batch is {header.size} bytes, above max.message.bytes={config.max_message_bytes}"
        )
    if header.size > config.segment_bytes:
        raise RecordBatchTooLargeError(
            f"the record batch is {header.size} bytes, above segment.bytes={config.segment_bytes}"
        )
    # A corrupt batch is CORRUPT_MESSAGE before any rule below (C speed); the batch's one CRC.
    raw = bytes(records)  # no copy for bytes; a mutable buffer must not change after its check
    verified = VerifiedBatch(raw, verify_crc(raw))
    check_client_header(header)
    yield from validate_records_steps(verified, records_per_step=records_per_step)
    return ValidatedBatch(raw, verified.header)


def check_client_header(header: BatchHeader) -> None:
    """Kafka's ``LogValidator.validateBatch`` for ``AppendOrigin.CLIENT`` (header fields only).

    Raises :class:`InvalidRecordError`.
    """
    if header.records_count <= 0:
        raise InvalidRecordError(f"invalid reported count for record batch: {header.records_count}")
    if header.last_offset_delta + 1 != header.records_count:
        raise InvalidRecordError(
            f"inconsistent batch offset range [0, {header.last_offset_delta}] and count of records "
            f"{header.records_count}"
        )
    if header.is_control:
        raise InvalidRecordError("clients are not allowed to write control records")
    if header.producer_id >= 0 and header.base_sequence < 0:
        raise InvalidRecordError(
            f"invalid sequence number {header.base_sequence} in record batch with producer id "
            f"{header.producer_id}"
        )


def keyless_record_errors(batch: VerifiedBatch, where: str) -> tuple[tuple[int, str], ...]:
    """Kafka's ``LogValidator.validateKey`` for a compacted topic: each record without a key.

    The index of every keyless record of ``batch`` with Kafka's message (``where`` is the
    partition, ``topic-0``); empty when every record has a key. Raises
    :class:`~reflog.errors.CorruptRecordError` if the batch does not decode.
    """
    message = f"Compacted topic cannot accept message without key in topic partition {where}."
    return tuple((i, message) for i, r in enumerate(decode_batch(batch.raw).records) if r.key is None)


def record_errors_message(errors: tuple[tuple[int, str | None], ...]) -> str:
    """The partition's error message Kafka's ``processRecordErrors`` gives for ``errors``."""
    shown = ", ".join(
        f"RecordError(batchIndex={i}, message={'null' if m is None else repr(m)})" for i, m in errors[:3]
    )
    return (
        f"One or more records have been rejected due to {len(errors)} record errors in total, "
        f"and only showing the first three errors at most: [{shown}]"
    )


def validate_client_batch(records: bytes, config: LogConfig) -> ValidatedBatch:
    """:func:`client_batch_steps` run to the end at once (same checks, same errors)."""
    steps = client_batch_steps(records, config, records_per_step=1 << 31)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


__all__ = [
    "RECORDS_PER_STEP",
    "ValidatedBatch",
    "check_client_header",
    "client_batch_steps",
    "keyless_record_errors",
    "record_errors_message",
    "validate_client_batch",
]
