"""Replacing a segment with its cleaned copy, crash-safely, as Kafka's ``replaceSegments`` does.

The log cleaner writes the cleaned batches of segment ``B`` to ``B.log.cleaned`` and fsyncs it;
then :func:`swap_in` renames it to ``B.log.swap`` and fsyncs the directory: from that moment the
new segment is the truth, and recovery completes the swap. The old segment's three files are
deleted, ``B.log.swap`` is renamed to ``B.log`` and the directory fsynced again; the new
segment's indexes are rebuilt from its batches.

:func:`finish_interrupted_swaps` is the recovery half, run before a log directory is loaded:
a ``.cleaned`` file is an unfinished cleaning and is deleted (the old segment is intact); a
``.swap`` file is a finished one, so the old files at its base are deleted (if still there) and
the swap file renamed into place. Either way the directory holds the old segment or the new one,
never a mix, whichever operation a crash or power loss interrupted.

Every step raises :class:`~reflog.errors.StorageError` on an I/O error (the caller takes the log
offline).
"""

from __future__ import annotations

from collections.abc import Iterable

from reflog.log.config import LogConfig
from reflog.log.segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, LogSegment, segment_name
from reflog.storage import Filesystem

CLEANED_SUFFIX = LOG_SUFFIX + ".cleaned"
"""Kafka's ``CLEANED_FILE_SUFFIX`` after ``.log``: a cleaned segment being written."""
SWAP_SUFFIX = LOG_SUFFIX + ".swap"
"""Kafka's ``SWAP_FILE_SUFFIX`` after ``.log``: a cleaned segment that replaces the old one."""


def write_cleaned(fs: Filesystem, directory: str, base_offset: int, batches: Iterable[bytes]) -> str:
    """Write ``batches`` to ``<base>.log.cleaned`` (replacing a leftover) and fsync it; its path."""
    path = f"{directory}/{segment_name(base_offset)}{CLEANED_SUFFIX}"
    if fs.exists(path):
        fs.delete(path)
    handle = fs.open(path, create=True)
    try:
        position = 0
        for raw in batches:
            fs.pwrite(handle, position, raw)
            position += len(raw)
        fs.fsync(handle)
    finally:
        fs.close(handle)
    return path


def swap_in(fs: Filesystem, old: LogSegment, cleaned_path: str, config: LogConfig) -> LogSegment:
    """Replace ``old`` by the fsynced ``cleaned_path``; the new, open segment at the same base.

    ``old`` stays open (its files unlinked), so a region of it already handed to a reader stays
    readable until the caller closes it.
    """
    directory = old.directory
    swap_path = f"{directory}/{segment_name(old.base_offset)}{SWAP_SUFFIX}"
    fs.rename(cleaned_path, swap_path)
    fs.fsync_dir(directory)  # the commit point: recovery now completes the swap
    _delete_segment_files(fs, directory, old.base_offset)
    fs.rename(swap_path, old.log_path)
    fs.fsync_dir(directory)
    new = LogSegment(fs, directory, old.base_offset, config, old.created_at)
    new.rebuild_indexes()
    new.flush()
    return new


def finish_interrupted_swaps(fs: Filesystem, directory: str) -> tuple[set[int], bool]:
    """Delete ``.cleaned`` leftovers and complete every ``.swap``: the bases swapped in, and
    whether the directory changed (it then needs an fsync)."""
    swapped: set[int] = set()
    changed = False
    for name in fs.listdir(directory):
        if name.endswith(CLEANED_SUFFIX):
            fs.delete(f"{directory}/{name}")
            changed = True
    for name in fs.listdir(directory):
        stem = name.removesuffix(SWAP_SUFFIX)
        if name.endswith(SWAP_SUFFIX) and len(stem) == 20 and stem.isdigit():
            base = int(stem)
            _delete_segment_files(fs, directory, base)
            fs.rename(f"{directory}/{name}", f"{directory}/{stem}{LOG_SUFFIX}")
            swapped.add(base)
            changed = True
    return swapped, changed


def _delete_segment_files(fs: Filesystem, directory: str, base_offset: int) -> None:
    stem = f"{directory}/{segment_name(base_offset)}"
    for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
        if fs.exists(stem + suffix):
            fs.delete(stem + suffix)


__all__ = ["CLEANED_SUFFIX", "SWAP_SUFFIX", "finish_interrupted_swaps", "swap_in", "write_cleaned"]
