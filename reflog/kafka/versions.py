"""The Kafka APIs reflog serves, and the versions it advertises in ApiVersions (PRO-2).

The ranges are a Kafka 4.x broker's for these APIs (its JSON schemas' ``validVersions``, KIP-896
minimums), up to the last version whose fields reflog serves with Kafka's meaning, flexible
versions included (KIP-482, PRO-62): kafka-python 3, aiokafka and librdkafka each pick the
highest version they share with the table. Where a newer version needs what reflog does not have
(Produce v13 and Fetch v18: KIP-516's topic-id-only produce and KIP-1166's follower high
watermark; ListOffsets v10+: remote storage; Metadata v13: KIP-1102 rebootstrap; OffsetCommit and
OffsetFetch v10: KIP-848 topic ids; InitProducerId v6: two-phase commit), the table stops below
it, and specs/protocol.md's deviations say why.

Produce advertises 0-12 but refuses 0-2 on receipt, as Kafka 4 does (KIP-896, KAFKA-18659):
older librdkafka enables compression only when it sees Produce v0 advertised.
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
    ApiKey.PRODUCE: (0, 12),
    ApiKey.FETCH: (4, 17),
    ApiKey.LIST_OFFSETS: (1, 9),
    ApiKey.METADATA: (0, 12),
    ApiKey.OFFSET_COMMIT: (2, 9),
    ApiKey.OFFSET_FETCH: (1, 9),
    ApiKey.FIND_COORDINATOR: (0, 6),
    ApiKey.JOIN_GROUP: (0, 9),
    ApiKey.HEARTBEAT: (0, 4),
    ApiKey.LEAVE_GROUP: (0, 5),
    ApiKey.SYNC_GROUP: (0, 5),
    ApiKey.API_VERSIONS: (0, 4),
    ApiKey.CREATE_TOPICS: (2, 7),
    ApiKey.INIT_PRODUCER_ID: (0, 5),
    ApiKey.DESCRIBE_GROUPS: (0, 6),
    ApiKey.LIST_GROUPS: (0, 5),
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
