"""Log configuration under Kafka's names, with Kafka's defaults.

Each field is a topic-level config of Kafka's (``segment.bytes`` is ``segment_bytes``);
:meth:`LogConfig.from_properties` accepts the dotted names a Kafka user would write.
Kafka's "never" for the flush knobs is ``Long.MAX_VALUE`` (:data:`LONG_MAX`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from reflog.errors import InvalidConfigError, ReflogUsageError

LONG_MAX = 2**63 - 1
"""Java's ``Long.MAX_VALUE``: Kafka's default for ``flush.messages`` and ``flush.ms`` (never)."""
INT_MAX = 2**31 - 1
"""Java's ``Integer.MAX_VALUE``: the bound of Kafka's ``INT`` configs."""

_DAY_MS = 24 * 60 * 60 * 1000
_LONG_MIN = -(2**63)
_INT_MIN = -(2**31)
RECORD_OVERHEAD_V0 = 14
"""Kafka's ``LegacyRecord.RECORD_OVERHEAD_V0``: the least ``segment.bytes`` its ``LogConfig`` accepts."""


@attrs.frozen
class Bound:
    """A numeric topic config's type and least value, as Kafka's ``LogConfig`` defines it."""

    low: int
    high: int  # INT_MAX for Kafka's INT type, LONG_MAX for LONG

    def check(self, name: str, value: int) -> None:
        """Raises :class:`InvalidConfigError` (Kafka's ``ConfigException`` message) when out of range."""
        if not self.low <= value <= self.high:
            if value > self.high:
                kind = "INT" if self.high == INT_MAX else "LONG"
                raise InvalidConfigError(
                    f"Invalid value {value} for configuration {name}: Not a number of type {kind}"
                )
            raise InvalidConfigError(
                f"Invalid value {value} for configuration {name}: Value must be at least {self.low}"
            )


#: Kafka 4's bounds for the numeric topic configs reflog implements (``LogConfig.CONFIG``).
TOPIC_CONFIG_BOUNDS: dict[str, Bound] = {
    "segment.bytes": Bound(RECORD_OVERHEAD_V0, INT_MAX),
    "segment.ms": Bound(1, LONG_MAX),
    "segment.index.bytes": Bound(4, INT_MAX),
    "index.interval.bytes": Bound(0, INT_MAX),
    "retention.bytes": Bound(_LONG_MIN, LONG_MAX),  # negative: no limit
    "retention.ms": Bound(-1, LONG_MAX),  # -1: keep forever
    "flush.messages": Bound(1, LONG_MAX),
    "flush.ms": Bound(0, LONG_MAX),
    "max.message.bytes": Bound(0, INT_MAX),
    "min.insync.replicas": Bound(1, INT_MAX),
    "delete.retention.ms": Bound(0, LONG_MAX),
    "min.compaction.lag.ms": Bound(0, LONG_MAX),
    "max.compaction.lag.ms": Bound(1, LONG_MAX),
}
CLEANUP_POLICY_DELETE = "delete"
CLEANUP_POLICY_COMPACT = "compact"
#: Kafka's ``cleanup.policy`` values (a list of them).
CLEANUP_POLICIES = (CLEANUP_POLICY_COMPACT, CLEANUP_POLICY_DELETE)
DOUBLE_TOPIC_CONFIGS: dict[str, tuple[float, float]] = {"min.cleanable.dirty.ratio": (0.0, 1.0)}
"""Kafka's ``DOUBLE`` topic configs reflog implements, with their ``Range.between`` bounds."""
BOOLEAN_TOPIC_CONFIGS = frozenset({"unclean.leader.election.enable"})
#: Kafka topic configs reflog does not implement yet (string, list, double or boolean values).
UNSUPPORTED_TOPIC_CONFIGS = frozenset(
    {
        "compression.type",
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
        "message.timestamp.type",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "segment.jitter.ms",
    }
)


TopicConfigValue = int | str
"""A checked topic config value: a number (booleans as 0/1), or the canonical text of a list or
double (``cleanup.policy`` as ``"compact,delete"``, ``min.cleanable.dirty.ratio`` as ``"0.5"``)."""


def validate_topic_configs(configs: Mapping[str, object]) -> dict[str, TopicConfigValue]:
    """Kafka's CreateTopics checks on topic configs; returns them as numbers or canonical text.

    Numbers may come as ints or as the strings the protocol carries (``"1048576"``); the boolean
    ``unclean.leader.election.enable`` as ``true``/``false`` (any case) or 0/1; ``cleanup.policy``
    as a comma-separated list of ``compact`` and ``delete``; ``min.cleanable.dirty.ratio`` as a
    number in [0, 1]. ``min.compaction.lag.ms`` above ``max.compaction.lag.ms`` is refused, as
    Kafka's ``LogConfig.validateValues`` does. Raises
    :class:`InvalidConfigError` (``INVALID_CONFIG``, 40) with Kafka's message for a name Kafka
    does not know ("Unknown topic config name: ..."), a value that is not a number of the
    config's type or is out of its bounds (:data:`TOPIC_CONFIG_BOUNDS`), and, with a message
    saying so, for a Kafka topic config reflog does not implement.
    """
    values: dict[str, TopicConfigValue] = {}
    for name, raw in configs.items():
        if name in UNSUPPORTED_TOPIC_CONFIGS:
            raise InvalidConfigError(f"Topic config {name} is not supported by reflog yet")
        if name in BOOLEAN_TOPIC_CONFIGS:
            values[name] = _boolean(name, raw)
            continue
        if name == "cleanup.policy":
            values[name] = ",".join(sorted(parse_cleanup_policy(raw, error=InvalidConfigError)))
            continue
        if name in DOUBLE_TOPIC_CONFIGS:
            values[name] = repr(_double(name, raw, error=InvalidConfigError))
            continue
        bound = TOPIC_CONFIG_BOUNDS.get(name)
        if bound is None:
            raise InvalidConfigError(f"Unknown topic config name: {name}")
        value = _number(name, raw)
        bound.check(name, value)
        values[name] = value
    low = values.get("min.compaction.lag.ms", 0)
    high = values.get("max.compaction.lag.ms", LONG_MAX)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise InvalidConfigError(
            f"conflict topic config setting min.compaction.lag.ms ({low}) > max.compaction.lag.ms ({high})"
        )
    return values


