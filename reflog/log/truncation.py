"""The edits of a log's segment list that delete segment files: truncation, restart, oldest-first deletion.

Kafka's ``LocalLog.truncateTo``/``truncateFullyAndStartAt``/``deleteSegmentFiles`` over the list a
:class:`~reflog.log.Log` holds. Each function edits ``segments`` and ``bases`` (their base offsets)
in place, in the order the files are deleted, so after an I/O error part-way the lists still name
exactly the segments not yet deleted. None fsyncs the directory: the Log does, after, and only
then is a deletion durable. Each raises :class:`~reflog.errors.StorageError` on an I/O error (the
Log goes offline).
"""

from __future__ import annotations

from collections.abc import Callable

from reflog.log.segment import LogSegment


def cut_segments(
    segments: list[LogSegment],
    bases: list[int],
    offset: int,
    *,
    restart: bool,
    new_segment: Callable[[int], LogSegment],
) -> bool:
    """Delete every segment from ``offset`` on and cut the active one at ``offset``; whether files went.

    The segments whose base offset is at or above ``offset`` are deleted (one always remains); the
    last one left is then truncated at ``offset``, or, with ``restart`` (``offset`` below the log
    start), deleted too and replaced by ``new_segment(offset)``, empty. The resulting active segment
    is fsynced. Returns whether segment files were created or deleted (the directory needs an fsync).
    """
    changed = False
    while len(segments) > 1 and segments[-1].base_offset >= offset:
        segments.pop().delete_files()
        bases.pop()
        changed = True
    if restart:
        segments.pop().delete_files()
        segments.append(new_segment(offset))
        bases[:] = [offset]
        changed = True
    else:
        segments[-1].truncate_to(offset)
    segments[-1].flush()
    return changed


def restart_segments(
    segments: list[LogSegment], bases: list[int], offset: int, new_segment: Callable[[int], LogSegment]
) -> None:
    """Delete every segment, then make ``new_segment(offset)``, empty, the only one."""
    for segment in segments:
        segment.delete_files()
    segments[:] = [new_segment(offset)]
    bases[:] = [offset]


def delete_oldest(segments: list[LogSegment], bases: list[int], count: int) -> None:
    """Delete the ``count`` oldest segments' files and drop them from the lists."""
    for segment in segments[:count]:
        segment.delete_files()
    del segments[:count]
    del bases[:count]


__all__ = ["cut_segments", "delete_oldest", "restart_segments"]
