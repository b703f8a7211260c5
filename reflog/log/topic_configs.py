"""Kafka's topic configs that reflog implements: names, types, defaults, validators, docs (LOG-26).

:data:`TOPIC_CONFIGS` is Kafka 4's ``LogConfig`` definition for each topic config reflog has,
with the broker config that supplies its default (``ServerTopicConfigSynonyms``). Adding a config
is one entry here (and, when the log reads it, one :class:`~reflog.log.config.LogConfig` field of
the same name with dots as underscores).

* :func:`validate_topic_configs` is the check CreateTopics, AlterConfigs and
  IncrementalAlterConfigs make before anything changes: every name known, every value of its
  type and within its validator, the cross-field rules of Kafka's ``LogConfig.validateValues``.
  It returns the values as the strings Kafka stores and shows (``"compact,delete"``,
  ``"true"``), which is what the controller's metadata log keeps.
* :func:`typed_topic_configs` reads stored values back as typed values.

Every refusal is :class:`~reflog.errors.InvalidConfigError` (``INVALID_CONFIG``, 40) with
Kafka's message: "Unknown topic config name: N" for a name Kafka does not have, the
``ConfigException`` text for a bad value, and "Topic config N is not supported by reflog yet"
for a Kafka topic config reflog does not implement (a listed deviation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from reflog.errors import InvalidConfigError
from reflog.log.config_def import (
    INT_MAX,
    LONG_MAX,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Range,
    ValidList,
    ValidString,
)

_DAY_MS = 24 * 60 * 60 * 1000
RECORD_OVERHEAD_V0: Final = 14
"""Kafka's ``LegacyRecord.RECORD_OVERHEAD_V0``: the least ``segment.bytes`` its ``LogConfig`` accepts."""
BROKER_COMPRESSION_TYPES: Final = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
"""Kafka's ``BrokerCompressionType`` names, in its order."""
TIMESTAMP_TYPES: Final = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES: Final = ("compact", "delete")

_L, _I, _B, _S, _D, _LIST = (
    ConfigType.LONG,
    ConfigType.INT,
    ConfigType.BOOLEAN,
    ConfigType.STRING,
    ConfigType.DOUBLE,
    ConfigType.LIST,
)

_KEYS: Final = (
    ConfigKey(
        "segment.bytes",
        _I,
        1024 * 1024 * 1024,
        Range(RECORD_OVERHEAD_V0),
        "The segment file size for the log; retention and cleaning work a file at a time.",
        "log.segment.bytes",
    ),
    ConfigKey(
        "segment.ms",
        _L,
        7 * _DAY_MS,
        Range(1),
        "The period after which the log rolls a new segment even if the current one is not full.",
        "log.roll.ms",
    ),
    ConfigKey(
        "segment.index.bytes",
        _I,
        10 * 1024 * 1024,
        Range(4),
        "The size of the index that maps offsets to file positions.",
        "log.index.size.max.bytes",
    ),
    ConfigKey(
        "index.interval.bytes",
        _I,
        4096,
        Range(0),
        "How often (in bytes of log) an entry is added to the offset index.",
        "log.index.interval.bytes",
    ),
    ConfigKey(
        "retention.bytes",
        _L,
        -1,
        None,
        "The largest size a partition can grow to before old segments are deleted (-1: no limit).",
        "log.retention.bytes",
    ),
    ConfigKey(
        "retention.ms",
        _L,
        7 * _DAY_MS,
        Range(-1),
        "How long a log segment is retained before it is deleted (-1: no time limit).",
        "log.retention.ms",
    ),
    ConfigKey(
        "flush.messages",
        _L,
        LONG_MAX,
        Range(1),
        "Force an fsync after this many messages have been written to the log.",
        "log.flush.interval.messages",
    ),
    ConfigKey(
        "flush.ms",
        _L,
        LONG_MAX,
        Range(0),
        "Force an fsync when the last one is this long ago.",
        "log.flush.interval.ms",
    ),
    ConfigKey(
        "max.message.bytes",
        _I,
        1024 * 1024 + 12,
        Range(0),
        "The largest record batch size the log accepts (after compression).",
        "message.max.bytes",
    ),
    ConfigKey(
        "min.insync.replicas",
        _I,
        1,
        Range(1),
        "With acks=all, the least number of in-sync replicas that must acknowledge a write.",
        "min.insync.replicas",
    ),
    ConfigKey(
        "unclean.leader.election.enable",
        _B,
        False,
        None,
        "Whether a replica outside the ISR may be elected leader as a last resort (data may be lost).",
        "unclean.leader.election.enable",
    ),
    ConfigKey(
        "compression.type",
        _S,
        "producer",
        ValidString(BROKER_COMPRESSION_TYPES),
        "The final compression of the topic's batches: a codec, 'uncompressed', or 'producer' "
        "(keep the producer's codec).",
        "compression.type",
    ),
    ConfigKey(
        "message.timestamp.type",
        _S,
        "CreateTime",
        ValidString(TIMESTAMP_TYPES),
        "Whether a record's timestamp is the producer's (CreateTime) or the leader's append time "
        "(LogAppendTime).",
        "log.message.timestamp.type",
    ),
    ConfigKey(
        "cleanup.policy",
        _LIST,
        ("delete",),
        ValidList(CLEANUP_POLICIES),
        "'delete' discards old segments by retention; 'compact' keeps the last record of each key.",
        "log.cleanup.policy",
    ),
    ConfigKey(
        "delete.retention.ms",
        _L,
        _DAY_MS,
        Range(0),
        "How long tombstones are kept on a compacted topic.",
        "log.cleaner.delete.retention.ms",
    ),
    ConfigKey(
        "min.cleanable.dirty.ratio",
        _D,
        0.5,
        Range(0, 1),
        "The least ratio of dirty log to total log for the log to be compacted.",
        "log.cleaner.min.cleanable.ratio",
    ),
    ConfigKey(
        "min.compaction.lag.ms",
        _L,
        0,
        Range(0),
        "The least time a record stays uncompacted.",
        "log.cleaner.min.compaction.lag.ms",
    ),
    ConfigKey(
        "max.compaction.lag.ms",
        _L,
        LONG_MAX,
        Range(1),
        "The most time a record may stay ineligible for compaction.",
        "log.cleaner.max.compaction.lag.ms",
    ),
)

