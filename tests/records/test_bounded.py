"""Decompression is bounded by ``max_uncompressed_bytes``: bombs are refused without expanding."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import cramjam
import lz4.frame  # type: ignore[import-untyped]
import pytest
import zstandard

from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.records import BATCH_HEADER_SIZE, Compression, Record, build_batch, decode_batch
from tests.records._helpers import forge_batch, raw_record

MiB = 1 << 20
_CHUNK = bytes(MiB)


def _gzip_bomb(size: int) -> bytes:
    co = zlib.compressobj(1, zlib.DEFLATED, 31)
    return b"".join([*(co.compress(_CHUNK) for _ in range(size // MiB)), co.flush()])


def _zstd_bomb(size: int) -> bytes:
    co = zstandard.ZstdCompressor(level=1).compressobj()
    return b"".join([*(co.compress(_CHUNK) for _ in range(size // MiB)), co.flush()])


def _zstd_bomb_declared(size: int) -> bytes:
    # One-shot frames declare their content size in the header.
    return zstandard.ZstdCompressor(level=1).compress(bytes(size))


def _lz4_bomb(size: int) -> bytes:
    co = lz4.frame.LZ4FrameCompressor(block_linked=False, block_size=lz4.frame.BLOCKSIZE_MAX4MB)
    return b"".join([co.begin(), *(co.compress(_CHUNK) for _ in range(size // MiB)), co.flush()])


def _snappy_bomb(size: int) -> bytes:
    block = bytes(cramjam.snappy.compress_raw(bytes(32 * 1024)))
    framed = len(block).to_bytes(4, "big") + block
    return b"\x82SNAPPY\x00" + bytes([0, 0, 0, 1, 0, 0, 0, 1]) + framed * (size // (32 * 1024))


BOMBS: dict[Compression, Callable[[int], bytes]] = {
    Compression.GZIP: _gzip_bomb,
    Compression.SNAPPY: _snappy_bomb,
    Compression.LZ4: _lz4_bomb,
    Compression.ZSTD: _zstd_bomb,
}


def _peak_bytes_during(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        action()
    except CorruptRecordError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak - before


@pytest.mark.req("REC-22")
@pytest.mark.parametrize("codec", list(BOMBS))
def test_bomb_is_refused_without_expanding(codec: Compression) -> None:
    limit = 256 * 1024
    bomb = BOMBS[codec](16 * MiB)
    assert len(bomb) < 2 * MiB
    raw = forge_batch(bomb, records_count=1, attributes=int(codec))

    def decode() -> None:
        decode_batch(raw, max_uncompressed_bytes=limit)

    with pytest.raises(CorruptRecordError, match="max_uncompressed_bytes"):
        decode()
    # Python-side allocations stay within the limit plus bookkeeping (the output buffer is the
    # only large object; for snappy nothing is allocated at all before the refusal).
    assert _peak_bytes_during(decode) < limit + 64 * 1024


@pytest.mark.req("REC-22")
def test_lying_declared_sizes_cost_no_memory() -> None:
    limit = 256 * 1024
    # Raw snappy declaring 4 GiB in its preamble but holding two bytes.
    huge_snappy = forge_batch(b"\xff\xff\xff\xff\x0f\x00\x00", records_count=1, attributes=2)
    with pytest.raises(CorruptRecordError, match="max_uncompressed_bytes"):
        decode_batch(huge_snappy, max_uncompressed_bytes=limit)
    assert _peak_bytes_during(lambda: decode_batch(huge_snappy, max_uncompressed_bytes=limit)) < 64 * 1024
    # A zstd frame header declaring 2**60 bytes: the output buffer is capped at the limit.
    frame = bytearray(_zstd_bomb_declared(1 * MiB))
    assert frame[4] >> 6 == 2  # 4-byte content size field at offset 5 (single segment)
    frame[4] = (frame[4] & 0x3F) | 0xC0  # claim an 8-byte size field...
    frame[5:9] = (2**60).to_bytes(8, "little")  # ...and a huge size (stream now also corrupt)
    liar = forge_batch(bytes(frame), records_count=1, attributes=4)
    with pytest.raises(CorruptRecordError):
        decode_batch(liar, max_uncompressed_bytes=limit)
    assert _peak_bytes_during(lambda: decode_batch(liar, max_uncompressed_bytes=limit)) < limit + 64 * 1024


@pytest.mark.req("REC-22")
@pytest.mark.parametrize("codec", list(Compression))
def test_limit_is_exact(codec: Compression) -> None:
    records = [Record(b"k", bytes(300_000)), Record(None, b"tail")]
    raw = build_batch(records, compression=codec)
    size = len(build_batch(records)) - BATCH_HEADER_SIZE  # the uncompressed records section
    if codec is Compression.NONE:
        # Nothing to decompress: the limit does not apply.
        assert len(decode_batch(raw, max_uncompressed_bytes=0).records) == 2
        return
    assert len(decode_batch(raw, max_uncompressed_bytes=size).records) == 2
    with pytest.raises(CorruptRecordError, match="max_uncompressed_bytes"):
        decode_batch(raw, max_uncompressed_bytes=size - 1)


@pytest.mark.req("REC-22")
def test_streams_larger_than_their_declared_or_guessed_size_still_decode() -> None:
    # The output buffer starts at the declared size (or a guess) and grows up to the limit.
    section = build_batch([Record(b"k", bytes(3 * MiB))])[BATCH_HEADER_SIZE:]
    # gzip: two members; ISIZE of the last one (the hint) is tiny.
    two_members = bytes(cramjam.gzip.compress(section[:-10])) + bytes(cramjam.gzip.compress(section[-10:]))
    # lz4 in Kafka's framing declares no size; 3 MiB of zeros compresses ~250x, past the guess.
    kafka_lz4 = build_batch([Record(b"k", bytes(3 * MiB))], compression=Compression.LZ4)[BATCH_HEADER_SIZE:]
    # zstd from a streaming encoder declares no size either.
    co = zstandard.ZstdCompressor(level=3, write_content_size=False).compressobj()
    streamed_zstd = co.compress(section) + co.flush()
    for codec, payload in (
        (Compression.GZIP, two_members),
        (Compression.LZ4, kafka_lz4),
        (Compression.ZSTD, streamed_zstd),
    ):
        assert len(payload) * 20 < len(section)
        batch = decode_batch(forge_batch(payload, records_count=1, attributes=int(codec)))
        assert batch.records[0].value == bytes(3 * MiB)


@pytest.mark.req("REC-22")
def test_limit_must_be_a_non_negative_int() -> None:
    raw = forge_batch(raw_record(), records_count=1)
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ReflogUsageError):
            decode_batch(raw, max_uncompressed_bytes=bad)  # type: ignore[arg-type]


@pytest.mark.req("REC-22")
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for peak RSS")
def test_process_memory_stays_flat_under_huge_bombs(tmp_path: Path) -> None:
    # The codecs' native memory is invisible to tracemalloc, so measure the peak resident set
    # size of a fresh process decoding bombs that expand to 256 MiB - 1 GiB each, first with a
    # 1 MiB limit, then with the default 64 MiB.
    bombs = {
        "gzip": (Compression.GZIP, _gzip_bomb(256 * MiB)),
        "lz4": (Compression.LZ4, _lz4_bomb(1024 * MiB)),
        "zstd": (Compression.ZSTD, _zstd_bomb(1024 * MiB)),
        "snappy": (Compression.SNAPPY, _snappy_bomb(256 * MiB)),
    }
    for name, (codec, bomb) in bombs.items():
        (tmp_path / name).write_bytes(forge_batch(bomb, records_count=1, attributes=int(codec)))
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from reflog.errors import CorruptRecordError
        from reflog.records import decode_batch

        def peak_rss_mib():
            # VmHWM belongs to this process's address space (ru_maxrss would include the
            # parent's peak, inherited across fork and exec).
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
            raise AssertionError("no VmHWM")

        batches = [p.read_bytes() for p in sorted(Path(sys.argv[1]).iterdir())]
        before = peak_rss_mib()
        for limit in (1 << 20, 64 << 20):
            for raw in batches:
                try:
                    decode_batch(raw, max_uncompressed_bytes=limit)
                except CorruptRecordError as exc:
                    assert "max_uncompressed_bytes" in str(exc), exc
                else:
                    raise AssertionError("bomb accepted")
            if limit == 1 << 20:
                small = peak_rss_mib()
        print(small - before, peak_rss_mib() - before)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    growth_small_mib, growth_default_mib = (int(x) for x in result.stdout.split())
    # 1 MiB limit: the codecs' fixed working memory dominates (an LZ4 block is up to 4 MiB).
    assert growth_small_mib < 24, result.stdout
    # 64 MiB limit (the default): the output buffer may reach the limit, never the expansion.
    assert growth_default_mib < 64 + 32, result.stdout
