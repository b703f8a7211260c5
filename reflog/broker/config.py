"""A broker's settings, and those of each partition it hosts, under Kafka's names.

:class:`BrokerConfig` holds the broker's (``replica.lag.time.max.ms`` is
``replica_lag_time_max_ms``); where reflog's default differs from Kafka's, the field says so.
:func:`log_config` and :func:`partition_config` derive one partition's log and replication
settings from a topic's configs (Kafka's property names, e.g. ``min.insync.replicas``) and the
broker's. Plain values: nothing here checks more than :meth:`LogConfig.from_properties` does.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from reflog.log import LogConfig
from reflog.log.config import KAFKA_NAMES as LOG_CONFIG_NAMES
from reflog.replication.partition import PartitionConfig


@attrs.frozen
class BrokerConfig:
    """Broker settings under Kafka's names (``replica.lag.time.max.ms`` is ``replica_lag_time_max_ms``)."""

    replica_lag_time_max_ms: int = 30_000
    replica_fetch_wait_max_ms: int = 500
    replica_fetch_backoff_ms: int = 1_000
    replica_fetch_max_bytes: int = 1 << 20
    replica_fetch_response_max_bytes: int = 10 * 1024 * 1024
    """Kafka's ``replica.fetch.response.max.bytes``: the most a follower asks for in one fetch."""
    fetch_max_bytes: int = 55 * 1024 * 1024
    """Kafka's ``fetch.max.bytes`` (57671680): the most one fetch is served, whatever it asks."""
    fetch_max_wait_ms: int = 30_000
    """reflog's cap on a consumer fetch's ``max_wait_ms`` (Kafka has none; a client's
    ``request.timeout.ms``, 30000 by default, would give up on a longer wait anyway)."""
    replica_socket_timeout_ms: int = 30_000
    broker_heartbeat_interval_ms: int = 500
    """Kafka's default is 2000; reflog heartbeats (and learns metadata) more often, see specs/."""
    log_maintenance_interval_ms: int = 1_000
    log_cleaner_backoff_ms: int = 15_000
    """Kafka's ``log.cleaner.backoff.ms``: how often the log cleaner looks for logs to compact."""
    replica_high_watermark_checkpoint_interval_ms: int = 5_000
    legacy_truncate_to_high_watermark: bool = False
    """The pre-0.11 follower rule, for tests that show what it breaks."""


def log_config(topic_settings: Mapping[str, object]) -> LogConfig:
    """The log settings of a topic's partitions: the log's own names among ``topic_settings``
    (Kafka's strings as the metadata log keeps them, or Python values)."""
    return LogConfig.from_properties({k: v for k, v in topic_settings.items() if k in LOG_CONFIG_NAMES})


def partition_config(
    config: BrokerConfig, topic_settings: Mapping[str, object], *, default_min_insync_replicas: int = 1
) -> PartitionConfig:
    """The replication settings of a topic's partition on a broker configured with ``config``;
    ``default_min_insync_replicas`` is the cluster's ``min.insync.replicas`` (the topic's own wins)."""
    min_isr = topic_settings.get("min.insync.replicas")
    return PartitionConfig(
        min_insync_replicas=default_min_insync_replicas if min_isr is None else int(str(min_isr)),
        replica_lag_time_max_ms=config.replica_lag_time_max_ms,
        legacy_truncate_to_high_watermark=config.legacy_truncate_to_high_watermark,
    )


__all__ = ["BrokerConfig", "log_config", "partition_config"]
