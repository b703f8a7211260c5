"""Topic ids in Metadata and CreateTopics (PRO-69, PRO-74), through :attr:`Cluster.topic_ids`.

* Metadata v10+ answers each topic's id (zero for a topic that does not exist). From v12 a
  request may name topics by id: as Kafka's ``handleTopicMetadataRequest`` does, once any
  non-zero id is asked for, the request's names are ignored, each known id is answered under
  its topic's name, each unknown one ``UNKNOWN_TOPIC_ID`` (100) with a null name, and nothing is
  auto-created. Below v12 a null name or a non-zero id is ``INVALID_REQUEST`` for every topic
  ("Topic IDs are not supported in requests for version ...").
* CreateTopics v5+ answers, for each topic it creates (or would create, ``validate_only``), its
  partitions, replication factor and configs (KIP-525), and v7 its new id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Final

import attrs

from reflog.broker.topic_ids import ZERO_UUID, TopicIds
from reflog.kafka.codec import KafkaMessage

TOPIC_IDS_FROM: Final = 12
"""The first Metadata version whose request may name topics by id."""
TOPIC_CONFIG: Final = 1
"""Kafka's ``ConfigSource.TOPIC_CONFIG`` (a config set on the topic)."""


@attrs.frozen
class ById:
    """What a Metadata request naming topics by id asks: known names, unknown ids, or invalid."""

    names: list[str] = attrs.field(factory=list)
    unknown: list[uuid.UUID] = attrs.field(factory=list)
    invalid: bool = False


def metadata_by_id(version: int, requested: KafkaMessage | None, ids: TopicIds) -> ById | None:
    """``None`` when the request names its topics by name (or asks for all of them)."""
    if requested is None or version < 10:
        return None
    wanted = list(dict.fromkeys(t.topic_id for t in requested if t.topic_id not in (None, ZERO_UUID)))
    if version < TOPIC_IDS_FROM:
        return ById(invalid=True) if wanted or any(t.name is None for t in requested) else None
    if not wanted:
        return ById(invalid=True) if any(t.name is None for t in requested) else None
    names = [n for n in (ids.name_of(i) for i in wanted) if n is not None]
    return ById(names, [i for i in wanted if ids.name_of(i) is None])


def created_topic_fields(
    result_cls: KafkaMessage, version: int, partitions: int, replication: int, configs: Mapping[str, object]
) -> dict[str, object]:
    """The v5+ fields of a CreateTopics result for a topic created (or valid): see the docstring."""
    if version < 5:
        return {}
    config_cls = result_cls.CreatableTopicConfigs
    return {
        "num_partitions": partitions,
        "replication_factor": replication,
        "configs": [
            config_cls(name=n, value=str(v), read_only=False, config_source=TOPIC_CONFIG, is_sensitive=False)
            for n, v in sorted(configs.items())
        ],
    }


__all__ = ["TOPIC_CONFIG", "TOPIC_IDS_FROM", "ById", "created_topic_fields", "metadata_by_id"]
