"""The partition log: segments, indexes, leader-epoch cache, checkpoints, flush policy, recovery."""

from reflog.log.append import LogAppendInfo
from reflog.log.checkpoint import CorruptCheckpointError, read_checkpoint, write_checkpoint
from reflog.log.config import LONG_MAX, LogConfig, LogManagerConfig
from reflog.log.epoch_cache import EpochEntry, LeaderEpochCache
from reflog.log.index import CorruptIndexError
from reflog.log.log import Log
from reflog.log.manager import CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_FILE, LogManager, StartupReport
from reflog.log.reads import FetchData, FileRegion
from reflog.log.recovery import RecoveryReport
from reflog.log.segment import LogSegment, segment_name
from reflog.vocabulary import UNDEFINED_EPOCH, UNDEFINED_OFFSET, TopicPartition

__all__ = [
    "CLEAN_SHUTDOWN_FILE",
    "LONG_MAX",
    "RECOVERY_POINT_FILE",
    "UNDEFINED_EPOCH",
    "UNDEFINED_OFFSET",
    "CorruptCheckpointError",
    "CorruptIndexError",
    "EpochEntry",
    "FetchData",
    "FileRegion",
    "LeaderEpochCache",
    "Log",
    "LogAppendInfo",
    "LogConfig",
    "LogManager",
    "LogManagerConfig",
    "LogSegment",
    "RecoveryReport",
    "StartupReport",
    "TopicPartition",
    "read_checkpoint",
    "segment_name",
    "write_checkpoint",
]
