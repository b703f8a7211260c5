"""CRC-32C (Castagnoli), the checksum of v2 record batches."""

from __future__ import annotations

import crc32c as _crc32c

__all__ = ["crc32c"]


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` as an unsigned 32-bit int (``crc32c(b"123456789") == 0xE3069283``).

    Uses the ``crc32c`` package (hardware-accelerated where available). Never raises for
    a bytes-like argument.
    """
    return int(_crc32c.crc32c(data))
