"""Metadata and CreateTopics (PRO-4, PRO-7): which topics exist, who leads them, and new topics.

:class:`TopicApis` answers from the controller's view of the cluster: Metadata lists the brokers
serving clients now and each requested topic's partitions (a leader that is not serving is -1,
LEADER_NOT_AVAILABLE), and creates missing topics when auto-creation is on; CreateTopics checks
each topic (name, configs, partitions, replication factor, or a manual replica assignment:
:mod:`reflog.kafka.assignments`) and creates the valid ones through the controller,
concurrently. Topic names are checked by :func:`reflog.vocabulary.topic_name_error`.
Every refusal is an error code in the response; no handler raises for a request.
"""

from __future__ import annotations

from typing import Final

import trio

from reflog.cluster import Cluster
from reflog.errors import Errors, InvalidConfigError, ReflogError
from reflog.kafka.assignments import ManualAssignmentRefused, manual_assignment
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.listeners import Addresses, live_brokers
from reflog.kafka.offsets_records import OFFSETS_TOPIC
from reflog.kafka.topic_ids_apis import created_topic_fields, metadata_by_id
from reflog.kafka.versions import ApiKey
from reflog.log.topic_configs import validate_topic_configs
from reflog.net.errors import NetError
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import topic_name_error

CLUSTER_ID: Final = "reflog-cluster"
MAX_PARTITIONS: Final = 1000
"""Partitions per topic reflog creates (a deviation that bounds memory; Kafka has no fixed limit)."""
_CREATE_ERRORS: Final = frozenset(
    {
        Errors.INVALID_CONFIG,
        Errors.TOPIC_ALREADY_EXISTS,
        Errors.INVALID_REPLICATION_FACTOR,
        Errors.INVALID_PARTITIONS,
        Errors.INVALID_REPLICA_ASSIGNMENT,
    }
)
"""The refusals of a topic creation that CreateTopics and auto-creation pass on as they are."""
CREATE_CONCURRENCY: Final = 32

_Creation = tuple[str, int, int, dict[str, str], tuple[tuple[int, ...], ...] | None]
"""A topic to create: name, partitions, replication factor, configs, manual replica assignment."""


