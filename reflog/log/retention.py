"""Which of a log's oldest segments go: retention (``retention.ms``/``retention.bytes``) and DeleteRecords.

Pure decisions over a log's segments, oldest first, for :meth:`reflog.log.Log.delete_retention_segments`
and :meth:`reflog.log.Log.maybe_increment_log_start_offset`; the :class:`~reflog.log.Log` deletes the
files and fsyncs the directory. Neither function does I/O nor raises.
"""

from __future__ import annotations

from collections.abc import Sequence

from reflog.log.config import LogConfig
from reflog.log.segment import LogSegment


def retention_doomed(segments: Sequence[LogSegment], config: LogConfig, now_ms: float, bound: int) -> int:
    """How many of the oldest ``segments`` are past ``retention.ms`` or beyond ``retention.bytes``.

    As Kafka's ``deleteRetentionMsBreachedSegments``/``deleteRetentionSizeBreachedSegments``: the scan
    stops at the first segment to keep, at one ending above ``bound`` (the high watermark) and at an
    empty active segment (the last of ``segments``); a segment the cleaner emptied holds nothing to
    keep and does not stop it. All of ``segments`` may qualify (the log then rolls first).
    """
    excess = sum(s.size for s in segments) - config.retention_bytes if config.retention_bytes >= 0 else 0
    doomed = 0
    for segment in segments:
        if segment.next_offset > bound or (segment.is_empty and segment is segments[-1]):
            break
        if segment.is_empty:  # emptied by the cleaner: holds nothing to keep
            doomed += 1
            continue
        by_time = (
            config.retention_ms >= 0
            and segment.max_timestamp >= 0
            and now_ms - segment.max_timestamp > config.retention_ms
        )
        by_size = excess - segment.size >= 0 and config.retention_bytes >= 0
        if not (by_time or by_size):
            break
        excess -= segment.size
        doomed += 1
    return doomed


def start_offset_doomed(segments: Sequence[LogSegment], log_start_offset: int) -> int:
    """How many closed segments (all but the active one, the last) end at or below ``log_start_offset``."""
    return sum(1 for segment in segments[:-1] if segment.next_offset <= log_start_offset)


__all__ = ["retention_doomed", "start_offset_doomed"]
