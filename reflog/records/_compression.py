"""The four record codecs with Kafka's framing, on top of ``cramjam`` only.

Writing produces what Kafka's Java producer produces:

* gzip: one RFC 1952 gzip member, deflate level 6 (Kafka's default);
* snappy: snappy-java's "xerial" stream (``SnappyOutputStream``): the 8-byte magic
  ``\\x82SNAPPY\\x00``, int32 version 1, int32 compatible-version 1, then for each 32 KiB of
  input one block of big-endian int32 length + raw snappy;
* lz4: Kafka's ``Lz4BlockOutputStream``: an LZ4 frame with FLG ``0x60`` (version 1,
  independent blocks, no checksums, no content size), BD ``0x40`` (64 KiB blocks),
  header checksum ``0x82``, each block compressed unless that does not make it smaller;
* zstd: one standard zstd frame, level 3 (Kafka's default).

Reading accepts what Kafka's Java consumer accepts for these codecs (e.g. raw snappy
without the xerial framing, LZ4 frames with block checksums or a content size), except
where the records spec lists a deliberate deviation (reflog refuses bytes after the end
of a compressed stream, which Kafka's LZ4 and gzip readers skip).

Bounded memory. :func:`decompress` never lets the decompressed output exceed ``limit``
bytes, and never allocates an output buffer larger than ``limit``:

* gzip, zstd and lz4 decode with ``cramjam.<codec>.decompress_into`` into a fixed-size
  ``bytearray``. cramjam streams into that buffer and stops with "failed to write whole
  buffer" when it is full; it does not build the whole output first. The buffer starts
  at the size the stream declares (zstd/lz4 content size, gzip ISIZE) or a multiple of the
  input, and grows fourfold on "buffer full" up to ``limit``; a stream that still does not
  fit is refused. Declared sizes are only hints: a lying header costs a retry, never memory.
  Each retry decompresses again from the start, so hostile input costs at most about
  4/3 of the work of decompressing ``limit`` bytes.
* The codec's own working memory does not depend on the declared sizes: gzip keeps a 32 KiB
  window; an LZ4 block is at most 4 MiB by the frame format; libzstd refuses frames whose
  window exceeds 2**27 bytes by default, and only touches window pages as output is produced.
* snappy's raw format declares its decompressed length up front (a varint preamble), so the
  lengths of all blocks are read and summed first and the input is refused before anything
  is allocated when the sum exceeds ``limit``; each block then decodes into its exact slot.

Every failure of a codec (``cramjam.DecompressionError``, any other exception, even a Rust
panic surfacing as ``pyo3_runtime.PanicException``) becomes :class:`CorruptRecordError`.
"""

from __future__ import annotations

from collections.abc import Callable

import cramjam

from reflog.errors import CorruptRecordError
from reflog.records._types import Compression
from reflog.records._varint import read_unsigned_varint32

__all__ = ["compress", "decompress"]

GZIP_LEVEL = 6
ZSTD_LEVEL = 3

XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER = XERIAL_MAGIC + (1).to_bytes(4, "big") + (1).to_bytes(4, "big")
XERIAL_BLOCK_SIZE = 32 * 1024

LZ4_MAGIC = 0x184D2204
#: Kafka's LZ4 frame descriptor: FLG (version 1, independent blocks), BD (64 KiB), HC.
#: HC is the second byte of xxHash32(FLG BD), a constant for this fixed descriptor.
LZ4_KAFKA_HEADER = LZ4_MAGIC.to_bytes(4, "little") + bytes([0x60, 0x40, 0x82])
LZ4_BLOCK_SIZE = 64 * 1024
LZ4_UNCOMPRESSED_BIT = 0x80000000
LZ4_END_MARK = bytes(4)

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

#: cramjam's message when a ``decompress_into`` output buffer is full (Rust's io::ErrorKind::WriteZero).
_BUFFER_FULL = "failed to write whole buffer"
_MIN_GUESS = 64 * 1024
_GUESS_RATIO = 4
_GROWTH = 4

_Into = Callable[[memoryview, bytearray], int]


def compress(codec: Compression, data: bytes) -> bytes:
    """Compress a records section ``data`` with ``codec``, framed as Kafka frames it.

    ``codec`` must not be ``NONE``. Compression of valid input does not fail.
    """
    if codec is Compression.GZIP:
        return bytes(cramjam.gzip.compress(data, level=GZIP_LEVEL))
    if codec is Compression.SNAPPY:
        return _snappy_xerial_compress(data)
    if codec is Compression.LZ4:
        return _lz4_kafka_compress(data)
    if codec is Compression.ZSTD:
        return bytes(cramjam.zstd.compress(data, level=ZSTD_LEVEL))
    raise ValueError(f"no compression for codec {codec!r}")