TOPIC_CONFIGS: Final[dict[str, ConfigKey]] = {key.name: key for key in _KEYS}
"""Kafka 4's definition of every topic config reflog implements, by name."""

UNSUPPORTED_TOPIC_CONFIGS: Final = frozenset(
    {
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.zstd.level",
        "file.delete.delay.ms",
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "message.downconversion.enable",
        "message.format.version",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.difference.max.ms",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "segment.jitter.ms",
    }
)
"""Kafka topic configs reflog does not implement (refused with a message saying so)."""


def topic_config_key(name: str) -> ConfigKey:
    """The definition of topic config ``name``; :class:`InvalidConfigError` as Kafka's for an
    unknown name, and for one reflog does not implement."""
    key = TOPIC_CONFIGS.get(name)
    if key is not None:
        return key
    if name in UNSUPPORTED_TOPIC_CONFIGS:
        raise InvalidConfigError(f"Topic config {name} is not supported by reflog yet")
    raise InvalidConfigError(f"Unknown topic config name: {name}")


def validate_topic_configs(configs: Mapping[str, object]) -> dict[str, str]:
    """Check a topic's configs as Kafka's ``LogConfig.validate`` does; the values as Kafka's strings.

    Values may be the strings the protocol carries or Python values (``1``, ``True``,
    ``{"compact"}``); see the module docstring for every refusal.
    """
    typed: dict[str, ConfigValue] = {}
    for name, raw in configs.items():
        if raw is None:
            raise InvalidConfigError(f"Invalid value null for configuration {name}")
        typed[name] = topic_config_key(name).parse(raw)
    _cross_checks(typed)
    return {name: TOPIC_CONFIGS[name].to_string(value) for name, value in typed.items()}


def typed_topic_configs(configs: Mapping[str, object]) -> dict[str, ConfigValue]:
    """Stored topic configs (strings, or the ints of an older metadata log) as typed values.

    Raises :class:`InvalidConfigError` as :func:`validate_topic_configs` does.
    """
    return {name: topic_config_key(name).parse(raw) for name, raw in configs.items()}


def _cross_checks(typed: Mapping[str, ConfigValue]) -> None:
    """Kafka's ``LogConfig.validateValues`` rules between two configs reflog has."""
    low = typed.get("min.compaction.lag.ms", TOPIC_CONFIGS["min.compaction.lag.ms"].default)
    high = typed.get("max.compaction.lag.ms", TOPIC_CONFIGS["max.compaction.lag.ms"].default)
    assert isinstance(low, int) and isinstance(high, int)
    if low > high:
        raise InvalidConfigError(
            f"conflict topic config setting min.compaction.lag.ms ({low}) > max.compaction.lag.ms ({high})"
        )


__all__ = [
    "BROKER_COMPRESSION_TYPES",
    "CLEANUP_POLICIES",
    "INT_MAX",
    "LONG_MAX",
    "RECORD_OVERHEAD_V0",
    "TIMESTAMP_TYPES",
    "TOPIC_CONFIGS",
    "UNSUPPORTED_TOPIC_CONFIGS",
    "topic_config_key",
    "typed_topic_configs",
    "validate_topic_configs",
]
