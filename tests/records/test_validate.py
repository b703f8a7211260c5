"""``validate_batch`` accepts exactly what ``decode_batch`` accepts (REC-30), in steps too (REC-31)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.errors import CorruptRecordError
from reflog.records import (
    BATCH_HEADER_SIZE,
    Compression,
    Record,
    build_batch,
    decode_batch,
    validate_batch,
    validate_batch_steps,
)
from tests.records._helpers import forge_batch, record_lists

records = record_lists.filter(bool)


def _outcome(check: object, batch: bytes) -> str:
    try:
        check(batch)  # type: ignore[operator]
    except CorruptRecordError:
        return "corrupt"
    return "valid"


@pytest.mark.req("REC-30")
@given(records, st.sampled_from([Compression.NONE, Compression.LZ4]), st.data())
def test_validate_batch_agrees_with_decode_batch_on_damaged_records(
    recs: list[Record], codec: Compression, data: st.DataObject
) -> None:
    batch = build_batch(recs, compression=codec)
    section = bytearray(batch[BATCH_HEADER_SIZE:])
    for _ in range(data.draw(st.integers(0, 4))):  # damage the records, then make the CRC right again
        at = data.draw(st.integers(0, len(section) - 1))
        section[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        section = section[: data.draw(st.integers(0, len(section)))]
    header = decode_batch(batch).header
    forged = forge_batch(
        bytes(section),
        records_count=header.records_count,
        last_offset_delta=header.last_offset_delta,
        attributes=header.attributes,
        base_timestamp=header.base_timestamp,
        max_timestamp=header.max_timestamp,
    )
    assert _outcome(validate_batch, forged) == _outcome(decode_batch, forged)


@pytest.mark.req("REC-30")
def test_validate_batch_returns_the_header_of_a_valid_batch() -> None:
    batch = build_batch([Record(key=b"k", value=b"v" * 200)] * 5)
    assert validate_batch(batch) == decode_batch(batch).header


def _stepped(batch: bytes, step: int) -> str:
    """``validate_batch_steps`` run to the end: its verdict and error message."""
    steps = validate_batch_steps(batch, records_per_step=step)
    try:
        while True:
            next(steps)
    except StopIteration:
        return "valid"
    except CorruptRecordError as exc:
        return f"corrupt: {exc}"


def _at_once(batch: bytes) -> str:
    try:
        validate_batch(batch)
    except CorruptRecordError as exc:
        return f"corrupt: {exc}"
    return "valid"


@pytest.mark.req("REC-31")
@given(records, st.integers(1, 4), st.data())
def test_validation_in_steps_agrees_with_validation_at_once(
    recs: list[Record], step: int, data: st.DataObject
) -> None:
    batch = build_batch(recs)
    damaged = bytearray(batch[BATCH_HEADER_SIZE:])
    for _ in range(data.draw(st.integers(0, 3))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    forged = forge_batch(bytes(damaged), records_count=len(recs))
    assert _stepped(forged, step) == _at_once(forged)  # same verdict, same message
    steps = validate_batch_steps(batch, records_per_step=step)
    yielded = []
    with pytest.raises(StopIteration):
        while True:
            yielded.append(next(steps))
    assert yielded == list(range(step, len(recs), step))  # after each step but the last