def decompress(codec: Compression, data: memoryview, limit: int) -> memoryview:
    """Decompress a records section ``data`` with ``codec``; at most ``limit`` bytes of output.

    Returns a view of the decompressed bytes. Raises :class:`CorruptRecordError` when the
    input is not a valid stream for the codec, has bytes after the end of the stream, or
    would decompress to more than ``limit`` bytes.
    """
    if codec is Compression.GZIP:
        return _bounded(codec, _gzip_into, data, limit, _gzip_size_hint(data))
    if codec is Compression.SNAPPY:
        return _snappy_decompress(data, limit)
    if codec is Compression.LZ4:
        return _bounded(codec, _lz4_into, data, limit, _lz4_check_descriptor(data))
    if codec is Compression.ZSTD:
        return _bounded(codec, _zstd_into, data, limit, _zstd_size_hint(data))
    raise ValueError(f"no decompression for codec {codec!r}")


# -- bounded decompression for the streaming codecs ---------------------------------------------


def _gzip_into(data: memoryview, out: bytearray) -> int:
    return int(cramjam.gzip.decompress_into(data, out))


def _lz4_into(data: memoryview, out: bytearray) -> int:
    return int(cramjam.lz4.decompress_into(data, out))


def _zstd_into(data: memoryview, out: bytearray) -> int:
    return int(cramjam.zstd.decompress_into(data, out))


def _codec_failure(codec: Compression, exc: BaseException) -> CorruptRecordError:
    return CorruptRecordError(f"{codec.name.lower()} records section does not decompress: {exc}")


def _bounded(codec: Compression, into: _Into, data: memoryview, limit: int, hint: int | None) -> memoryview:
    guess = hint if hint is not None else max(_MIN_GUESS, _GUESS_RATIO * len(data))
    size = min(limit, max(guess, 64))
    while True:
        out = bytearray(size)
        try:
            written = into(data, out)
        except Exception as exc:
            if _BUFFER_FULL not in str(exc):
                raise _codec_failure(codec, exc) from exc
            if size >= limit:
                raise CorruptRecordError(
                    f"{codec.name.lower()} records section decompresses to more than "
                    f"max_uncompressed_bytes={limit} bytes"
                ) from exc
        except BaseException as exc:
            # A panic inside the Rust extension surfaces as pyo3's PanicException, which
            # derives from BaseException; it is still just bad input. Anything else
            # (KeyboardInterrupt, SystemExit) propagates.
            if type(exc).__name__ != "PanicException":
                raise
            raise _codec_failure(codec, exc) from exc
        else:
            return memoryview(out)[:written]
        del out  # free the small buffer before allocating the larger one
        size = min(limit, size * _GROWTH)


def _gzip_size_hint(data: memoryview) -> int | None:
    # ISIZE, the last four bytes of a gzip member: the input size modulo 2**32.
    if len(data) < 18:
        return None
    return int.from_bytes(data[-4:], "little")


def _zstd_size_hint(data: memoryview) -> int | None:
    # Frame_Content_Size from the zstd frame header (RFC 8878 §3.1.1.1), when present.
    if len(data) < 5 or data[:4] != ZSTD_MAGIC:
        return None
    descriptor = data[4]
    fcs_flag = descriptor >> 6
    single_segment = (descriptor >> 5) & 1
    dict_id_size = (0, 1, 2, 4)[descriptor & 3]
    fcs_size = (single_segment, 2, 4, 8)[fcs_flag]
    pos = 5 + (0 if single_segment else 1) + dict_id_size
    if fcs_size == 0 or len(data) < pos + fcs_size:
        return None
    value = int.from_bytes(data[pos : pos + fcs_size], "little")
    return value + 256 if fcs_size == 2 else value


