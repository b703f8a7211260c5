"""Shared helpers for log tests: batches, a counting file system wrapper, backend factories."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from reflog.records import Compression, Record, build_batch, decode_batch
from reflog.storage import FileHandle, Filesystem


def batch(
    values: Sequence[bytes] = (b"v",),
    *,
    timestamp: int = 0,
    epoch: int = -1,
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
) -> bytes:
    """A record batch holding one record per value."""
    return build_batch(
        [Record(key=None, value=v) for v in values],
        base_offset=base_offset,
        partition_leader_epoch=epoch,
        timestamp=timestamp,
        compression=compression,
    )


def values_of(records: bytes) -> list[bytes | None]:
    """Every record value in a buffer of concatenated batches, in order."""
    out: list[bytes | None] = []
    position = 0
    while position < len(records):
        decoded = decode_batch(records, position)
        out.extend(r.value for r in decoded.records)
        position += decoded.header.size
    return out


@dataclass
class CountingFs:
    """Wraps a Filesystem and counts the bytes each operation touches (to prove lookups do not scan)."""

    inner: Filesystem
    pread_bytes: int = 0
    preads: int = 0
    fsyncs: list[str] = field(default_factory=list)
    dir_fsyncs: list[str] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)

    def open(self, path: str, *, create: bool = False) -> FileHandle:
        return self.inner.open(path, create=create)

    def close(self, handle: FileHandle) -> None:
        self.inner.close(handle)

    def size(self, handle: FileHandle) -> int:
        return self.inner.size(handle)

    def pwrite(self, handle: FileHandle, offset: int, data: bytes | memoryview) -> None:
        self.inner.pwrite(handle, offset, data)

    def pread(self, handle: FileHandle, offset: int, length: int) -> bytes:
        data = self.inner.pread(handle, offset, length)
        self.preads += 1
        self.pread_bytes += len(data)
        return data

    def truncate(self, handle: FileHandle, size: int) -> None:
        self.inner.truncate(handle, size)

    def fsync(self, handle: FileHandle) -> None:
        self.fsyncs.append(handle.path)
        self.inner.fsync(handle)

    def fsync_dir(self, path: str) -> None:
        self.dir_fsyncs.append(path)
        self.inner.fsync_dir(path)

    def rename(self, src: str, dst: str) -> None:
        self.renames.append((src, dst))
        self.inner.rename(src, dst)

    def delete(self, path: str) -> None:
        self.inner.delete(path)

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def listdir(self, path: str) -> list[str]:
        return self.inner.listdir(path)

    def makedirs(self, path: str) -> None:
        self.inner.makedirs(path)

    def sendfile_fd(self, handle: FileHandle) -> int | None:
        return self.inner.sendfile_fd(handle)

    def read_views(
        self, handle: FileHandle, offset: int, length: int
    ) -> AbstractContextManager[list[memoryview]]:
        return self.inner.read_views(handle, offset, length)

    def take_throttle_delay(self) -> float:
        return self.inner.take_throttle_delay()
