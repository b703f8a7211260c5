"""The OS backend of the storage seam: real files, the kernel's page cache, real fsync.

Every call maps to one or two system calls on files under ``root``. Nothing here
buffers: a :meth:`OsFilesystem.pwrite` is in the kernel's page cache when it returns,
and durable only after :meth:`OsFilesystem.fsync`. :meth:`OsFilesystem.sendfile_fd`
hands out the real descriptor so a socket can ``os.sendfile`` straight from the cache.

Failure modes: ``OSError`` with an I/O errno (``EIO``, ``ENOSPC``, ``EDQUOT``, ``EROFS``...)
becomes :class:`StorageError`; ``FileNotFoundError``/``FileExistsError`` pass through.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import PurePosixPath

from reflog.errors import ReflogUsageError, StorageError

_NAMESPACE_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)


def check_relative_path(path: str) -> str:
    """Validate a seam path: relative, ``/``-separated, no ``..``; returns it normalised.

    Raises :class:`ReflogUsageError` for an absolute path or one that escapes the root.
    """
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise ReflogUsageError(f"storage paths are relative and stay inside the root: {path!r}")
    return str(pure)


class OsFileHandle:
    """An open real file: its seam path and its OS file descriptor."""

    __slots__ = ("_path", "fd", "mapping")

    def __init__(self, path: str, fd: int) -> None:
        self._path = path
        self.fd = fd
        #: A read-only mapping of the file for in-place reads (:meth:`OsFilesystem.read_views`).
        self.mapping: mmap.mmap | None = None

    @property
    def path(self) -> str:
        return self._path


def _unmap(mapped: mmap.mmap) -> None:
    with suppress(BufferError):  # a caller kept a view alive: unmapped when it is collected
        mapped.close()


def _storage_error(exc: OSError, path: str) -> StorageError:
    name = errno.errorcode.get(exc.errno or 0, "E?")
    return StorageError(f"{name} on {path}: {exc.strerror}", errno=exc.errno, path=path)


class OsFilesystem:
    """Real files under ``root`` (created if missing)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        os.makedirs(self.root, exist_ok=True)
        #: fsyncs issued (files and directories), for benchmarks and tests.
        self.fsyncs = 0
        #: Read-only mappings made by :meth:`read_views` (one per open segment, remade on growth).
        self.mappings = 0

    def _real(self, path: str) -> str:
        return os.path.join(self.root, check_relative_path(path))

    def _handle(self, handle: object) -> OsFileHandle:
        if not isinstance(handle, OsFileHandle) or handle.fd < 0:
            raise ReflogUsageError(f"not an open OS file handle: {handle!r}")
        return handle

    def open(self, path: str, *, create: bool = False) -> OsFileHandle:
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        if create:
            flags |= os.O_CREAT
        try:
            fd = os.open(self._real(path), flags, 0o644)
        except _NAMESPACE_ERRORS:
            raise
        except OSError as exc:
            raise _storage_error(exc, path) from exc
        return OsFileHandle(check_relative_path(path), fd)

    def close(self, handle: object) -> None:
        h = self._handle(handle)
        if h.mapping is not None:
            _unmap(h.mapping)
            h.mapping = None
        fd, h.fd = h.fd, -1
        os.close(fd)

    def size(self, handle: object) -> int:
        h = self._handle(handle)
        return os.fstat(h.fd).st_size

    def pwrite(self, handle: object, offset: int, data: bytes | memoryview) -> None:
        h = self._handle(handle)
        view = memoryview(data)
        try:
            while view:
                written = os.pwrite(h.fd, view, offset)
                view = view[written:]
                offset += written
        except OSError as exc:
            raise _storage_error(exc, h.path) from exc

    def pread(self, handle: object, offset: int, length: int) -> bytes:
        h = self._handle(handle)
        try:
            return os.pread(h.fd, length, offset)
        except OSError as exc:
            raise _storage_error(exc, h.path) from exc

    def pread_into(self, handle: object, offset: int, buffer: memoryview) -> int:
        h = self._handle(handle)
        try:
            return os.preadv(h.fd, [buffer], offset)
        except OSError as exc:
            raise _storage_error(exc, h.path) from exc

    @contextmanager
    def read_views(self, handle: object, offset: int, length: int) -> Iterator[list[memoryview]]:
        """A view of the range through a read-only ``mmap`` of the whole file, kept on the handle.

        The mapping shares the kernel's page cache: nothing is copied. It is made once and
        remade only when a read reaches past it (the file grew), so repeated reads of the same
        data find their page-table entries in place (a fresh 64 MiB mapping per fetch cost about
        0.1 s/GiB in page faults). The range is clipped to the file's current size; the caller
        must not let the file shrink inside the block (reading a page past EOF through a mapping
        is ``SIGBUS``), which holds for the log since truncation and reads run on one trio thread.
        """
        h = self._handle(handle)
        try:
            size = os.fstat(h.fd).st_size
            end = min(offset + length, size)
            if end <= offset:
                yield []
                return
            mapped = h.mapping
            if mapped is None or len(mapped) < end:
                h.mapping = mmap.mmap(h.fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
                self.mappings += 1
                if mapped is not None:
                    _unmap(mapped)
                mapped = h.mapping
        except OSError as exc:
            raise _storage_error(exc, h.path) from exc
        whole = memoryview(mapped)
        region = whole[offset:end]
        try:
            yield [region]
        finally:
            region.release()
            whole.release()

    def truncate(self, handle: object, size: int) -> None:
        h = self._handle(handle)
        try:
            os.ftruncate(h.fd, size)
        except OSError as exc:
            raise _storage_error(exc, h.path) from exc

    def fsync(self, handle: object) -> None:
        h = self._handle(handle)
        self.fsyncs += 1
        try:
            os.fsync(h.fd)
        except OSError as exc:
            raise _storage_error(exc, h.path) from exc

    def fsync_dir(self, path: str) -> None:
        self.fsyncs += 1
        try:
            fd = os.open(self._real(path), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except _NAMESPACE_ERRORS:
            raise
        except OSError as exc:
            raise _storage_error(exc, path) from exc
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _storage_error(exc, path) from exc
        finally:
            os.close(fd)

    def rename(self, src: str, dst: str) -> None:
        try:
            os.replace(self._real(src), self._real(dst))
        except _NAMESPACE_ERRORS:
            raise
        except OSError as exc:
            raise _storage_error(exc, src) from exc

    def delete(self, path: str) -> None:
        try:
            os.unlink(self._real(path))
        except _NAMESPACE_ERRORS:
            raise
        except OSError as exc:
            raise _storage_error(exc, path) from exc

    def exists(self, path: str) -> bool:
        return os.path.exists(self._real(path))

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._real(path)))

    def makedirs(self, path: str) -> None:
        try:
            os.makedirs(self._real(path), exist_ok=True)
        except _NAMESPACE_ERRORS:
            raise
        except OSError as exc:
            raise _storage_error(exc, path) from exc

    def sendfile_fd(self, handle: object) -> int | None:
        return self._handle(handle).fd

    def take_throttle_delay(self) -> float:
        return 0.0
