"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs (PRO-100..PRO-104).

:class:`ConfigApis` serves Kafka's config APIs for TOPIC and BROKER resources:

* DescribeConfigs lists a topic's every config reflog implements
  (:data:`~reflog.log.topic_configs.TOPIC_CONFIGS`) with its value, ``config_source``
  (``TOPIC_CONFIG`` for an override, else its broker synonym's ``STATIC_BROKER_CONFIG`` or
  ``DEFAULT_CONFIG``), ``read_only`` false, ``is_sensitive`` false, the synonyms when asked
  (the override, then the broker config that supplies the default) and, at v3+, the type and,
  when asked, the documentation. A broker (its id as the name) lists the settings reflog has
  (:mod:`reflog.kafka.overrides` and the topic defaults' broker names), all read-only.
* AlterConfigs replaces a topic's whole override set; IncrementalAlterConfigs applies SET,
  DELETE, APPEND and SUBTRACT (the last two on LIST configs only). The resulting set is
  checked as CreateTopics checks configs, made durable through the controller and put into
  effect on the live logs (:meth:`reflog.cluster.Cluster.alter_topic_configs`);
  ``validate_only`` checks without changing anything. A broker's configs cannot be altered
  (``INVALID_CONFIG``, "Cannot update these configs dynamically", a listed deviation).

Every refusal is a per-resource error code and message, as Kafka's: ``INVALID_REQUEST`` for a
resource named twice, duplicate keys, a null value, an unknown operation or resource type;
``INVALID_TOPIC_EXCEPTION`` / ``UNKNOWN_TOPIC_OR_PARTITION`` for a topic; ``INVALID_CONFIG``
for a value. No handler raises for a request.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, Final

import attrs
import trio

from reflog.cluster import Cluster
from reflog.errors import Errors, ReflogError, ReflogUsageError
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.groups import GroupConfig
from reflog.kafka.overrides import SETTINGS
from reflog.kafka.versions import ApiKey
from reflog.log.config_def import ConfigType
from reflog.log.topic_configs import TOPIC_CONFIGS, topic_config_key, validate_topic_configs
from reflog.net.errors import NetError
from reflog.replication.controller_config import ControllerConfig
from reflog.vocabulary import topic_name_error


class ResourceType(enum.IntEnum):
    """Kafka's ``ConfigResource.Type`` ids."""

    TOPIC = 2
    BROKER = 4


class ConfigSource(enum.IntEnum):
    """Kafka's ``DescribeConfigsResponse.ConfigSource`` ids."""

    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


class OpType(enum.IntEnum):
    """Kafka's ``AlterConfigOp.OpType`` ids."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


_KINDS: Final = {"int": ConfigType.INT, "long": ConfigType.LONG, "boolean": ConfigType.BOOLEAN}
_CONTROLLER_SYNONYMS: Final = {
    "min.insync.replicas": "min_insync_replicas",
    "unclean.leader.election.enable": "unclean_leader_election_enable",
}
"""Topic configs whose broker default ``reflog serve --override`` can set (the controller's)."""


class ConfigRefusedError(ReflogError):
    """One resource's refusal: its Kafka error and message."""

    def __init__(self, error: Errors, message: str) -> None:
        super().__init__(message)
        self.error = error


@attrs.frozen
class Entry:
    """One described config: name, value, source, type, documentation, synonyms."""

    name: str
    value: str | None
    source: ConfigSource
    type: ConfigType
    doc: str | None
    read_only: bool
    synonyms: tuple[tuple[str, str | None, ConfigSource], ...] = ()


def _java_string(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class ConfigApis:
    """The config APIs of broker ``broker_id`` in ``cluster`` (see the module docstring).

    ``group_config`` and ``serve_settings`` (``auto.create.topics.enable`` and the like, by
    Kafka's name) are what a BROKER resource shows beside the broker's and controller's configs.
    """

    def __init__(
        self,
        cluster: Cluster,
        broker_id: int,
        group_config: GroupConfig,
        serve_settings: dict[str, int | bool],
    ) -> None:
        self.cluster = cluster
        self.broker_id = broker_id
        self.group_config = group_config
        self.serve_settings = serve_settings

    # ------------------------------------------------------------------ describing
    def _broker_default(self, name: str) -> tuple[str, ConfigSource]:
        """A topic config's broker-level value and its source (the override or Kafka's default)."""
        key = TOPIC_CONFIGS[name]
        field = _CONTROLLER_SYNONYMS.get(name)
        if field is None:
            return key.default_string, ConfigSource.DEFAULT_CONFIG
        value = getattr(self.cluster.controller.config, field)
        default = attrs.fields_dict(ControllerConfig)[field].default
        source = ConfigSource.DEFAULT_CONFIG if value == default else ConfigSource.STATIC_BROKER_CONFIG
        return _java_string(value), source

    def topic_entries(self, topic: str, *, synonyms: bool, documentation: bool) -> Iterator[Entry]:
        """Every topic config of ``topic``, as DescribeConfigs shows it."""
        overrides = self.cluster.topic_configs.get(topic, {})
        for name, key in TOPIC_CONFIGS.items():
            default, default_source = self._broker_default(name)
            chain: list[tuple[str, str | None, ConfigSource]] = []
            raw = overrides.get(name)
            if raw is not None:
                chain.append((name, key.to_string(key.parse(raw)), ConfigSource.TOPIC_CONFIG))
            if key.server_default is not None:
                chain.append((key.server_default, default, default_source))
            value, source = (chain[0][1], chain[0][2]) if chain else (default, ConfigSource.DEFAULT_CONFIG)
            yield Entry(
                name,
                value,
                source,
                key.type,
                key.doc if documentation else None,
                read_only=False,
                synonyms=tuple(chain) if synonyms else (),
            )

    def broker_entries(self, *, synonyms: bool) -> Iterator[Entry]:
        """The broker settings reflog has, read-only, then the topic defaults' broker names."""
        owners: dict[str, Any] = {
            "broker": self.cluster.broker(self.broker_id).broker.config,
            "controller": self.cluster.controller.config,
            "group": self.group_config,
        }
        seen: set[str] = set()
        for name, setting in SETTINGS.items():
            if setting.owner == "serve":
                if name not in self.serve_settings:
                    continue
                value: object = self.serve_settings[name]
                overridden = False
            else:
                owner = owners[setting.owner]
                value = getattr(owner, setting.field)
                overridden = value != attrs.fields_dict(type(owner))[setting.field].default
            source = ConfigSource.STATIC_BROKER_CONFIG if overridden else ConfigSource.DEFAULT_CONFIG
            text = _java_string(value)
            seen.add(name)
            chain = ((name, text, source),) if synonyms else ()
            yield Entry(name, text, source, _KINDS[setting.kind], None, read_only=True, synonyms=chain)
        for key in TOPIC_CONFIGS.values():
            server = key.server_default
            if server is None or server in seen:
                continue
            chain = ((server, key.default_string, ConfigSource.DEFAULT_CONFIG),) if synonyms else ()
            yield Entry(server, key.default_string, ConfigSource.DEFAULT_CONFIG, key.type, None, True, chain)

    def _describe_one(self, resource: KafkaMessage, synonyms: bool, documentation: bool) -> list[Entry]:
        kind, name = resource.resource_type, resource.resource_name
        if kind == ResourceType.TOPIC:
            if (why := topic_name_error(name)) is not None:
                raise ConfigRefusedError(Errors.INVALID_TOPIC_EXCEPTION, why)
            if not self._topic_exists(name):
                raise ConfigRefusedError(Errors.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name}")
            return list(self.topic_entries(name, synonyms=synonyms, documentation=documentation))
        if kind == ResourceType.BROKER:
            if not name:
                return []  # the cluster-wide dynamic defaults: reflog has none
            self._check_broker_name(name)
            return list(self.broker_entries(synonyms=synonyms))
        raise ConfigRefusedError(Errors.INVALID_REQUEST, f"Unsupported resource type: {kind}")

    def _check_broker_name(self, name: str) -> None:
        try:
            broker = int(name)
        except ValueError:
            raise ConfigRefusedError(
                Errors.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}"
            ) from None
        if broker != self.broker_id:
            raise ConfigRefusedError(
                Errors.INVALID_REQUEST,
                f"Unexpected broker id, expected {self.broker_id} or empty string, but received {name}",
            )

    def _topic_exists(self, name: str) -> bool:
        try:
            self.cluster.controller.topic_config(name)
        except ReflogUsageError:
            return False
        return True

    async def describe_configs(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.DESCRIBE_CONFIGS, version)
        result_cls = cls.DescribeConfigsResult
        entry_cls = result_cls.DescribeConfigsResourceResult
        synonym_cls = entry_cls.DescribeConfigsSynonym
        synonyms = bool(getattr(body, "include_synonyms", False))
        documentation = bool(getattr(body, "include_documentation", False))
        results = []
        for resource in body.resources:
            await trio.lowlevel.checkpoint()
            error, message, entries = Errors.NONE, None, []
            try:
                entries = self._describe_one(resource, synonyms, documentation)
            except ConfigRefusedError as exc:
                error, message = exc.error, str(exc)
            wanted = resource.configuration_keys
            if wanted:
                entries = [e for e in entries if e.name in set(wanted)]
            configs = [
                entry_cls(
                    name=e.name,
                    value=e.value,
                    read_only=e.read_only,
                    config_source=int(e.source),
                    is_sensitive=False,
                    synonyms=[synonym_cls(name=n, value=v, source=int(s)) for n, v, s in e.synonyms],
                    config_type=int(e.type),
                    documentation=e.doc,
                )
                for e in entries
            ]
            results.append(
                result_cls(
                    error_code=int(error),
                    error_message=message,
                    resource_type=resource.resource_type,
                    resource_name=resource.resource_name,
                    configs=configs,
                )
            )
        return cls(throttle_time_ms=0, results=results)

    # ------------------------------------------------------------------ altering
    def _incremental(self, topic: str, configs: list[KafkaMessage]) -> dict[str, str]:
        """The override set after Kafka's ``prepareIncrementalConfigs``."""
        result = {k: str(v) for k, v in self.cluster.topic_configs.get(topic, {}).items()}
        for config in configs:
            name, value = config.name, config.value
            try:
                op = OpType(config.config_operation)
            except ValueError:
                raise ConfigRefusedError(
                    Errors.INVALID_REQUEST, f"Unknown operations type {config.config_operation}"
                ) from None
            if op is OpType.SET:
                result[name] = value
                continue
            if op is OpType.DELETE:
                result.pop(name, None)
                continue
            key = topic_config_key(name)
            if key.type is not ConfigType.LIST:
                verb = "append" if op is OpType.APPEND else "subtract"
                raise ConfigRefusedError(
                    Errors.INVALID_CONFIG, f"Config value {verb} is not allowed for config key: {name}"
                )
            old = [v for v in result.get(name, key.default_string).split(",") if v]
            given = value.split(",")
            new = (
                old + [v for v in given if v not in old]
                if op is OpType.APPEND
                else [v for v in old if v not in given]
            )
            result[name] = ",".join(new)
        return result

    async def _alter(
        self, resources: list[KafkaMessage], validate_only: bool, incremental: bool
    ) -> list[tuple[Errors, str | None]]:
        named: dict[tuple[int, str], int] = {}
        for resource in resources:
            ident = (resource.resource_type, resource.resource_name)
            named[ident] = named.get(ident, 0) + 1
        outcomes: list[tuple[Errors, str | None]] = []
        for resource in resources:
            await trio.lowlevel.checkpoint()
            try:
                await self._alter_one(resource, named, validate_only, incremental)
            except ConfigRefusedError as exc:
                outcomes.append((exc.error, str(exc)))
            except ReflogError as exc:  # InvalidConfigError from a check, RequestRefusedError
                outcomes.append((Errors.of(exc.error_code), str(exc)))
            except (NetError, trio.TooSlowError):
                outcomes.append((Errors.REQUEST_TIMED_OUT, "the controller did not answer"))
            else:
                outcomes.append((Errors.NONE, None))
        return outcomes

    async def _alter_one(
        self,
        resource: KafkaMessage,
        named: dict[tuple[int, str], int],
        validate_only: bool,
        incremental: bool,
    ) -> None:
        kind, name = resource.resource_type, resource.resource_name
        if named[(kind, name)] > 1:
            raise ConfigRefusedError(Errors.INVALID_REQUEST, "Each resource must appear at most once.")
        configs = list(resource.configs or [])
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ConfigRefusedError(Errors.INVALID_REQUEST, "Error due to duplicate config keys")
        nulls = [
            c.name
            for c in configs
            if c.value is None and not (incremental and c.config_operation == OpType.DELETE)
        ]
        if nulls:
            raise ConfigRefusedError(
                Errors.INVALID_REQUEST, "Null value not supported for : " + ", ".join(nulls)
            )
        if kind == ResourceType.BROKER:
            if name:
                self._check_broker_name(name)
            raise ConfigRefusedError(
                Errors.INVALID_CONFIG, "Cannot update these configs dynamically: " + ", ".join(sorted(names))
            )
        if kind != ResourceType.TOPIC:
            raise ConfigRefusedError(Errors.INVALID_REQUEST, f"Unsupported resource type: {kind}")
        if (why := topic_name_error(name)) is not None:
            raise ConfigRefusedError(Errors.INVALID_TOPIC_EXCEPTION, why)
        if not self._topic_exists(name):
            raise ConfigRefusedError(Errors.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name}")
        wanted = self._incremental(name, configs) if incremental else {c.name: c.value for c in configs}
        settings = validate_topic_configs(wanted)  # InvalidConfigError: INVALID_CONFIG with Kafka's text
        if not validate_only:
            await self.cluster.alter_topic_configs(name, settings)

    async def alter_configs(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.ALTER_CONFIGS, version)
        outcomes = await self._alter(list(body.resources), body.validate_only, incremental=False)
        return cls(
            throttle_time_ms=0, responses=self._answers(cls.AlterConfigsResourceResponse, body, outcomes)
        )

    async def incremental_alter_configs(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.INCREMENTAL_ALTER_CONFIGS, version)
        outcomes = await self._alter(list(body.resources), body.validate_only, incremental=True)
        return cls(
            throttle_time_ms=0, responses=self._answers(cls.AlterConfigsResourceResponse, body, outcomes)
        )

    @staticmethod
    def _answers(
        entry_cls: KafkaMessage, body: KafkaMessage, outcomes: list[tuple[Errors, str | None]]
    ) -> list[KafkaMessage]:
        return [
            entry_cls(
                error_code=int(error),
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
            for resource, (error, message) in zip(body.resources, outcomes, strict=True)
        ]


__all__ = ["ConfigApis", "ConfigSource", "OpType", "ResourceType"]
