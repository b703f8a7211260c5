"""The log manager of one broker's data directory: many partition logs, one set of checkpoints.

Layout (as Kafka's, for one log directory)::

    <data_dir>/
        .kafka_cleanshutdown                 written last by a clean shutdown
        recovery-point-offset-checkpoint     "topic partition offset" per log
        <topic>-<partition>/                 one directory per partition (see reflog.log.Log)

At :meth:`LogManager.startup` the clean-shutdown marker is read **and deleted** (and
the deletion made durable) before any log is opened, so a crash after startup can never
be mistaken for a clean shutdown. Without the marker every log is recovered from its
checkpointed recovery point. A recovery-point checkpoint that does not parse is not
trusted: every log then recovers from offset 0 (Kafka does the same).
"""

from __future__ import annotations

from typing import NamedTuple

from reflog.clock import Clock
from reflog.errors import ReflogUsageError
from reflog.log.checkpoint import CorruptCheckpointError, parse_ints, read_checkpoint, write_checkpoint
from reflog.log.cleaner import LogCleaner
from reflog.log.config import LogConfig, LogManagerConfig
from reflog.log.log import Log
from reflog.log.recovery import RecoveryReport
from reflog.storage import Filesystem
from reflog.vocabulary import TopicPartition, topic_name_error

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
HIGH_WATERMARK_FILE = "replication-offset-checkpoint"
LOG_START_OFFSET_FILE = "log-start-offset-checkpoint"
"""Each log's start offset where DeleteRecords moved it past its first segment's base (Kafka's name)."""


class StartupReport(NamedTuple):
    """What :meth:`LogManager.startup` found."""

    clean_shutdown: bool
    recovery_checkpoint_corrupt: bool
    logs: dict[TopicPartition, RecoveryReport]