def parse_cleanup_policy(raw: object, *, error: type[Exception] = ReflogUsageError) -> frozenset[str]:
    """Kafka's ``cleanup.policy`` list (``"compact,delete"``, spaces allowed) as a set.

    Raises ``error`` with Kafka's ``ValidList`` message for a value other than ``compact`` and
    ``delete``, and for an empty list.
    """
    items = list(raw) if isinstance(raw, (frozenset, set, list, tuple)) else str(raw).split(",")
    policies = frozenset(str(item).strip() for item in items)
    if not policies or not policies <= set(CLEANUP_POLICIES):
        text = raw if isinstance(raw, str) else ",".join(sorted(str(i) for i in items))
        raise error(
            f"Invalid value {text} for configuration cleanup.policy: String must be one of: compact, delete"
        )
    return policies


def _double(name: str, raw: object, *, error: type[Exception] = ReflogUsageError) -> float:
    low, high = DOUBLE_TOPIC_CONFIGS[name]
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise error(f"Invalid value {raw!r} for configuration {name}: Not a number of type DOUBLE")
    try:
        value = float(raw)
    except ValueError:
        raise error(f"Invalid value {raw} for configuration {name}: Not a number of type DOUBLE") from None
    if not value >= low:  # also refuses NaN
        raise error(f"Invalid value {raw} for configuration {name}: Value must be at least {low}")
    if value > high:
        raise error(f"Invalid value {raw} for configuration {name}: Value must be no more than {high}")
    return value


def _number(name: str, raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidConfigError(f"Invalid value {raw!r} for configuration {name}: Not a number")
    try:
        return int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        raise InvalidConfigError(f"Invalid value {raw} for configuration {name}: Not a number") from None


def _boolean(name: str, raw: object) -> int:
    text = str(raw).strip().lower()
    if isinstance(raw, bool) or text in ("true", "false", "0", "1"):
        return int(text in ("true", "1"))
    raise InvalidConfigError(
        f"Invalid value {raw} for configuration {name}: Expected value to be either true or false"
    )


def _kafka_bound(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    name = attribute.name.replace("_", ".")
    try:
        TOPIC_CONFIG_BOUNDS[name].check(name, value)
    except InvalidConfigError as exc:
        raise ReflogUsageError(str(exc)) from None


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
    #: ``cleanup.policy``: ``delete`` (retention), ``compact`` (the log cleaner), or both.
    cleanup_policy: frozenset[str] = attrs.field(
        default=frozenset({CLEANUP_POLICY_DELETE}), converter=parse_cleanup_policy
    )
    #: ``delete.retention.ms``: how long a tombstone stays after its batch was first cleaned.
    delete_retention_ms: int = attrs.field(default=_DAY_MS, validator=_kafka_bound)
    #: ``min.cleanable.dirty.ratio``: clean once this share of the cleanable bytes is dirty.
    min_cleanable_dirty_ratio: float = attrs.field(default=0.5, converter=float)
    #: ``min.compaction.lag.ms``: a record stays uncompacted at least this long.
    min_compaction_lag_ms: int = attrs.field(default=0, validator=_kafka_bound)
    #: ``max.compaction.lag.ms``: a dirty record becomes cleanable after this long, whatever the ratio.
    max_compaction_lag_ms: int = attrs.field(default=LONG_MAX, validator=_kafka_bound)

    @min_cleanable_dirty_ratio.validator
    def _ratio(self, _attribute: attrs.Attribute[float], value: float) -> None:
        _double("min.cleanable.dirty.ratio", value)

    @property
    def compact(self) -> bool:
        """Whether the log cleaner compacts this log (``compact`` in ``cleanup.policy``)."""
        return CLEANUP_POLICY_COMPACT in self.cleanup_policy

    @property
    def delete(self) -> bool:
        """Whether retention deletes old segments (``delete`` in ``cleanup.policy``)."""
        return CLEANUP_POLICY_DELETE in self.cleanup_policy

    @classmethod
    def from_properties(cls, properties: Mapping[str, int | str]) -> LogConfig:
        """Build a config from Kafka's dotted names (``{"flush.messages": 1}``).

        Raises :class:`ReflogUsageError` for a name Kafka's topic configs do not have here.
        """
        return cls(**_field_values(properties))


def _field_values(properties: Mapping[str, int | str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in properties.items():
        field = name.replace(".", "_")
        if field not in _FIELDS:
            raise ReflogUsageError(f"unknown log config {name!r}; known: {sorted(KAFKA_NAMES)}")
        if field == "cleanup_policy":
            values[field] = parse_cleanup_policy(value)
        elif name in DOUBLE_TOPIC_CONFIGS:
            values[field] = _double(name, value)
        else:
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
