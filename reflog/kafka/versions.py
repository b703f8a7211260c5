"""The Kafka APIs reflog serves, and the versions it advertises in ApiVersions (PRO-2).

The APIs of Kafka 2.4 stay below their *flexible* threshold (no compact strings, no tagged
fields): librdkafka's ApiVersions v3 and kafka-python's v4 get ``UNSUPPORTED_VERSION`` with the
table, and both step down (python-ecosystem.md §5.4); that part of the table is consistent with
Kafka 2.4, because kafka-python infers the broker's version from it. The topic and partition admin
APIs (PRO-85) are advertised at Kafka 4.1's ranges, flexible versions included (PRO-62).

The config APIs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs) are advertised at Kafka
4's ranges, their flexible versions included (PRO-62, PRO-100..PRO-104).

Produce advertises 0-8 but refuses 0-2 on receipt, as Kafka 4 does (KIP-896): older librdkafka
enables compression only when it sees Produce v0 advertised.
"""

from __future__ import annotations

import enum
from typing import Final


class ApiKey(enum.IntEnum):
    """Kafka's API keys for the requests reflog answers."""

    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    DELETE_GROUPS = 42
    OFFSET_DELETE = 47
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    INCREMENTAL_ALTER_CONFIGS = 44
    OFFSET_FOR_LEADER_EPOCH = 23
    CREATE_PARTITIONS = 37
    ELECT_LEADERS = 43
    DESCRIBE_CLUSTER = 60
    DESCRIBE_PRODUCERS = 61
    DESCRIBE_TOPIC_PARTITIONS = 75


ADVERTISED: Final[dict[ApiKey, tuple[int, int]]] = {
    ApiKey.PRODUCE: (0, 8),
    ApiKey.FETCH: (4, 11),
    ApiKey.LIST_OFFSETS: (1, 5),
    ApiKey.METADATA: (1, 8),
    ApiKey.OFFSET_COMMIT: (2, 7),
    ApiKey.OFFSET_FETCH: (1, 5),
    ApiKey.FIND_COORDINATOR: (0, 2),
    ApiKey.JOIN_GROUP: (0, 5),
    ApiKey.HEARTBEAT: (0, 3),
    ApiKey.LEAVE_GROUP: (0, 3),
    ApiKey.SYNC_GROUP: (0, 3),
    ApiKey.DESCRIBE_GROUPS: (0, 6),
    ApiKey.LIST_GROUPS: (0, 5),
    ApiKey.API_VERSIONS: (0, 2),
    ApiKey.CREATE_TOPICS: (0, 4),
    ApiKey.INIT_PRODUCER_ID: (0, 1),
    ApiKey.DELETE_GROUPS: (0, 2),
    ApiKey.OFFSET_DELETE: (0, 0),
    ApiKey.DESCRIBE_CONFIGS: (1, 4),
    ApiKey.ALTER_CONFIGS: (0, 2),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1),
    ApiKey.DELETE_TOPICS: (1, 6),
    ApiKey.DELETE_RECORDS: (0, 2),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (2, 4),
    ApiKey.CREATE_PARTITIONS: (0, 3),
    ApiKey.ELECT_LEADERS: (0, 2),
    ApiKey.DESCRIBE_CLUSTER: (0, 2),
    ApiKey.DESCRIBE_PRODUCERS: (0, 0),
    ApiKey.DESCRIBE_TOPIC_PARTITIONS: (0, 0),
}
"""API key -> (min, max) version advertised."""

REFUSED: Final[dict[ApiKey, int]] = {ApiKey.PRODUCE: 3}
"""API key -> the lowest version actually served (below it: ``UNSUPPORTED_VERSION``)."""


def served(api_key: int, version: int) -> bool:
    """Whether reflog decodes and answers ``api_key`` at ``version``."""
    try:
        key = ApiKey(api_key)
    except ValueError:
        return False
    low, high = ADVERTISED[key]
    return max(low, REFUSED.get(key, low)) <= version <= high


__all__ = ["ADVERTISED", "REFUSED", "ApiKey", "served"]