class LogManager:
    """Owns every partition log under ``data_dir`` and their shared checkpoint files."""

    def __init__(
        self,
        fs: Filesystem,
        data_dir: str,
        clock: Clock,
        *,
        default_config: LogConfig | None = None,
        manager_config: LogManagerConfig | None = None,
    ) -> None:
        self.fs = fs
        self.data_dir = data_dir
        self.clock = clock
        self.default_config = default_config or LogConfig()
        self.manager_config = manager_config or LogManagerConfig()
        self.logs: dict[TopicPartition, Log] = {}
        self._topic_configs: dict[str, LogConfig] = {}
        self._last_checkpoint = clock.now()
        self._started = False
        self.cleaner = LogCleaner(fs, data_dir, clock)
        """The log cleaner of this directory (compacted logs, :mod:`reflog.log.cleaner`)."""

    def startup(self, topic_configs: dict[str, LogConfig] | None = None) -> StartupReport:
        """Delete the clean-shutdown marker, read the recovery points, open and recover every log.

        Raises :class:`reflog.errors.StorageError` on an I/O error.
        """
        if self._started:
            raise ReflogUsageError("LogManager.startup called twice")
        self._started = True
        self._topic_configs = dict(topic_configs or {})
        self.fs.makedirs(self.data_dir)
        marker = f"{self.data_dir}/{CLEAN_SHUTDOWN_FILE}"
        clean = self.fs.exists(marker)
        if clean:
            self.fs.delete(marker)
            self.fs.fsync_dir(self.data_dir)
        corrupt = False
        try:
            recovery_points = self._read_recovery_points()
        except CorruptCheckpointError:
            recovery_points, corrupt = {}, True
        try:
            log_starts = self._read_offsets(LOG_START_OFFSET_FILE)
        except CorruptCheckpointError:
            log_starts = {}  # as Kafka: the start offsets are then those of the first segments
        reports: dict[TopicPartition, RecoveryReport] = {}
        for name in self.fs.listdir(self.data_dir):
            tp = TopicPartition.from_dir_name(name)
            if tp is None:
                continue
            log = Log.open(
                self.fs,
                f"{self.data_dir}/{name}",
                self.config_for(tp.topic),
                self.clock,
                recovery_point=recovery_points.get(tp, 0),
                clean_shutdown=clean and not corrupt,
                on_recovery_point_lowered=self._recovery_point_lowered,
                log_start_offset=log_starts.get(tp, 0),
                on_log_start_offset_changed=self._log_start_offset_changed,
            )
            self.logs[tp] = log
            assert log.recovery_report is not None
            reports[tp] = log.recovery_report
        self.checkpoint_recovery_points()
        self.cleaner.load()
        return StartupReport(clean, corrupt, reports)

    def config_for(self, topic: str) -> LogConfig:
        return self._topic_configs.get(topic, self.default_config)

    def update_topic_config(self, topic: str, config: LogConfig) -> None:
        """A topic's new config, in effect at once on each of its open logs (LOG-27): the next
        append, roll, flush check and retention pass read it (existing segments keep their index
        size, as in Kafka)."""
        self._topic_configs[topic] = config
        for tp, log in self.logs.items():
            if tp.topic == topic:
                log.config = config

    def _read_recovery_points(self) -> dict[TopicPartition, int]:
        return self._read_offsets(RECOVERY_POINT_FILE)

    def read_high_watermarks(self) -> dict[TopicPartition, int]:
        """The HWs checkpointed in ``replication-offset-checkpoint``; empty when missing or corrupt.

        A corrupt file is not trusted (the HW then starts at the log start and is learned again).
        """
        try:
            return self._read_offsets(HIGH_WATERMARK_FILE)
        except CorruptCheckpointError:
            return {}

    def write_high_watermarks(self, high_watermarks: dict[TopicPartition, int]) -> None:
        """Durably record each partition's HW (the ``replica.high.watermark.checkpoint`` task)."""
        entries = [f"{tp.topic} {tp.partition} {hw}" for tp, hw in sorted(high_watermarks.items())]
        write_checkpoint(self.fs, f"{self.data_dir}/{HIGH_WATERMARK_FILE}", entries)

    def _read_offsets(self, name: str) -> dict[TopicPartition, int]:
        path = f"{self.data_dir}/{name}"
        points: dict[TopicPartition, int] = {}
        for entry in read_checkpoint(self.fs, path) or []:
            topic, _, rest = entry.partition(" ")
            partition, offset = parse_ints(rest, 2, path)
            if topic_name_error(topic) is not None:
                raise CorruptCheckpointError(f"{path}: bad topic in {entry!r}")
            points[TopicPartition(topic, partition)] = offset
        return points

    def checkpoint_recovery_points(self) -> None:
        """Durably record every log's recovery point (tmp file, fsync, rename, dir fsync)."""
        entries = [f"{tp.topic} {tp.partition} {log.recovery_point}" for tp, log in sorted(self.logs.items())]
        write_checkpoint(self.fs, f"{self.data_dir}/{RECOVERY_POINT_FILE}", entries)
        self._last_checkpoint = self.clock.now()

    def checkpoint_log_start_offsets(self) -> None:
        """Durably record the log start offsets DeleteRecords moved (Kafka's
        ``log-start-offset-checkpoint``: only those past their first segment's base)."""
        entries = [
            f"{tp.topic} {tp.partition} {log.log_start_offset}"
            for tp, log in sorted(self.logs.items())
            if log.log_start_offset > log.segments[0].base_offset
        ]
        write_checkpoint(self.fs, f"{self.data_dir}/{LOG_START_OFFSET_FILE}", entries)

    def _log_start_offset_changed(self, _log: Log) -> None:
        # Before DeleteRecords answers: a restart never serves records below the new start.
        self.checkpoint_log_start_offsets()

    def _recovery_point_lowered(self, _log: Log) -> None:
        # A truncation moved a recovery point down: the file must not keep claiming more.
        self.checkpoint_recovery_points()

    def create_log(self, topic: str, partition: int, config: LogConfig | None = None) -> Log:
        """Create (or return the existing) log of ``topic``-``partition``.

        Raises :class:`ReflogUsageError` for a topic name Kafka would refuse.
        """
        if (why := topic_name_error(topic)) is not None:
            raise ReflogUsageError(f"illegal topic name {topic!r}: {why}")
        tp = TopicPartition(topic, partition)
        if tp in self.logs:
            return self.logs[tp]
        if config is not None:
            self._topic_configs[topic] = config
        self.fs.makedirs(f"{self.data_dir}/{tp.dir_name}")
        self.fs.fsync_dir(self.data_dir)
        log = Log.open(
            self.fs,
            f"{self.data_dir}/{tp.dir_name}",
            self.config_for(topic),
            self.clock,
            on_recovery_point_lowered=self._recovery_point_lowered,
            on_log_start_offset_changed=self._log_start_offset_changed,
        )
        self.logs[tp] = log
        return log

    def delete_log(self, tp: TopicPartition) -> bool:
        """Delete the log of ``tp`` for good (a deleted topic, CTL-31); ``False`` if there is none.

        As Kafka's ``LogManager.asyncDelete``: the directory is first renamed to
        ``<topic>-<partition>.<n>-delete`` and the rename made durable, so the log never comes back
        after a crash (startup ignores such directories), then its files are deleted and the
        recovery points checkpointed. A partition created again under the same name starts empty.
        The emptied directory stays (the storage seam has no ``rmdir``). Raises
        :class:`reflog.errors.StorageError` on an I/O error.
        """
        log = self.logs.pop(tp, None)
        if log is None:
            return False
        log.close()
        source = f"{self.data_dir}/{tp.dir_name}"
        n = 0
        while self.fs.exists(f"{source}.{n}-delete"):
            n += 1
        doomed = f"{source}.{n}-delete"
        self.fs.rename(source, doomed)
        self.fs.fsync_dir(self.data_dir)
        for name in self.fs.listdir(doomed):
            self.fs.delete(f"{doomed}/{name}")
        self.fs.fsync_dir(doomed)
        self.checkpoint_recovery_points()
        self.checkpoint_log_start_offsets()
        return True

    def tick(self) -> None:
        """Periodic work: ``flush.ms`` flushes and the recovery-point checkpoint interval."""
        for log in self.logs.values():
            if not log.offline:
                log.flush_if_due()
        interval = self.manager_config.log_flush_offset_checkpoint_interval_ms / 1000
        if self.clock.now() - self._last_checkpoint >= interval:
            self.checkpoint_recovery_points()

    def clean_logs(self, high_watermarks: dict[TopicPartition, int]) -> int:
        """One pass of the log cleaner over the compacted logs (:meth:`LogCleaner.clean`)."""
        return self.cleaner.clean(self.logs, high_watermarks)

    def shutdown(self) -> None:
        """Clean shutdown: flush every log, checkpoint, close, then write the clean-shutdown marker.

        If any log is offline the marker is not written, so the next start recovers.
        """
        clean = True
        for log in self.logs.values():
            if log.offline:
                clean = False
                continue
            log.flush()
        self.checkpoint_recovery_points()
        for log in self.logs.values():
            log.close()
        if clean:
            marker = self.fs.open(f"{self.data_dir}/{CLEAN_SHUTDOWN_FILE}", create=True)
            self.fs.fsync(marker)
            self.fs.close(marker)
            self.fs.fsync_dir(self.data_dir)