class TopicApis:
    """Metadata and CreateTopics for the clients of ``cluster``'s listeners at ``addresses``.

    ``auto_create_topics`` lets Metadata create a missing topic (``auto.create.topics.enable``)
    with ``num_partitions`` partitions and ``default_replication_factor`` replicas (at most the
    brokers serving clients); the two defaults also fill CreateTopics' -1 fields.
    """

    def __init__(
        self,
        cluster: Cluster,
        addresses: Addresses,
        *,
        auto_create_topics: bool = True,
        default_replication_factor: int = 1,
        num_partitions: int = 1,
    ) -> None:
        self.cluster = cluster
        self.addresses = addresses
        self.auto_create_topics = auto_create_topics
        self.default_replication_factor = default_replication_factor
        self.num_partitions = num_partitions

    def _topic_partitions(self) -> dict[str, list[PartitionMetadata]]:
        topics: dict[str, list[PartitionMetadata]] = {}
        for metadata in self.cluster.controller.partitions():
            topics.setdefault(metadata.topic_partition.topic, []).append(metadata)
        for parts in topics.values():
            parts.sort(key=lambda m: m.topic_partition.partition)
        return topics

    async def _create(
        self,
        name: str,
        partitions: int,
        replication_factor: int,
        configs: dict[str, str],
        assignment: tuple[tuple[int, ...], ...] | None = None,
    ) -> Errors:
        try:
            await self.cluster.create_topic(
                name,
                partitions=partitions,
                replication_factor=replication_factor,
                configs=configs,
                replica_assignment=assignment,
            )
        except ReflogError as exc:
            # The controller's refusal (RequestRefusedError) or a config check (InvalidConfigError)
            # carries its Errors member; anything else is an invalid request.
            if exc.error_code in _CREATE_ERRORS:
                return exc.error_code
            return Errors.INVALID_REQUEST
        except (NetError, trio.TooSlowError):
            return Errors.REQUEST_TIMED_OUT
        return Errors.NONE

    async def _create_all(self, wanted: list[_Creation]) -> list[Errors]:
        """Create topics (:data:`_Creation` each) concurrently, at most
        :data:`CREATE_CONCURRENCY` at a time; their errors in order. Each creation waits for its
        leaders (a heartbeat or so), so one request creating hundreds of topics takes seconds, not
        minutes, and never holds the event loop: other brokers' heartbeats go on meanwhile."""
        errors = [Errors.NONE] * len(wanted)
        limiter = trio.CapacityLimiter(CREATE_CONCURRENCY)

        async def one(index: int, *creation: *_Creation) -> None:
            async with limiter:
                errors[index] = await self._create(*creation)

        if len(wanted) == 1:
            await one(0, *wanted[0])
        elif wanted:
            async with trio.open_nursery() as nursery:
                for index, args in enumerate(wanted):
                    nursery.start_soon(one, index, *args)
        return errors

    async def metadata(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.METADATA, version)
        addresses = self.addresses()
        live = live_brokers(self.cluster, addresses)
        brokers = [
            cls.MetadataResponseBroker(node_id=b, host=addresses[b][0], port=addresses[b][1], rack=None)
            for b in sorted(live)
        ]
        known = self._topic_partitions()
        ids = self.cluster.topic_ids
        requested = body.topics
        if version == 0 and not requested:  # v0: an empty array asks for every topic
            requested = None
        by_id = metadata_by_id(version, requested, ids)  # PRO-69
        if by_id is not None and by_id.invalid:
            topics = [
                cls.MetadataResponseTopic(error_code=int(Errors.INVALID_REQUEST), name=t.name, partitions=[])
                for t in requested
            ]
            return cls(throttle_time_ms=0, brokers=[], cluster_id=CLUSTER_ID, controller_id=-1, topics=topics)
        # A topic named twice is answered once (Kafka collects the requested names in a set).
        if requested is None:
            names = sorted(known)
        elif by_id is not None:
            names = by_id.names
        else:
            names = list(dict.fromkeys(t.name for t in requested))
        errors: dict[str, Errors] = {}
        for name in names:
            if topic_name_error(name) is not None:
                errors[name] = Errors.INVALID_TOPIC_EXCEPTION
            elif name not in known:
                errors[name] = Errors.UNKNOWN_TOPIC_OR_PARTITION
            else:
                errors[name] = Errors.NONE
        missing = [n for n, e in errors.items() if e is Errors.UNKNOWN_TOPIC_OR_PARTITION]
        auto_create = by_id is None and getattr(body, "allow_auto_topic_creation", True)
        if missing and self.auto_create_topics and auto_create:
            replication = min(self.default_replication_factor, max(1, len(live)))
            created = await self._create_all(
                [(n, self.num_partitions, replication, {}, None) for n in missing]
            )
            known = self._topic_partitions()
            for name, outcome in zip(missing, created, strict=True):
                if outcome in (Errors.NONE, Errors.TOPIC_ALREADY_EXISTS):
                    errors[name] = Errors.NONE if name in known else Errors.LEADER_NOT_AVAILABLE
        topics = []
        for name in names:
            await trio.lowlevel.checkpoint()  # one request never holds the loop for all its topics
            error = errors[name]
            partitions = []
            for metadata in known.get(name, []) if error is Errors.NONE else []:
                leader = metadata.leader if metadata.leader in live else -1
                partitions.append(
                    cls.MetadataResponseTopic.MetadataResponsePartition(
                        error_code=int(Errors.NONE if leader >= 0 else Errors.LEADER_NOT_AVAILABLE),
                        partition_index=metadata.topic_partition.partition,
                        leader_id=leader,
                        leader_epoch=metadata.leader_epoch,
                        replica_nodes=list(metadata.replicas),
                        isr_nodes=list(metadata.isr),
                        offline_replicas=[r for r in metadata.replicas if r not in live],
                    )
                )
            topics.append(
                cls.MetadataResponseTopic(
                    error_code=int(error),
                    name=name,
                    topic_id=ids.id_of(name),
                    is_internal=name == OFFSETS_TOPIC,
                    partitions=partitions,
                )
            )
        for topic_id in [] if by_id is None else by_id.unknown:
            topics.append(
                cls.MetadataResponseTopic(
                    error_code=int(Errors.UNKNOWN_TOPIC_ID), name=None, topic_id=topic_id, partitions=[]
                )
            )
        return cls(
            throttle_time_ms=0,
            brokers=brokers,
            cluster_id=CLUSTER_ID,
            controller_id=min(live, default=-1),
            topics=topics,
        )

    async def create_topics(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.CREATE_TOPICS, version)
        results: list[KafkaMessage] = []
        to_create: list[tuple[int, _Creation]] = []
        existing = set(self._topic_partitions())  # once, not per topic: a request may name thousands
        registrations = self.cluster.controller.brokers()
        live = len([b for b in registrations if b.is_active])
        registered = {b.broker_id: b for b in registrations}
        named: dict[str, int] = {}
        for topic in body.topics:
            named[topic.name] = named.get(topic.name, 0) + 1
        for topic in body.topics:
            await trio.lowlevel.checkpoint()  # one request never holds the loop for all its topics
            error, message = Errors.NONE, None
            configs: dict[str, str] = {}
            invalid = topic_name_error(topic.name)
            try:
                configs = validate_topic_configs({c.name: c.value for c in topic.configs or []})
            except InvalidConfigError as exc:
                error, message = Errors.INVALID_CONFIG, str(exc)
            partitions = topic.num_partitions if topic.num_partitions > 0 else self.num_partitions
            replication = (
                topic.replication_factor if topic.replication_factor > 0 else self.default_replication_factor
            )
            assignment: tuple[tuple[int, ...], ...] | None = None
            refusal: ManualAssignmentRefused | None = None
            if topic.assignments:  # PRO-145: Kafka checks these in place of the counts
                checked = manual_assignment(
                    topic.num_partitions,
                    topic.replication_factor,
                    [(a.partition_index, list(a.broker_ids)) for a in topic.assignments],
                    registered=registered,
                    is_active=lambda b: registered[b].is_active,
                )
                if isinstance(checked, ManualAssignmentRefused):
                    refusal = checked
                else:
                    assignment = checked
                    partitions, replication = len(checked), len(checked[0])
            if named[topic.name] > 1:  # Kafka refuses every entry of a topic named twice
                error, message = Errors.INVALID_REQUEST, "Found multiple entries for this topic."
            elif invalid is not None:
                error, message = Errors.INVALID_TOPIC_EXCEPTION, invalid
            elif refusal is not None and error is Errors.NONE and topic.name not in existing:
                # Kafka checks the configs and whether the topic exists first
                error, message = refusal.error, refusal.message
            elif not 1 <= partitions <= MAX_PARTITIONS:
                error, message = Errors.INVALID_PARTITIONS, f"partitions must be in [1, {MAX_PARTITIONS}]"
            elif not topic.assignments and not 1 <= replication <= live:
                error, message = (
                    Errors.INVALID_REPLICATION_FACTOR,
                    f"replication factor must be in [1, {live}]",
                )
            elif error is Errors.NONE and topic.name in existing:
                error, message = Errors.TOPIC_ALREADY_EXISTS, f"topic {topic.name!r} already exists"
            elif error is Errors.NONE and not body.validate_only:
                to_create.append((len(results), (topic.name, partitions, replication, configs, assignment)))
            result_cls = cls.CreatableTopicResult
            fields = (
                {}
                if error is not Errors.NONE
                else created_topic_fields(result_cls, version, partitions, replication, configs)
            )
            results.append(
                result_cls(name=topic.name, error_code=int(error), error_message=message, **fields)
            )
        created = await self._create_all([args for _, args in to_create])
        ids = self.cluster.topic_ids
        for (index, (name, *_)), error in zip(to_create, created, strict=True):
            result = results[index]
            result.error_code = int(error)
            result.error_message = None if error is Errors.NONE else error.name
            if error is Errors.NONE:
                result.topic_id = ids.id_of(name)  # v7 (KIP-516)
            elif version >= 5:  # a failed creation has Kafka's defaults: -1, -1, no configs
                result.num_partitions, result.replication_factor, result.configs = -1, -1, None
        return cls(throttle_time_ms=0, topics=results)


__all__ = ["CLUSTER_ID", "CREATE_CONCURRENCY", "MAX_PARTITIONS", "TopicApis"]