def _lz4_check_descriptor(data: memoryview) -> int | None:
    """Refuse LZ4 frames Kafka's ``Lz4BlockInputStream`` refuses; return the content size if declared.

    Kafka requires the LZ4 frame magic, FLG version 1 with independent blocks and its
    reserved/dictionary bits clear, and BD with a block size code 4-7 (64 KiB - 4 MiB) and
    reserved bits clear. The descriptor checksum and block contents are checked by the decoder.
    """
    if len(data) < 7:
        raise CorruptRecordError("lz4 records section is shorter than an LZ4 frame header")
    if int.from_bytes(data[:4], "little") != LZ4_MAGIC:
        raise CorruptRecordError("lz4 records section does not start with the LZ4 frame magic")
    flg, bd = data[4], data[5]
    if flg >> 6 != 1:
        raise CorruptRecordError(f"lz4 frame version {flg >> 6} is not supported")
    if flg & 0x03:
        raise CorruptRecordError("lz4 frame sets reserved or dictionary-id bits")
    if not flg & 0x20:
        raise CorruptRecordError("lz4 frame uses dependent blocks, which Kafka does not support")
    if bd & 0x8F or not 4 <= (bd >> 4) & 0x07 <= 7:
        raise CorruptRecordError(f"lz4 frame block descriptor {bd:#04x} is invalid")
    if flg & 0x08 and len(data) >= 14:
        return int.from_bytes(data[6:14], "little")
    return None


# -- snappy (xerial framing or raw) -------------------------------------------------------------


def _snappy_xerial_compress(data: bytes) -> bytes:
    out = bytearray(XERIAL_HEADER)
    view = memoryview(data)
    for start in range(0, len(data), XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + XERIAL_BLOCK_SIZE]))
        out += len(block).to_bytes(4, "big")
        out += block
    return bytes(out)


def _snappy_blocks(data: memoryview) -> list[memoryview]:
    """Split a snappy records section into raw snappy blocks, as snappy-java's reader does.

    snappy-java treats its input as xerial-framed when it has at least 16 bytes and starts
    with the xerial magic; otherwise the whole input is one raw snappy block.
    """
    if len(data) < len(XERIAL_HEADER) or data[: len(XERIAL_MAGIC)] != XERIAL_MAGIC:
        return [data]
    version = int.from_bytes(data[8:12], "big", signed=True)
    if version < 1:
        raise CorruptRecordError(f"snappy xerial stream has unsupported version {version}")
    blocks: list[memoryview] = []
    pos = len(XERIAL_HEADER)
    while pos < len(data):
        if len(data) - pos < 4:
            raise CorruptRecordError("snappy xerial stream ends inside a block length")
        length = int.from_bytes(data[pos : pos + 4], "big", signed=True)
        pos += 4
        if length <= 0 or length > len(data) - pos:
            raise CorruptRecordError(f"snappy xerial block length {length} is invalid")
        blocks.append(data[pos : pos + length])
        pos += length
    return blocks


def _snappy_decompress(data: memoryview, limit: int) -> memoryview:
    blocks = _snappy_blocks(data)
    sizes: list[int] = []
    total = 0
    for block in blocks:
        size, _ = read_unsigned_varint32(block, 0, len(block), "snappy length preamble")
        total += size
        if total > limit:
            raise CorruptRecordError(
                f"snappy records section declares more than max_uncompressed_bytes={limit} bytes"
            )
        sizes.append(size)
    out = bytearray(total)
    view = memoryview(out)
    at = 0
    for block, size in zip(blocks, sizes, strict=True):
        try:
            written = int(cramjam.snappy.decompress_raw_into(block, view[at : at + size]))
        except Exception as exc:
            raise _codec_failure(Compression.SNAPPY, exc) from exc
        except BaseException as exc:  # pyo3's PanicException; see _bounded
            if type(exc).__name__ != "PanicException":
                raise
            raise _codec_failure(Compression.SNAPPY, exc) from exc
        if written != size:
            raise CorruptRecordError(f"snappy block decompressed to {written} bytes, declared {size}")
        at += size
    return view


# -- lz4 with Kafka's framing -------------------------------------------------------------------


def _lz4_kafka_compress(data: bytes) -> bytes:
    out = bytearray(LZ4_KAFKA_HEADER)
    view = memoryview(data)
    for start in range(0, len(data), LZ4_BLOCK_SIZE):
        chunk = view[start : start + LZ4_BLOCK_SIZE]
        block = bytes(cramjam.lz4.compress_block(chunk, store_size=False))
        if len(block) >= len(chunk):
            out += (len(chunk) | LZ4_UNCOMPRESSED_BIT).to_bytes(4, "little")
            out += chunk
        else:
            out += len(block).to_bytes(4, "little")
            out += block
    out += LZ4_END_MARK
    return bytes(out)
