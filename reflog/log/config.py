"""Log configuration under Kafka's names, with Kafka's defaults.

Each field is a topic-level config of Kafka's (``segment.bytes`` is ``segment_bytes``), checked
by the validator of its definition in :data:`reflog.log.topic_configs.TOPIC_CONFIGS` (LOG-26);
:meth:`LogConfig.from_properties` accepts the dotted names and string values a Kafka user would
write. A log reads its config through ``Log.config``, which a config change replaces (LOG-27).
Kafka's "never" for the flush knobs is ``Long.MAX_VALUE`` (:data:`LONG_MAX`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from reflog.errors import InvalidConfigError, ReflogUsageError
from reflog.log.config_def import INT_MAX, LONG_MAX, ConfigValue
from reflog.log.topic_configs import (
    RECORD_OVERHEAD_V0,
    TOPIC_CONFIGS,
    UNSUPPORTED_TOPIC_CONFIGS,
    validate_topic_configs,
)

_DAY_MS = 24 * 60 * 60 * 1000
CLEANUP_POLICY_DELETE = "delete"
CLEANUP_POLICY_COMPACT = "compact"


def _kafka_bound(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """The field's Kafka validator (:data:`TOPIC_CONFIGS`), as a :class:`ReflogUsageError`."""
    key = TOPIC_CONFIGS[attribute.name.replace("_", ".")]
    try:
        if key.validator is not None:
            key.validator.check(key.name, _typed_for_check(value))
    except InvalidConfigError as exc:
        raise ReflogUsageError(str(exc)) from None


def _typed_for_check(value: object) -> ConfigValue:
    if isinstance(value, frozenset):
        return tuple(sorted(value))
    assert isinstance(value, (int, float, str, tuple))
    return value


def _policy_set(value: object) -> frozenset[str]:
    """``cleanup.policy`` as a set: from Kafka's comma-separated text (``"compact,delete"``; empty:
    neither, Kafka 4.2's infinite retention) or any collection of policy names; the field's
    validator then checks each name."""
    if isinstance(value, str):
        return frozenset(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, (frozenset, set, list, tuple)):
        return frozenset(str(item) for item in value)
    raise ReflogUsageError(f"cleanup.policy must be a list of policy names, got {value!r}")


