"""The words every layer of reflog shares, defined once: a partition's name, Kafka's sentinels, the
rule for a legal topic name, and the network names of brokers and the controller.

Nothing here imports from the rest of reflog (or from trio), so every layer, the sans-IO core
included, may import it.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

NO_LEADER: Final = -1
"""Kafka's ``LeaderAndIsr.NO_LEADER``: a partition without a leader."""
UNDEFINED_EPOCH: Final = -1
"""Kafka's ``RecordBatch.NO_PARTITION_LEADER_EPOCH`` / ``UNDEFINED_EPOCH``."""
UNDEFINED_OFFSET: Final = -1
"""Kafka's ``UNDEFINED_EPOCH_OFFSET``: no offset known."""

MAX_TOPIC_NAME_LENGTH: Final = 249
"""Kafka's ``Topic.MAX_NAME_LENGTH``."""
_LEGAL_TOPIC_CHARACTERS: Final = re.compile(r"[a-zA-Z0-9._-]+")

CONTROLLER_NODE: Final = "controller"
"""The network node of the (single) controller."""


def topic_name_error(name: str | None) -> str | None:
    """Why ``name`` is not a legal Kafka topic name (Kafka's ``Topic.validate``), or ``None``."""
    if not name:
        return "the topic name is empty"
    if name in (".", ".."):
        return f"the topic name cannot be {name!r}"
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"the topic name is longer than {MAX_TOPIC_NAME_LENGTH} characters"
    if not _LEGAL_TOPIC_CHARACTERS.fullmatch(name):
        return f"the topic name {name!r} has a character outside [a-zA-Z0-9._-]"
    return None


class TopicPartition(NamedTuple):
    """A partition of a topic; its log lives in directory ``<topic>-<partition>``."""

    topic: str
    partition: int

    @property
    def dir_name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @classmethod
    def from_dir_name(cls, name: str) -> TopicPartition | None:
        """The partition whose log directory is ``name``, or ``None`` if ``name`` is not one."""
        topic, sep, number = name.rpartition("-")
        if not sep or not number.isdigit() or topic_name_error(topic) is not None:
            return None
        return cls(topic, int(number))


def node_name(broker_id: int) -> str:
    """The network node of broker ``broker_id``."""
    return f"broker-{broker_id}"


__all__ = [
    "CONTROLLER_NODE",
    "MAX_TOPIC_NAME_LENGTH",
    "NO_LEADER",
    "UNDEFINED_EPOCH",
    "UNDEFINED_OFFSET",
    "TopicPartition",
    "node_name",
    "topic_name_error",
]
