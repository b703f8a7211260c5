"""Checkpoint files, written the way Kafka's ``CheckpointFile`` writes them.

Format (text): a version line, a count line, then ``count`` entry lines::

    0
    2
    orders 0 1042
    orders 1 77

A write goes to ``<path>.tmp``, is fsynced, renamed over ``<path>``, and the directory
is fsynced, so after any crash the file holds either the old or the new content,
never a mix, and it never describes data that was not yet flushed when it was written.

Reading never trusts the file: a missing file is reported as ``None``; bytes that do
not parse (wrong version, count mismatch, junk) raise :class:`CorruptCheckpointError`
so that the caller can fall back (Kafka resets the recovery point to 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from reflog.errors import ReflogError
from reflog.storage import Filesystem

CHECKPOINT_VERSION = 0
_MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024


class CorruptCheckpointError(ReflogError):
    """A checkpoint file exists but does not parse; its content must not be trusted."""


def write_checkpoint(fs: Filesystem, path: str, entries: Sequence[str]) -> None:
    """Atomically and durably replace ``path`` with ``entries`` (one line each).

    Raises :class:`reflog.errors.StorageError` if any write or fsync fails; the old
    file (or none) is then still in place.
    """
    body = "\n".join([str(CHECKPOINT_VERSION), str(len(entries)), *entries]) + "\n"
    tmp = path + ".tmp"
    handle = fs.open(tmp, create=True)
    try:
        fs.truncate(handle, 0)
        fs.pwrite(handle, 0, body.encode("utf-8"))
        fs.fsync(handle)
    finally:
        fs.close(handle)
    fs.rename(tmp, path)
    fs.fsync_dir(str(PurePosixPath(path).parent))


def read_checkpoint(fs: Filesystem, path: str) -> list[str] | None:
    """The entry lines of checkpoint ``path``, or ``None`` when it does not exist.

    Raises :class:`CorruptCheckpointError` when the file does not parse.
    """
    if not fs.exists(path):
        return None
    handle = fs.open(path)
    try:
        size = fs.size(handle)
        if size > _MAX_CHECKPOINT_BYTES:
            raise CorruptCheckpointError(f"{path}: implausible size {size}")
        raw = fs.pread(handle, 0, size)
    finally:
        fs.close(handle)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptCheckpointError(f"{path}: not UTF-8") from exc
    if not text.endswith("\n"):
        raise CorruptCheckpointError(f"{path}: truncated (no final newline)")
    lines = text[:-1].split("\n")
    if len(lines) < 2 or lines[0] != str(CHECKPOINT_VERSION):
        raise CorruptCheckpointError(f"{path}: bad version line")
    try:
        count = int(lines[1])
    except ValueError as exc:
        raise CorruptCheckpointError(f"{path}: bad count line") from exc
    entries = lines[2:]
    if count != len(entries):
        raise CorruptCheckpointError(f"{path}: expected {count} entries, found {len(entries)}")
    return entries


def parse_ints(entry: str, count: int, path: str) -> list[int]:
    """The ``count`` whitespace-separated non-negative integers of ``entry``.

    Raises :class:`CorruptCheckpointError` otherwise.
    """
    parts = entry.split(" ")
    try:
        values = [int(p) for p in parts]
    except ValueError as exc:
        raise CorruptCheckpointError(f"{path}: bad entry {entry!r}") from exc
    if len(values) != count or any(v < 0 for v in values):
        raise CorruptCheckpointError(f"{path}: bad entry {entry!r}")
    return values