@attrs.frozen
class LogConfig:
    """Per-log settings, within Kafka's bounds. Unknown or invalid values raise :class:`ReflogUsageError`."""

    #: ``segment.bytes``: roll the active segment when an append would take it past this size.
    segment_bytes: int = attrs.field(default=1024 * 1024 * 1024, validator=_kafka_bound)
    #: ``segment.ms``: roll the active segment once it is this old (and not empty).
    segment_ms: int = attrs.field(default=7 * _DAY_MS, validator=_kafka_bound)
    #: ``segment.index.bytes``: the offset index's maximum size; a full index rolls the segment.
    segment_index_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=_kafka_bound)
    #: ``index.interval.bytes``: add an index entry after this many bytes of log.
    index_interval_bytes: int = attrs.field(default=4096, validator=_kafka_bound)
    #: ``retention.bytes``: delete old segments beyond this total size (negative: no limit).
    retention_bytes: int = attrs.field(default=-1, validator=_kafka_bound)
    #: ``retention.ms``: delete segments whose newest record is older than this (-1: keep forever).
    retention_ms: int = attrs.field(default=7 * _DAY_MS, validator=_kafka_bound)
    #: ``flush.messages``: fsync after this many messages have been appended since the last flush.
    flush_messages: int = attrs.field(default=LONG_MAX, validator=_kafka_bound)
    #: ``flush.ms``: fsync when the last flush is this long ago (checked by :meth:`Log.flush_if_due`).
    flush_ms: int = attrs.field(default=LONG_MAX, validator=_kafka_bound)
    #: ``max.message.bytes``: the largest record batch the log accepts.
    max_message_bytes: int = attrs.field(default=1024 * 1024 + 12, validator=_kafka_bound)
    #: ``compression.type``: the codec batches are stored with ("producer": as the producer sent them).
    compression_type: str = attrs.field(default="producer", validator=_kafka_bound)
    #: ``message.timestamp.type``: ``CreateTime``, or ``LogAppendTime`` (the leader stamps its clock).
    message_timestamp_type: str = attrs.field(default="CreateTime", validator=_kafka_bound)
    #: ``cleanup.policy``: ``delete`` (retention), ``compact`` (the log cleaner), or both.
    cleanup_policy: frozenset[str] = attrs.field(
        default=frozenset({CLEANUP_POLICY_DELETE}), converter=_policy_set, validator=_kafka_bound
    )
    #: ``delete.retention.ms``: how long a compacted topic keeps its tombstones.
    delete_retention_ms: int = attrs.field(default=_DAY_MS, validator=_kafka_bound)
    #: ``min.cleanable.dirty.ratio``: the dirty share of the log that makes it cleanable.
    min_cleanable_dirty_ratio: float = attrs.field(default=0.5, validator=_kafka_bound)
    #: ``min.compaction.lag.ms``: the least time a record stays uncompacted.
    min_compaction_lag_ms: int = attrs.field(default=0, validator=_kafka_bound)
    #: ``max.compaction.lag.ms``: the most time a record may stay ineligible for compaction.
    max_compaction_lag_ms: int = attrs.field(default=LONG_MAX, validator=_kafka_bound)

    @property
    def compact(self) -> bool:
        """Whether the log cleaner compacts this log (``compact`` in ``cleanup.policy``)."""
        return CLEANUP_POLICY_COMPACT in self.cleanup_policy

    @property
    def delete(self) -> bool:
        """Whether retention deletes old segments (``delete`` in ``cleanup.policy``)."""
        return CLEANUP_POLICY_DELETE in self.cleanup_policy

    @classmethod
    def from_properties(cls, properties: Mapping[str, object]) -> LogConfig:
        """Build a config from Kafka's dotted names (``{"flush.messages": 1}``, ``{"cleanup.policy":
        "compact,delete"}``), each value parsed as its Kafka type (strings as a client sends them).

        Raises :class:`ReflogUsageError` for a name that is not a log config here, or a value
        Kafka's parse or validator refuses.
        """
        return cls(**_field_values(properties))


def _field_values(properties: Mapping[str, object]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in properties.items():
        field = name.replace(".", "_")
        if field not in _FIELDS:
            raise ReflogUsageError(f"unknown log config {name!r}; known: {sorted(KAFKA_NAMES)}")
        try:
            value = TOPIC_CONFIGS[name].parse(raw)
        except InvalidConfigError as exc:
            raise ReflogUsageError(str(exc)) from None
        values[field] = frozenset(value) if isinstance(value, tuple) else value
    return values


_FIELDS = {f.name for f in attrs.fields(LogConfig) if f.init}
KAFKA_NAMES = frozenset(name.replace("_", ".") for name in _FIELDS)
"""The dotted Kafka names :meth:`LogConfig.from_properties` accepts."""


@attrs.frozen
class LogManagerConfig:
    """Broker-level settings of the log manager (Kafka's ``log.*`` server configs)."""

    #: ``log.flush.offset.checkpoint.interval.ms``: how often the recovery points are checkpointed.
    log_flush_offset_checkpoint_interval_ms: int = 60_000
    #: ``log.flush.scheduler.interval.ms``: how often logs are checked against ``flush.ms``.
    log_flush_scheduler_interval_ms: int = LONG_MAX


__all__ = [
    "INT_MAX",
    "KAFKA_NAMES",
    "LONG_MAX",
    "RECORD_OVERHEAD_V0",
    "UNSUPPORTED_TOPIC_CONFIGS",
    "LogConfig",
    "LogManagerConfig",
    "validate_topic_configs",
]
