"""The topic and cluster admin APIs of one broker's listener (PRO-80..86).

DeleteTopics, CreatePartitions and ElectLeaders go to the controller (through its metadata log,
so they survive a restart: CTL-26, CTL-30) and answer each topic or partition with Kafka's error
code; DescribeCluster and DescribeTopicPartitions answer from the controller's view. No handler
raises for a request, however wrong its contents; a controller that does not answer in time is
``REQUEST_TIMED_OUT`` for the entries it did not decide.

Topic ids (KIP-516) come from :attr:`reflog.cluster.Cluster.topic_ids` (PRO-63): DeleteTopics
v6 takes a topic by id (``UNKNOWN_TOPIC_ID`` for an id no topic has) and answers each topic's id,
DescribeTopicPartitions answers them too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Final, Literal

import trio

from reflog.broker.api import CreatePartitionsRequest, DeleteTopicRequest, ElectLeadersRequest
from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.listeners import Addresses, live_brokers
from reflog.kafka.topic_apis import CLUSTER_ID, MAX_PARTITIONS
from reflog.kafka.versions import ApiKey
from reflog.net.errors import NetError
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition

ZERO_UUID: Final = uuid.UUID(int=0)
"""Kafka's ``Uuid.ZERO_UUID``: no topic id on the wire (a topic named instead)."""
INTERNAL_TOPICS: Final = frozenset({"__consumer_offsets", "__transaction_state"})
ENDPOINT_BROKERS: Final = 1
ENDPOINT_CONTROLLERS: Final = 2
_DELETION_POLL: Final = 0.05
"""Seconds between two looks at whether every broker has deleted a deleted topic's logs."""


