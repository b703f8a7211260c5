"""The oracle views of a :class:`~reflog.storage.sim.SimFilesystem`: what is visible and what is durable.

:class:`OracleViews` is the part of the facade a test reads to judge a run: a file's
bytes as a reader sees them now, the bytes, names and sizes a ``CLEAN`` power loss now
would leave, the device trace, failed write-backs and page counts. Every view is
read-only: no I/O, no counters, no page-cache (LRU or read-ahead) effects. A path that
names nothing raises :class:`FileNotFoundError`, a directory :class:`IsADirectoryError`,
a refused path :class:`~reflog.errors.ReflogUsageError`.

It is a mixin over the facade's state (the attributes declared below, owned and
assigned by :class:`~reflog.storage.sim.SimFilesystem`), so that the views stay methods
of the file system without living in its module.
"""

from __future__ import annotations

import errno
import os

from reflog.storage.sim._device import Device
from reflog.storage.sim._handle import normalize
from reflog.storage.sim._inode import Inode
from reflog.storage.sim._namespace import Dir, Namespace
from reflog.storage.sim._pagecache import PageCache
from reflog.storage.sim._policy import PAGE_SIZE, pages_spanning
from reflog.storage.sim._report import DeviceIO, FailedWrite


class OracleViews:
    """Read-only views of visible and durable state (see the module docstring)."""

    _namespace: Namespace
    _inodes: dict[int, Inode]
    _cache: PageCache
    _device: Device

    def _resolve_ino(self, path: str) -> int:
        node = self._namespace.lookup(normalize(path))
        if node is None or isinstance(node, Dir):
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        return node

    @staticmethod
    def _file_ino(node: Dir | int | None, path: str) -> int:
        if node is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if isinstance(node, Dir):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        return node

    def visible_bytes(self, path: str) -> bytes:
        """The whole file as a reader sees it now (no I/O, counters or cache effects)."""
        inode = self._inodes[self._file_ino(self._namespace.lookup(normalize(path)), path)]
        data = b"".join(self._cache.peek(inode, i) for i in range(pages_spanning(inode.size)))
        return data[: inode.size]

    def durable_bytes(self, path: str) -> bytes:
        """The file as a ``CLEAN`` power loss now would leave it (durable name, size and media).

        Raises FileNotFoundError if the name is not durable.
        """
        ino = self._file_ino(self._namespace.durable_lookup(normalize(path)), path)
        size = self._device.durable_size(ino)
        data = b"".join(
            self._device.peek_media(ino, i) or bytes(PAGE_SIZE) for i in range(pages_spanning(size))
        )
        return data[:size]

    def durable_exists(self, path: str) -> bool:
        """Whether ``path`` (file or directory) would exist after a ``CLEAN`` power loss now."""
        return self._namespace.durable_lookup(normalize(path)) is not None

    def visible_paths(self) -> list[str]:
        """Every visible file path, sorted."""
        return [p for p, _ in self._namespace.visible_files()]

    def durable_paths(self) -> list[str]:
        """Every file path that would exist after a ``CLEAN`` power loss now, sorted."""
        return [p for p, _ in self._namespace.durable_files()]

    @property
    def io_trace(self) -> list[DeviceIO]:
        """Device operations in order (empty unless constructed with ``trace_io=True``); clear it freely."""
        return self._device.trace if self._device.trace is not None else []

    def ino_of(self, path: str) -> int:
        """The inode number of visible file ``path`` (to match :class:`DeviceIO` and report records)."""
        return self._resolve_ino(path)

    @property
    def failed_writes(self) -> tuple[FailedWrite, ...]:
        """Every failed write-back I/O so far (the ranges whose new bytes never reached the device)."""
        return tuple(self._cache.writeback.failed_writes)

    @property
    def dirty_page_count(self) -> int:
        """Dirty pages in the page cache."""
        return self._cache.writeback.dirty_pages

    @property
    def cached_page_count(self) -> int:
        """Pages in the page cache."""
        return self._cache.cached_pages

    @property
    def pending_directory_ops(self) -> tuple[str, ...]:
        """Directory operations visible but not yet durable, in journal order."""
        return tuple(op.describe() for op in self._namespace.journal)
