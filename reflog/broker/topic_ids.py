"""Topic ids (KIP-516): every topic's random UUID, and the one lookup both ways (PRO-63).

Kafka gives a topic a random ``Uuid`` when the controller creates it and keeps it in the metadata
log, so a topic deleted and created again under the same name is a different topic to every
client that holds its id. reflog does the same: :class:`TopicIds` is owned by the controller's
service (:class:`reflog.broker.controller_service.ControllerService`), which assigns an id to
every topic of the controller's state that has none *in the same step* that makes the change
durable (no checkpoint in between, so no task ever sees a topic without its id), and persists the
map in the metadata image (:class:`reflog.broker.metadata_log.MetadataImage`), so ids survive a
restart. A topic that no longer exists loses its id.

Everything else (Metadata v10+, CreateTopics v7, Fetch v13+, the admin APIs) reads ids through
:attr:`reflog.cluster.Cluster.topic_ids`: :meth:`TopicIds.id_of` and :meth:`TopicIds.name_of`.
``uuid.UUID(int=0)`` (Kafka's ``Uuid.ZERO_UUID``) is never a topic's id: it means "no id" on the
wire, and :meth:`TopicIds.id_of` answers it for a topic it does not know.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Iterable, Mapping
from typing import Final

ZERO_UUID: Final = uuid.UUID(int=0)
"""Kafka's ``Uuid.ZERO_UUID``: no topic id (a topic asked for by name, or an unknown one)."""
METADATA_TOPIC_ID: Final = uuid.UUID(int=1)
"""Kafka's ``Uuid.METADATA_TOPIC_ID`` (``__cluster_metadata``), reserved: never handed out."""


class TopicIds:
    """The topic-name <-> topic-id map of one cluster (a bijection over the existing topics).

    ``ids`` seeds it (a restored metadata image); ``rng`` draws the new ids (seeded in tests;
    the default is the system's randomness, as Kafka's ``Uuid.randomUuid``).
    """

    def __init__(self, ids: Mapping[str, uuid.UUID] | None = None, rng: random.Random | None = None) -> None:
        self._by_name: dict[str, uuid.UUID] = dict(ids or {})
        self._by_id: dict[uuid.UUID, str] = {i: n for n, i in self._by_name.items()}
        self._rng = rng

    def id_of(self, name: str) -> uuid.UUID:
        """The id of topic ``name``, or :data:`ZERO_UUID` when no such topic exists."""
        return self._by_name.get(name, ZERO_UUID)

    def name_of(self, topic_id: uuid.UUID) -> str | None:
        """The name of the topic with id ``topic_id``, or ``None`` (Kafka's ``UNKNOWN_TOPIC_ID``)."""
        return self._by_id.get(topic_id)

    def as_dict(self) -> dict[str, uuid.UUID]:
        """A copy of the map, name -> id."""
        return dict(self._by_name)

    def sync(self, topics: Iterable[str]) -> bool:
        """Give every topic of ``topics`` that has none a new id, and forget the others' ids.

        Returns whether anything changed. Called by the controller's service before it persists.
        """
        wanted = set(topics)
        changed = False
        for name in [n for n in self._by_name if n not in wanted]:
            del self._by_id[self._by_name.pop(name)]
            changed = True
        for name in sorted(wanted - self._by_name.keys()):
            topic_id = self._new_id()
            self._by_name[name] = topic_id
            self._by_id[topic_id] = name
            changed = True
        return changed

    def _new_id(self) -> uuid.UUID:
        while True:
            bits = self._rng.getrandbits(128) if self._rng is not None else None
            topic_id = uuid.uuid4() if bits is None else uuid.UUID(int=bits, version=4)
            if (
                topic_id not in (ZERO_UUID, METADATA_TOPIC_ID)
                and topic_id not in self._by_id
                # Kafka's Uuid.randomUuid: never an id whose base64 form looks like a CLI flag.
                and not base64.urlsafe_b64encode(topic_id.bytes).startswith(b"-")
            ):
                return topic_id


__all__ = ["METADATA_TOPIC_ID", "ZERO_UUID", "TopicIds"]
