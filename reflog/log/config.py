"""Log configuration under Kafka's names, with Kafka's defaults.

Each field is a topic-level config of Kafka's (``segment.bytes`` is ``segment_bytes``);
:meth:`LogConfig.from_properties` accepts the dotted names a Kafka user would write.
Kafka's "never" for the flush knobs is ``Long.MAX_VALUE`` (:data:`LONG_MAX`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from reflog.errors import ReflogUsageError

LONG_MAX = 2**63 - 1
"""Java's ``Long.MAX_VALUE``: Kafka's default for ``flush.messages`` and ``flush.ms`` (never)."""

_DAY_MS = 24 * 60 * 60 * 1000


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ReflogUsageError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class LogConfig:
    """Per-log settings. Unknown or invalid values raise :class:`ReflogUsageError`."""

    #: ``segment.bytes``: roll the active segment when an append would take it past this size.
    segment_bytes: int = attrs.field(default=1024 * 1024 * 1024, validator=_positive)
    #: ``segment.ms``: roll the active segment once it is this old (and not empty).
    segment_ms: int = attrs.field(default=7 * _DAY_MS, validator=_positive)
    #: ``segment.index.bytes``: the offset index's maximum size; a full index rolls the segment.
    segment_index_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=_positive)
    #: ``index.interval.bytes``: add an index entry after this many bytes of log.
    index_interval_bytes: int = attrs.field(default=4096, validator=_positive)
    #: ``retention.bytes``: delete old segments beyond this total size (-1: no limit).
    retention_bytes: int = -1
    #: ``retention.ms``: delete segments whose newest record is older than this (-1: keep forever).
    retention_ms: int = 7 * _DAY_MS
    #: ``flush.messages``: fsync after this many messages have been appended since the last flush.
    flush_messages: int = attrs.field(default=LONG_MAX, validator=_positive)
    #: ``flush.ms``: fsync when the last flush is this long ago (checked by :meth:`Log.flush_if_due`).
    flush_ms: int = attrs.field(default=LONG_MAX, validator=_positive)
    #: ``max.message.bytes``: the largest record batch the log accepts.
    max_message_bytes: int = attrs.field(default=1024 * 1024 + 12, validator=_positive)

    @classmethod
    def from_properties(cls, properties: Mapping[str, int | str]) -> LogConfig:
        """Build a config from Kafka's dotted names (``{"flush.messages": 1}``).

        Raises :class:`ReflogUsageError` for a name Kafka's topic configs do not have here.
        """
        return cls(**_field_values(properties))

    def with_overrides(self, properties: Mapping[str, int | str]) -> LogConfig:
        """A copy of this config with Kafka-named ``properties`` applied."""
        return attrs.evolve(self, **_field_values(properties))


def _field_values(properties: Mapping[str, int | str]) -> dict[str, int]:
    values: dict[str, int] = {}
    for name, value in properties.items():
        field = name.replace(".", "_")
        if field not in _FIELDS:
            raise ReflogUsageError(f"unknown log config {name!r}; known: {sorted(KAFKA_NAMES)}")
        values[field] = int(value)
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
