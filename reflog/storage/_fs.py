"""The storage seam: one small file-system interface that the log is written against.

Two implementations exist:

* :class:`reflog.storage.OsFilesystem` -- real files under a root directory; the
  kernel's page cache is the page cache, ``fsync`` is a real fsync, and
  :meth:`Filesystem.sendfile_fd` gives a real descriptor for ``os.sendfile``.
* :class:`reflog.storage.SimFilesystem` -- an explicit page-cache model over a
  simulated device, with crash, power-loss and disk-fault injection.

Paths are ``/``-separated strings relative to the file system's root
(``"data/orders-0/00000000000000000000.log"``); ``..`` and absolute paths are refused.

Failure modes shared by both implementations:

* namespace errors are Python's own: :class:`FileNotFoundError` when a path does not
  exist, :class:`FileExistsError` when ``makedirs`` meets a file;
* I/O errors (``EIO``, ``ENOSPC``, ...) raise :class:`reflog.errors.StorageError`
  carrying ``errno`` and ``path``. After a failed ``fsync`` the file's unsynced
  bytes are of unknown durability and a later ``fsync`` may falsely succeed (Linux's
  behaviour); callers must never retry an fsync to "make sure".
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class FileHandle(Protocol):
    """An open file. Opaque to callers except for its path."""

    @property
    def path(self) -> str:
        """The path the file was opened with."""
        ...


class Filesystem(Protocol):
    """The operations the log needs from storage, and nothing more."""

    def open(self, path: str, *, create: bool = False) -> FileHandle:
        """Open ``path`` for reading and writing; create it (empty) when ``create`` is set.

        Raises :class:`FileNotFoundError` if it does not exist and ``create`` is false.
        A new file's directory entry is durable only after :meth:`fsync_dir` of its parent.
        """
        ...

    def close(self, handle: FileHandle) -> None:
        """Release ``handle``. Dirty data stays in the page cache; closing is not a flush."""
        ...

    def size(self, handle: FileHandle) -> int:
        """The file's current (visible) size in bytes."""
        ...

    def pwrite(self, handle: FileHandle, offset: int, data: bytes | memoryview) -> None:
        """Write all of ``data`` at ``offset`` into the page cache (not durable until fsync).

        Writing past the end extends the file (a gap reads as zeros). Raises
        :class:`StorageError` (``ENOSPC``) before changing anything when space runs out.
        """
        ...

    def pread(self, handle: FileHandle, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes at ``offset``; shorter only at end of file.

        Raises :class:`StorageError` (``EIO``) on an unreadable range.
        """
        ...

    def pread_into(self, handle: FileHandle, offset: int, buffer: memoryview) -> int:
        """Read up to ``buffer.nbytes`` bytes at ``offset`` into ``buffer``; returns the count.

        One copy into memory the caller owns and reuses (shorter only at end of file). Raises
        :class:`StorageError` (``EIO``) on an unreadable range.
        """
        ...

    def read_views(
        self, handle: FileHandle, offset: int, length: int
    ) -> AbstractContextManager[list[memoryview]]:
        """The bytes :meth:`pread` would return, as views into the page cache: no copy is made.

        Use it as ``with fs.read_views(h, offset, n) as views:``; the views are valid inside
        the block only. The OS backend maps the file read-only (``mmap``), the simulated one
        hands out views of its cached pages. Shorter only at end of file. Raises
        :class:`StorageError` (``EIO``) on an unreadable range.
        """
        ...

    def truncate(self, handle: FileHandle, size: int) -> None:
        """Set the file's size to ``size`` (shrink or extend with zeros); durable after fsync."""
        ...

    def fsync(self, handle: FileHandle) -> None:
        """Write back the file's dirty pages and its size, then flush the device cache.

        When this returns, every byte written before the call and the file's size are
        durable. Raises :class:`StorageError` if write-back failed since the last
        fsync of this handle; the error is reported once (Linux's errseq semantics).
        """
        ...

    def fsync_dir(self, path: str) -> None:
        """Make the directory entries of ``path`` (creates, renames, deletes) durable."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically move ``src`` to ``dst``, replacing ``dst``; durable after :meth:`fsync_dir`."""
        ...

    def delete(self, path: str) -> None:
        """Remove the file ``path``; durable after :meth:`fsync_dir`."""
        ...

    def exists(self, path: str) -> bool:
        """Whether ``path`` names an existing file or directory."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names in directory ``path``, sorted. Raises :class:`FileNotFoundError`."""
        ...

    def makedirs(self, path: str) -> None:
        """Create directory ``path`` and its parents if missing (durable after fsync_dir of each parent)."""
        ...

    def sendfile_fd(self, handle: FileHandle) -> int | None:
        """A real OS file descriptor for ``os.sendfile``, or ``None`` when there is none (simulation)."""
        ...

    def take_throttle_delay(self) -> float:
        """Seconds the writer owes to write-back throttling since the last call, then reset to 0.

        The simulated page cache asks writers to pause above its "freerun" dirty ceiling,
        as Linux's ``balance_dirty_pages`` does; an async caller should ``await
        trio.sleep()`` this long. The OS backend always returns 0 (the kernel pauses
        the writer inside ``write()`` itself).
        """
        ...