class AdminApis:
    """DeleteTopics, CreatePartitions, ElectLeaders, DescribeCluster and DescribeTopicPartitions
    for the clients of ``cluster``'s listeners at ``addresses``."""

    def __init__(self, cluster: Cluster, addresses: Addresses) -> None:
        self.cluster = cluster
        self.addresses = addresses

    # ------------------------------------------------------------------ helpers
    def _partitions_of(self, topic: str) -> list[PartitionMetadata]:
        parts = [p for p in self.cluster.controller.partitions() if p.topic_partition.topic == topic]
        return sorted(parts, key=lambda p: p.topic_partition.partition)

    def _topics(self) -> dict[str, list[PartitionMetadata]]:
        topics: dict[str, list[PartitionMetadata]] = {}
        for metadata in self.cluster.controller.partitions():
            topics.setdefault(metadata.topic_partition.topic, []).append(metadata)
        for parts in topics.values():
            parts.sort(key=lambda m: m.topic_partition.partition)
        return topics

    async def _until_deleted(self, tps: Iterable[TopicPartition], deadline: float) -> None:
        """Wait (until ``deadline``, trio time) until no running broker holds a log of ``tps``."""
        wanted = set(tps)
        while trio.current_time() < deadline:
            held = False
            for handle in self.cluster.brokers:
                manager = handle.broker.manager if handle.running else None
                if manager is not None and wanted & set(manager.logs):
                    held = True
            if not held:
                return
            await trio.sleep(_DELETION_POLL)

    # ------------------------------------------------------------------ DeleteTopics
    async def delete_topics(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-80: delete each named topic through the controller; answer once the brokers have
        deleted its logs (or at ``timeout_ms``)."""
        cls = response_class(ApiKey.DELETE_TOPICS, version)
        result_cls = cls.DeletableTopicResult
        if version >= 6:
            # kafka-python decodes the zero uuid as None
            entries = [(t.name, t.topic_id or ZERO_UUID) for t in body.topics]
        else:
            entries = [(name, ZERO_UUID) for name in body.topic_names]
        counts: dict[object, int] = {}
        for name, topic_id in entries:
            key = name if topic_id == ZERO_UUID else topic_id
            counts[key] = counts.get(key, 0) + 1
        deadline = trio.current_time() + max(0, body.timeout_ms) / 1000
        results: list[KafkaMessage] = []
        deleted: list[TopicPartition] = []
        for name, topic_id in entries:
            error, message, answer_id = Errors.NONE, None, topic_id
            key = name if topic_id == ZERO_UUID else topic_id
            if name is None and topic_id == ZERO_UUID:
                error, message = Errors.INVALID_REQUEST, "Neither topic name nor id were specified."
            elif name is not None and topic_id != ZERO_UUID:
                error, message = Errors.INVALID_REQUEST, "You may not specify both topic name and topic id."
            elif counts[key] > 1:
                error, message = Errors.INVALID_REQUEST, "Duplicate topic name."
            elif name is None and (name := self.cluster.topic_ids.name_of(topic_id)) is None:
                error, message = Errors.UNKNOWN_TOPIC_ID, f"No topic with id {topic_id}"
            else:
                answer_id = self.cluster.topic_ids.id_of(name)  # the deletion forgets it
                try:
                    response = await self.cluster.controller_call(DeleteTopicRequest(name))
                except (NetError, trio.TooSlowError):
                    error, message = Errors.REQUEST_TIMED_OUT, "the controller did not answer"
                else:
                    error = response.error
                    message = None if error is Errors.NONE else response.message
                    if error is Errors.NONE:
                        self.cluster.topic_configs.pop(name, None)
                        deleted.extend(p.topic_partition for p in response.partitions)
            fields: dict[str, object] = {"name": name, "error_code": int(error)}
            if version >= 5:
                fields["error_message"] = message
            if version >= 6:
                fields["topic_id"] = answer_id
            results.append(result_cls(**fields))
        if deleted:
            await self._until_deleted(deleted, deadline)
        return cls(throttle_time_ms=0, responses=results)

    # ------------------------------------------------------------------ CreatePartitions
    async def create_partitions(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-81: grow each topic to ``count`` partitions (only checked with ``validate_only``)."""
        cls = response_class(ApiKey.CREATE_PARTITIONS, version)
        named: dict[str, int] = {}
        for topic in body.topics:
            named[topic.name] = named.get(topic.name, 0) + 1
        deadline = trio.current_time() + max(0, body.timeout_ms) / 1000
        results: list[KafkaMessage] = []
        grown: list[str] = []
        for topic in body.topics:
            error, message = Errors.NONE, None
            assignment = None
            if topic.assignments is not None:
                assignment = tuple(tuple(a.broker_ids) for a in topic.assignments)
            if named[topic.name] > 1:
                error, message = Errors.INVALID_REQUEST, "Duplicate topic name."
            elif topic.count > MAX_PARTITIONS:
                error, message = Errors.INVALID_PARTITIONS, f"partitions must be in [1, {MAX_PARTITIONS}]"
            else:
                request = CreatePartitionsRequest(
                    topic.name, topic.count, assignment, bool(body.validate_only)
                )
                try:
                    response = await self.cluster.controller_call(request)
                except (NetError, trio.TooSlowError):
                    error, message = Errors.REQUEST_TIMED_OUT, "the controller did not answer"
                else:
                    error = response.error
                    message = None if error is Errors.NONE else response.message
                    if error is Errors.NONE and not body.validate_only:
                        grown.append(topic.name)
            results.append(
                cls.CreatePartitionsTopicResult(name=topic.name, error_code=int(error), error_message=message)
            )
        for name in grown:  # the new partitions' leaders serve them before the answer, when in time
            try:
                await self.cluster.wait_for_leaders(name, timeout=max(0.0, deadline - trio.current_time()))
            except trio.TooSlowError:
                break
        return cls(throttle_time_ms=0, results=results)

    # ------------------------------------------------------------------ ElectLeaders
    async def elect_leaders(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-82: an operator's preferred or unclean election through the controller."""
        cls = response_class(ApiKey.ELECT_LEADERS, version)
        election_type = body.election_type if version >= 1 else 0
        result_cls = cls.ReplicaElectionResult
        partition_cls = result_cls.PartitionResult
        fields: dict[str, object] = {"throttle_time_ms": 0}
        if version >= 1:
            fields["error_code"] = 0
        if election_type not in (0, 1):
            if version >= 1:
                fields["error_code"] = int(Errors.INVALID_REQUEST)
            return cls(replica_election_results=[], **fields)
        election: Literal["preferred", "unclean"] = "preferred" if election_type == 0 else "unclean"
        all_partitions = body.topic_partitions is None
        wanted: list[TopicPartition] = []
        if all_partitions:
            wanted = [p.topic_partition for p in self.cluster.controller.partitions()]
        else:
            for topic in body.topic_partitions:
                wanted.extend(TopicPartition(topic.topic, index) for index in topic.partitions)
        wanted = list(dict.fromkeys(wanted))
        answers: dict[TopicPartition, tuple[Errors, str | None]] = {}
        known = []
        for tp in wanted:
            if self.cluster.controller.has_partition(tp):
                known.append(tp)
            else:
                answers[tp] = (Errors.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {tp.topic}")
        try:
            response = await self.cluster.controller_call(ElectLeadersRequest(election, tuple(known)))
        except (NetError, trio.TooSlowError):
            for tp in known:
                answers[tp] = (Errors.REQUEST_TIMED_OUT, "the controller did not answer")
        else:
            refused = (
                Errors.PREFERRED_LEADER_NOT_AVAILABLE
                if election == "preferred"
                else Errors.ELIGIBLE_LEADERS_NOT_AVAILABLE
            )
            for outcome in response.outcomes:
                if outcome.outcome == "elected":
                    answers[outcome.topic_partition] = (Errors.NONE, None)
                elif outcome.outcome == "not_needed":
                    answers[outcome.topic_partition] = (Errors.ELECTION_NOT_NEEDED, None)
                else:
                    answers[outcome.topic_partition] = (refused, None)
            for tp in known:
                answers.setdefault(tp, (Errors.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {tp.topic}"))
        by_topic: dict[str, list[KafkaMessage]] = {}
        for tp in wanted:
            error, message = answers[tp]
            if all_partitions and error is Errors.ELECTION_NOT_NEEDED:
                continue  # electing every partition reports only those that needed an election
            by_topic.setdefault(tp.topic, []).append(
                partition_cls(partition_id=tp.partition, error_code=int(error), error_message=message)
            )
        results = [result_cls(topic=t, partition_result=parts) for t, parts in by_topic.items()]
        return cls(replica_election_results=results, **fields)

    # ------------------------------------------------------------------ DescribeCluster
    async def describe_cluster(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-83: the brokers serving clients (and, v2 ``include_fenced_brokers``, the fenced ones)."""
        cls = response_class(ApiKey.DESCRIBE_CLUSTER, version)
        endpoint_type = body.endpoint_type if version >= 1 else ENDPOINT_BROKERS
        addresses = self.addresses()
        live = live_brokers(self.cluster, addresses)
        fields: dict[str, object] = {
            "throttle_time_ms": 0,
            "error_code": 0,
            "error_message": None,
            "cluster_id": CLUSTER_ID,
            "controller_id": min(live, default=-1),
        }
        if version >= 1:
            fields["endpoint_type"] = ENDPOINT_BROKERS
        if endpoint_type != ENDPOINT_BROKERS:
            error = Errors.MISMATCHED_ENDPOINT_TYPE
            if endpoint_type != ENDPOINT_CONTROLLERS:
                error = Errors.UNSUPPORTED_ENDPOINT_TYPE
            fields.update(
                error_code=int(error), error_message=f"endpoint type {endpoint_type}", controller_id=-1
            )
            return cls(brokers=[], **fields)
        include_fenced = version >= 2 and bool(body.include_fenced_brokers)
        broker_cls = cls.DescribeClusterBroker
        brokers = []
        for registration in self.cluster.controller.brokers():
            broker_id = registration.broker_id
            if broker_id not in addresses or (broker_id not in live and not include_fenced):
                continue
            host, port = addresses[broker_id]
            entry: dict[str, object] = {"broker_id": broker_id, "host": host, "port": port, "rack": None}
            if version >= 2:
                entry["is_fenced"] = broker_id not in live
            brokers.append(broker_cls(**entry))
        return cls(brokers=brokers, **fields)

    # ------------------------------------------------------------------ DescribeTopicPartitions
    async def describe_topic_partitions(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-84: topics and their partitions (with ELR and LastKnownELR, KIP-966), paged: at most
        ``response_partition_limit`` partitions, resuming at ``cursor``."""
        cls = response_class(ApiKey.DESCRIBE_TOPIC_PARTITIONS, version)
        topic_cls = cls.DescribeTopicPartitionsResponseTopic
        partition_cls = topic_cls.DescribeTopicPartitionsResponsePartition
        known = self._topics()
        names = sorted({t.name for t in body.topics}) if body.topics else sorted(known)
        cursor = body.cursor
        start_topic, start_partition = (
            ("", 0) if cursor is None else (cursor.topic_name, cursor.partition_index)
        )
        if (cursor is not None and body.topics and start_topic not in names) or start_partition < 0:
            # Kafka throws InvalidRequestException ("topic list should contain the cursor topic"),
            # answered as DescribeTopicPartitionsRequest.getErrorResponse: every topic refused.
            refused = [
                topic_cls(
                    error_code=int(Errors.INVALID_REQUEST),
                    name=name,
                    topic_id=self.cluster.topic_ids.id_of(name),
                    is_internal=False,
                    partitions=[],
                )
                for name in names
            ]
            return cls(throttle_time_ms=0, topics=refused, next_cursor=None)
        live = live_brokers(self.cluster, self.addresses())
        limit = max(1, body.response_partition_limit)
        left = limit
        topics: list[KafkaMessage] = []
        next_cursor = None
        for name in names:
            if name < start_topic:
                continue
            if left <= 0:
                next_cursor = cls.Cursor(topic_name=name, partition_index=0)
                break
            parts = known.get(name)
            error = Errors.NONE if parts is not None else Errors.UNKNOWN_TOPIC_OR_PARTITION
            first = start_partition if name == start_topic else 0
            listed = []
            for metadata in (parts or [])[first:]:
                if left <= 0:
                    next_cursor = cls.Cursor(
                        topic_name=name, partition_index=metadata.topic_partition.partition
                    )
                    break
                leader = metadata.leader if metadata.leader in live else NO_LEADER
                listed.append(
                    partition_cls(
                        error_code=int(Errors.NONE if leader != NO_LEADER else Errors.LEADER_NOT_AVAILABLE),
                        partition_index=metadata.topic_partition.partition,
                        leader_id=leader,
                        leader_epoch=metadata.leader_epoch,
                        replica_nodes=list(metadata.replicas),
                        isr_nodes=list(metadata.isr),
                        eligible_leader_replicas=list(metadata.elr),
                        last_known_elr=list(metadata.last_known_elr),
                        offline_replicas=[r for r in metadata.replicas if r not in live],
                    )
                )
                left -= 1
            topics.append(
                topic_cls(
                    error_code=int(error),
                    name=name,
                    topic_id=self.cluster.topic_ids.id_of(name),
                    is_internal=name in INTERNAL_TOPICS,
                    partitions=listed,
                )
            )
            if next_cursor is not None:
                break
        return cls(throttle_time_ms=0, topics=topics, next_cursor=next_cursor)


__all__ = ["INTERNAL_TOPICS", "ZERO_UUID", "AdminApis"]
