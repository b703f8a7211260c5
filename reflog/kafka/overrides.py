"""Broker configs by Kafka's names for ``reflog serve --override NAME=VALUE``.

Kafka's ``kafka-server-start.sh`` takes ``--override name=value`` for any ``server.properties``
setting; ``reflog serve`` does the same for the settings reflog has, each landing in the object
that owns it: :class:`~reflog.broker.BrokerConfig` (replication and fetch limits),
:class:`~reflog.replication.controller.ControllerConfig` (cluster defaults and the session
timeout), :class:`~reflog.kafka.groups.GroupConfig` (the group coordinator) or a keyword of
:func:`~reflog.kafka.serve.open_kafka_cluster` (listener limits). Names Kafka does not have carry
the ``reflog.`` prefix (specs/protocol.md, Deviations).

:func:`parse_overrides` raises :class:`~reflog.errors.InvalidConfigError` (``INVALID_CONFIG``)
for an unknown name, a value that is not of the setting's type, or one below its minimum; the
message follows Kafka's ``ConfigException`` wording.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final, Literal

import attrs

from reflog.broker.config import BrokerConfig
from reflog.errors import InvalidConfigError
from reflog.kafka.groups import GroupConfig
from reflog.replication.controller_config import ControllerConfig

Owner = Literal["broker", "controller", "group", "serve"]
INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1
_DECIMAL: Final = re.compile(r"[+-]?[0-9]+")


@attrs.frozen
class Setting:
    """One overridable config: who owns it, under which field, its type and its least value."""

    owner: Owner
    field: str
    kind: Literal["int", "long", "boolean"] = "int"
    minimum: int | None = 0


SETTINGS: Final[dict[str, Setting]] = {
    # BrokerConfig
    "replica.lag.time.max.ms": Setting("broker", "replica_lag_time_max_ms", "long"),
    "replica.fetch.wait.max.ms": Setting("broker", "replica_fetch_wait_max_ms"),
    "replica.fetch.backoff.ms": Setting("broker", "replica_fetch_backoff_ms"),
    "replica.fetch.max.bytes": Setting("broker", "replica_fetch_max_bytes"),
    "replica.fetch.response.max.bytes": Setting("broker", "replica_fetch_response_max_bytes"),
    "replica.socket.timeout.ms": Setting("broker", "replica_socket_timeout_ms"),
    "replica.high.watermark.checkpoint.interval.ms": Setting(
        "broker", "replica_high_watermark_checkpoint_interval_ms", "long", 1
    ),
    "fetch.max.bytes": Setting("broker", "fetch_max_bytes"),
    "broker.heartbeat.interval.ms": Setting("broker", "broker_heartbeat_interval_ms", minimum=1),
    "log.retention.check.interval.ms": Setting("broker", "log_maintenance_interval_ms", "long", 1),
    "reflog.fetch.max.wait.ms": Setting("broker", "fetch_max_wait_ms"),
    # ControllerConfig
    "min.insync.replicas": Setting("controller", "min_insync_replicas", minimum=1),
    "unclean.leader.election.enable": Setting("controller", "unclean_leader_election_enable", "boolean"),
    "broker.session.timeout.ms": Setting("controller", "broker_session_timeout_ms", minimum=1),
    # GroupConfig
    "group.initial.rebalance.delay.ms": Setting("group", "group_initial_rebalance_delay_ms"),
    "group.min.session.timeout.ms": Setting("group", "group_min_session_timeout_ms"),
    "group.max.session.timeout.ms": Setting("group", "group_max_session_timeout_ms"),
    "offsets.topic.num.partitions": Setting("group", "offsets_topic_num_partitions", minimum=1),
    "offsets.topic.replication.factor": Setting("group", "offsets_topic_replication_factor", minimum=1),
    "offsets.commit.timeout.ms": Setting("group", "offsets_commit_timeout_ms", minimum=1),
    # open_kafka_cluster
    "auto.create.topics.enable": Setting("serve", "auto_create_topics", "boolean"),
    "default.replication.factor": Setting("serve", "default_replication_factor", minimum=1),
    "socket.request.max.bytes": Setting("serve", "max_request_size", minimum=1),
    "connections.max.idle.ms": Setting("serve", "connections_max_idle_ms", "long", None),
    "queued.max.request.bytes": Setting("serve", "queued_max_request_bytes", "long", -1),
    "reflog.tls.handshake.timeout.ms": Setting("serve", "tls_handshake_timeout_ms", minimum=1),
    "reflog.max.partitions.per.request": Setting("serve", "max_partitions_per_request", minimum=1),
}


@attrs.frozen
class Overrides:
    """What ``--override`` settings give :func:`~reflog.kafka.serve.open_kafka_cluster`."""

    broker_config: BrokerConfig | None = None
    controller_config: ControllerConfig | None = None
    group_config: GroupConfig | None = None
    serve: dict[str, int | bool] = attrs.field(factory=dict)

    def keywords(self) -> dict[str, Any]:
        """Keyword arguments for ``open_kafka_cluster`` (only what was overridden)."""
        chosen: dict[str, Any] = dict(self.serve)
        for name in ("broker_config", "controller_config", "group_config"):
            value = getattr(self, name)
            if value is not None:
                chosen[name] = value
        return chosen


def _value(name: str, setting: Setting, text: str) -> int | bool:
    invalid = f"Invalid value {text} for configuration {name}"
    if setting.kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise InvalidConfigError(f"{invalid}: Expected value to be either true or false")
        return lowered == "true"
    kind, bound = ("INT", INT32_MAX) if setting.kind == "int" else ("LONG", INT64_MAX)
    if not _DECIMAL.fullmatch(text.strip()):  # int() would take "1_000" too; Java's parseInt does not
        raise InvalidConfigError(f"{invalid}: Not a number of type {kind}")
    number = int(text.strip())
    if not -bound - 1 <= number <= bound:
        raise InvalidConfigError(f"{invalid}: Not a number of type {kind}")
    if setting.minimum is not None and number < setting.minimum:
        raise InvalidConfigError(
            f"Invalid value {number} for configuration {name}: Value must be at least {setting.minimum}"
        )
    return number


def parse_overrides(items: Iterable[str]) -> Overrides:
    """``NAME=VALUE`` each (the last one of a name wins, as in a properties file).

    Raises :class:`InvalidConfigError` for a malformed item, an unknown name (the message lists
    the known ones), a value of the wrong type or below the setting's minimum.
    """
    values: dict[str, int | bool] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidConfigError(f"--override takes NAME=VALUE, got {item!r}")
        setting = SETTINGS.get(name)
        if setting is None:
            known = ", ".join(sorted(SETTINGS))
            raise InvalidConfigError(f"Unknown broker config name: {name} (reflog serve knows: {known})")
        values[name] = _value(name, setting, text)
    by_owner: dict[Owner, dict[str, Any]] = {"broker": {}, "controller": {}, "group": {}, "serve": {}}
    for name, value in values.items():
        setting = SETTINGS[name]
        by_owner[setting.owner][setting.field] = value
    broker = by_owner["broker"]
    controller = by_owner["controller"]
    group = by_owner["group"]
    group_config = attrs.evolve(GroupConfig(), **group) if group else None
    if (
        group_config is not None
        and group_config.group_min_session_timeout_ms > group_config.group_max_session_timeout_ms
    ):
        raise InvalidConfigError("group.min.session.timeout.ms must not exceed group.max.session.timeout.ms")
    return Overrides(
        broker_config=attrs.evolve(BrokerConfig(), **broker) if broker else None,
        # open_kafka_cluster's own default controller elects the last known leader (CTL-25)
        controller_config=(
            attrs.evolve(ControllerConfig(elect_last_known_leader=True), **controller) if controller else None
        ),
        group_config=group_config,
        serve=by_owner["serve"],
    )


__all__ = ["SETTINGS", "Overrides", "Setting", "parse_overrides"]
