"""Paths and open files of a :class:`~reflog.storage.sim.SimFilesystem`.

:func:`normalize` is the one place a simulated path is checked and made canonical.
:class:`SimFileHandle` is what ``open`` returns: it knows which file system and which
"process" (epoch) opened it, and :meth:`SimFileHandle.validate` refuses it, with
:class:`~reflog.errors.ReflogUsageError`, once it is closed, foreign, or outlived by a crash.
"""

from __future__ import annotations

from reflog.errors import ReflogUsageError
from reflog.storage.sim._inode import ReadAhead


def normalize(path: str) -> str:
    """Canonical form of a relative ``/``-separated path (``""`` is the root).

    Empty and ``.`` components are dropped; absolute paths and ``..`` raise
    :class:`~reflog.errors.ReflogUsageError`.
    """
    if not isinstance(path, str):
        raise ReflogUsageError(f"paths are str, got {type(path).__name__}")
    if path.startswith("/"):
        raise ReflogUsageError(f"absolute paths are refused: {path!r}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ReflogUsageError(f"'..' is refused in paths: {path!r}")
    return "/".join(parts)


class SimFileHandle:
    """An open file of a :class:`~reflog.storage.sim.SimFilesystem`; opaque except for :attr:`path`.

    ``owner`` is the file system that opened it (compared by identity only) and ``epoch``
    the process it belongs to. Raises :class:`~reflog.errors.ReflogUsageError` for a path
    :func:`normalize` refuses.
    """

    __slots__ = ("_closed", "_epoch", "_owner", "_path", "errseq_seen", "ino", "normalized", "ra")

    def __init__(self, owner: object, path: str, ino: int, epoch: int, errseq_seen: int) -> None:
        self._owner = owner
        self._path = path
        #: The canonical form of :attr:`path` (what crash-point globs are matched against).
        self.normalized = normalize(path)
        self._epoch = epoch
        self._closed = False
        self.ino = ino
        #: The inode's error sequence this handle has reported up to (Linux ``file->f_wb_err``).
        self.errseq_seen = errseq_seen
        self.ra = ReadAhead()

    @property
    def path(self) -> str:
        """The path the file was opened with."""
        return self._path

    def validate(self, owner: object, epoch: int) -> None:
        """Refuse the handle unless ``owner`` opened it in process ``epoch`` and it is still open.

        Raises :class:`~reflog.errors.ReflogUsageError`.
        """
        if self._owner is not owner:
            raise ReflogUsageError(f"{self!r} is not a handle of this SimFilesystem")
        if self._closed:
            raise ReflogUsageError(f"handle for {self._path!r} is closed")
        if self._epoch != epoch:
            raise ReflogUsageError(
                f"handle for {self._path!r} belongs to a process that crashed; reopen the file"
            )

    def mark_closed(self) -> None:
        """Record that the file system closed the handle (every later :meth:`validate` refuses it)."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<SimFileHandle {self._path!r} ino={self.ino}>"
