"""Round trips through every codec, and each codec's framing on the wire."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import zlib

import cramjam
import lz4.frame  # type: ignore[import-untyped]
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from reflog.errors import CorruptRecordError
from reflog.records import (
    BATCH_HEADER_SIZE,
    Compression,
    Record,
    TimestampType,
    build_batch,
    decode_batch,
)
from tests.records._helpers import batch_options, forge_batch, raw_record, record_lists, sample_records

# -- round trips ---------------------------------------------------------------------------------


def _expected(records: list[Record], options: dict[str, object]) -> tuple[Record, ...]:
    default = options["timestamp"]
    log_append = options["timestamp_type"] is TimestampType.LOG_APPEND_TIME
    base = options["base_offset"]
    assert isinstance(default, int)
    assert isinstance(base, int)
    return tuple(
        Record(
            r.key,
            r.value,
            r.headers,
            timestamp=default if log_append or r.timestamp is None else r.timestamp,
            offset=base + i,
        )
        for i, r in enumerate(records)
    )


@pytest.mark.req("REC-5", "REC-8", "REC-9")
@pytest.mark.parametrize("codec", list(Compression))
@given(records=record_lists, options=batch_options)
def test_round_trip(codec: Compression, records: list[Record], options: dict[str, object]) -> None:
    options = {**options, "compression": codec}
    raw = build_batch(records, **options)  # type: ignore[arg-type]
    batch = decode_batch(raw)
    header = batch.header
    assert batch.records == _expected(records, options)
    assert header.compression is (codec if records else Compression.NONE)
    assert header.timestamp_type is options["timestamp_type"]
    assert header.is_transactional is options["is_transactional"]
    assert not header.is_control
    assert header.base_offset == options["base_offset"]
    assert header.partition_leader_epoch == options["partition_leader_epoch"]
    assert header.producer_id == options["producer_id"]
    assert header.producer_epoch == options["producer_epoch"]
    assert header.base_sequence == options["base_sequence"]
    assert header.records_count == len(records)
    assert header.size == len(raw)
    # Building is deterministic.
    assert build_batch(records, **options) == raw  # type: ignore[arg-type]


@pytest.mark.req("REC-9")
@pytest.mark.parametrize("codec", list(Compression))
def test_round_trip_large_batch(codec: Compression) -> None:
    # Several compression blocks (32 KiB snappy, 64 KiB lz4) and incompressible stretches.
    rng_bytes = os.urandom(150_000)
    records = [Record(b"key-%d" % i, rng_bytes[i * 1000 : (i + 1) * 1000] * (1 + i % 3)) for i in range(150)]
    raw = build_batch(records, compression=codec, timestamp=1)
    assert [(r.key, r.value) for r in decode_batch(raw).records] == [(r.key, r.value) for r in records]


# -- framing -------------------------------------------------------------------------------------


def _section(codec: Compression, n: int = 3) -> tuple[bytes, bytes]:
    """(compressed records section of a built batch, the same section built uncompressed)."""
    records = sample_records(n)
    compressed = build_batch(records, compression=codec)[BATCH_HEADER_SIZE:]
    plain = build_batch(records)[BATCH_HEADER_SIZE:]
    return compressed, plain


def _recompress(codec: Compression, section: bytes, n: int = 3) -> bytes:
    """A batch of ``sample_records(n)`` whose records section is ``section``."""
    return forge_batch(
        section, records_count=n, attributes=int(codec), base_timestamp=1000, max_timestamp=1007
    )


@pytest.mark.req("REC-17")
def test_gzip_framing() -> None:
    section, plain = _section(Compression.GZIP)
    assert section[:3] == b"\x1f\x8b\x08"
    assert gzip.decompress(section) == plain
    # Two gzip members are one stream (Java's GZIPInputStream reads on across members).
    half = len(plain) // 2
    two_members = gzip.compress(plain[:half]) + gzip.compress(plain[half:])
    assert len(decode_batch(_recompress(Compression.GZIP, two_members)).records) == 3
    # Other encoders' output reads too (zlib at level 9, with a file name in the header).
    named = gzip.compress(plain, compresslevel=9, mtime=123)
    assert len(decode_batch(_recompress(Compression.GZIP, named)).records) == 3
    raw_deflate = zlib.compress(plain)
    with pytest.raises(CorruptRecordError):
        decode_batch(_recompress(Compression.GZIP, raw_deflate))


@pytest.mark.req("REC-18")
def test_snappy_xerial_framing() -> None:
    records = [Record(b"k", os.urandom(20_000) * 2) for _ in range(3)]  # 120 KB: 4 blocks
    section = build_batch(records, compression=Compression.SNAPPY)[BATCH_HEADER_SIZE:]
    plain = build_batch(records)[BATCH_HEADER_SIZE:]
    assert section[:16] == b"\x82SNAPPY\x00" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x01"
    pos, blocks = 16, []
    while pos < len(section):
        length = int.from_bytes(section[pos : pos + 4], "big")
        blocks.append(bytes(cramjam.snappy.decompress_raw(section[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    assert pos == len(section)
    assert [len(b) for b in blocks[:-1]] == [32 * 1024] * (len(blocks) - 1)
    assert b"".join(blocks) == plain


@pytest.mark.req("REC-18")
def test_snappy_reads_raw_and_xerial_like_snappy_java() -> None:
    _, plain = _section(Compression.SNAPPY)
    raw_snappy = bytes(cramjam.snappy.compress_raw(plain))
    assert len(decode_batch(_recompress(Compression.SNAPPY, raw_snappy)).records) == 3
    # Blocks of any size, version > 1, and any compatible-version field are accepted.
    xerial = b"\x82SNAPPY\x00" + (2).to_bytes(4, "big") + (7).to_bytes(4, "big")
    for start in range(0, len(plain), 10):
        block = bytes(cramjam.snappy.compress_raw(plain[start : start + 10]))
        xerial += len(block).to_bytes(4, "big") + block
    assert len(decode_batch(_recompress(Compression.SNAPPY, xerial)).records) == 3
    # Refused: version 0, zero or negative or overlong block lengths, a cut block length.
    for bad in (
        b"\x82SNAPPY\x00" + bytes(8) + xerial[16:],
        xerial + bytes(4),
        xerial + b"\xff\xff\xff\xff",
        xerial + b"\x00\x00\x01\x00" + b"\x05",
        xerial + b"\x00\x00",
        b"",
    ):
        with pytest.raises(CorruptRecordError):
            decode_batch(_recompress(Compression.SNAPPY, bad))


LZ4_KAFKA_HEADER = bytes.fromhex("04224d18604082")


@pytest.mark.req("REC-19")
def test_lz4_kafka_framing() -> None:
    incompressible = os.urandom(70_000)
    records = [Record(b"k", b"abc" * 30_000), Record(b"r", incompressible)]
    section = build_batch(records, compression=Compression.LZ4)[BATCH_HEADER_SIZE:]
    plain = build_batch(records)[BATCH_HEADER_SIZE:]
    # Same descriptor as lz4's reference encoder with Kafka's options.
    reference = lz4.frame.compress(
        b"",
        block_size=lz4.frame.BLOCKSIZE_MAX64KB,
        block_linked=False,
        content_checksum=False,
        store_size=False,
    )
    assert reference[:7] == LZ4_KAFKA_HEADER
    assert section[:7] == LZ4_KAFKA_HEADER
    assert section[-4:] == bytes(4)
    pos, sizes, stored = 7, [], []
    while True:
        word = int.from_bytes(section[pos : pos + 4], "little")
        pos += 4
        if word == 0:
            break
        sizes.append(word & 0x7FFFFFFF)
        stored.append(bool(word & 0x80000000))
        pos += word & 0x7FFFFFFF
    assert pos == len(section)
    assert any(stored)  # the random part went into uncompressed blocks
    assert not all(stored)
    assert lz4.frame.decompress(section) == plain


@pytest.mark.req("REC-19")
def test_lz4_reads_what_kafka_reads() -> None:
    _, plain = _section(Compression.LZ4)
    accepted = [
        lz4.frame.compress(plain, block_linked=False),  # kafka-python's choice: content size stored
        lz4.frame.compress(plain, block_linked=False, block_checksum=True, content_checksum=True),
        lz4.frame.compress(plain, block_linked=False, block_size=lz4.frame.BLOCKSIZE_MAX4MB),
        lz4.frame.compress(plain, block_linked=False, block_size=lz4.frame.BLOCKSIZE_MAX256KB),
    ]
    for section in accepted:
        assert len(decode_batch(_recompress(Compression.LZ4, section)).records) == 3
    good = lz4.frame.compress(plain, block_linked=False, content_checksum=False, store_size=False)
    big_records = [Record(b"k", b"abc" * 50_000)]
    big = build_batch(big_records)[BATCH_HEADER_SIZE:]
    linked = lz4.frame.compress(big, block_linked=True, block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    assert not linked[4] & 0x20  # dependent blocks
    with pytest.raises(CorruptRecordError, match="dependent"):
        decode_batch(forge_batch(linked, records_count=1, attributes=int(Compression.LZ4)))
    independent = lz4.frame.compress(big, block_linked=False, block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    assert (
        decode_batch(forge_batch(independent, records_count=1, attributes=3)).records[0].value
        == b"abc" * 50_000
    )
    refused = [
        good[:4] + bytes([good[4] | 0x01]) + good[5:],  # dictionary id bit
        good[:4] + bytes([good[4] | 0x02]) + good[5:],  # reserved bit
        good[:4] + bytes([(good[4] & 0x3F) | 0x80]) + good[5:],  # version 2
        good[:5] + b"\x30" + good[6:],  # block size code 3
        good[:5] + b"\x41" + good[6:],  # BD reserved bits
        good[:6] + bytes([good[6] ^ 0xFF]) + good[7:],  # header checksum
        b"\x05\x22\x4d\x18" + good[4:],  # magic
        good[:-4],  # no end mark
        good + b"\x00",  # trailing byte
        good[:5],
    ]
    for section in refused:
        with pytest.raises(CorruptRecordError):
            decode_batch(_recompress(Compression.LZ4, section))


@pytest.mark.req("REC-20")
def test_zstd_framing() -> None:
    section, plain = _section(Compression.ZSTD)
    assert section[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.ZstdDecompressor().decompress(section) == plain
    params = zstandard.get_frame_parameters(section)
    assert params.content_size == len(plain)
    # Frames from a streaming encoder (no content size, as zstd-jni writes) and two frames in a row.
    streamed = zstandard.ZstdCompressor(level=3, write_content_size=False).compressobj()
    no_size = streamed.compress(plain) + streamed.flush()
    assert len(decode_batch(_recompress(Compression.ZSTD, no_size)).records) == 3
    half = len(plain) // 2
    two = bytes(cramjam.zstd.compress(plain[:half])) + bytes(cramjam.zstd.compress(plain[half:]))
    assert len(decode_batch(_recompress(Compression.ZSTD, two)).records) == 3


@pytest.mark.req("REC-23")
@pytest.mark.parametrize("codec", [c for c in Compression if c is not Compression.NONE])
def test_codec_failures_and_trailing_bytes_are_corrupt(codec: Compression) -> None:
    section, _ = _section(codec)
    for bad in (
        section + b"\x00",
        section + b"junk",
        section[:-1],
        section[: len(section) // 2],
        b"",
        b"\x00" * 40,
    ):
        with pytest.raises(CorruptRecordError):
            decode_batch(_recompress(codec, bad))
    # A valid stream of something that is not records.
    with pytest.raises(CorruptRecordError):
        decode_batch(_recompress(codec, build_batch([Record(None, b"x" * 100)], compression=codec)[61:]))


@pytest.mark.req("REC-23")
@pytest.mark.parametrize("codec", [c for c in Compression if c is not Compression.NONE])
def test_compressed_section_of_an_empty_batch_must_be_empty(codec: Compression) -> None:
    one_record_stream = build_batch([Record(b"k", b"v")], compression=codec)[61:]
    assert decode_batch(_recompress(codec, one_record_stream, 1)).records[0].key == b"k"
    with pytest.raises(CorruptRecordError):
        decode_batch(forge_batch(one_record_stream, records_count=0, attributes=int(codec)))
    one = raw_record()
    with pytest.raises(CorruptRecordError):
        decode_batch(forge_batch(one, records_count=0))


@pytest.mark.req("REC-21")
def test_codecs_need_only_cramjam() -> None:
    script = textwrap.dedent(
        """
        import sys
        import importlib.abc

        BLOCKED = {"lz4", "zstandard", "snappy", "kafka", "zlib", "gzip"}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is blocked")
                return None

        for name in list(sys.modules):
            if name.split(".")[0] in BLOCKED:
                del sys.modules[name]
        sys.meta_path.insert(0, Block())
        from reflog.records import Compression, Record, build_batch, decode_batch

        for codec in Compression:
            raw = build_batch([Record(b"k", b"v" * 1000)], compression=codec)
            assert decode_batch(raw).records[0].value == b"v" * 1000
        assert not BLOCKED & {name.split(".")[0] for name in sys.modules}
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.req("REC-9")
@given(st.binary(max_size=3000), st.sampled_from([c for c in Compression if c is not Compression.NONE]))
def test_values_of_any_bytes_survive_compression(value: bytes, codec: Compression) -> None:
    raw = build_batch([Record(value, value)], compression=codec)
    assert decode_batch(raw).records[0].value == value
