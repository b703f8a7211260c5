"""The controller as a node of the simulated network: RPC handlers around :class:`Controller`.

The controller is one reliable node (the KRaft quorum is out of scope). It ticks every
``tick_interval`` seconds of trio time (fencing brokers whose session expired) and answers
brokers (registration, heartbeats with metadata, AlterPartition, controlled shutdown) and
clients (topic creation, metadata, producer ids).

With a :class:`~reflog.broker.metadata_log.MetadataLog` every change is made durable before the
request that caused it is answered, and before any other task can observe it: the controller's
handlers run without a checkpoint between the change and the fsync (CTL-26). Producer ids come out
of blocks whose end is persisted before the first id of the block is handed out, so no id is ever
handed out twice, across restarts too (CTL-27).
"""

from __future__ import annotations

import trio

from reflog.broker.api import (
    AlterTopicConfigsRequest,
    AlterTopicConfigsResponse,
    ControlledShutdownRequest,
    CreatePartitionsRequest,
    CreateTopicRequest,
    CreateTopicResponse,
    DeleteTopicRequest,
    ElectLeadersRequest,
    ElectLeadersResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    MetadataRequest,
    MetadataResponse,
    RegisterBrokerRequest,
    RegisterBrokerResponse,
    TopicAdminResponse,
)
from reflog.broker.metadata_log import (
    FIRST_PRODUCER_ID,
    PRODUCER_ID_BLOCK_SIZE,
    MetadataImage,
    MetadataLog,
    TopicConfigs,
)
from reflog.broker.topic_ids import TopicIds
from reflog.errors import Errors, ReflogError, ReflogUsageError, RequestRefusedError
from reflog.net.rpc import serve_rpc_listener
from reflog.net.sim import SimNetwork
from reflog.replication.controller import Controller
from reflog.replication.controller_values import BrokerHeartbeatReply, DuplicateBrokerRegistrationError
from reflog.replication.messages import AlterPartitionRequest, AlterPartitionResponse
from reflog.requests import RequestHandlers
from reflog.vocabulary import CONTROLLER_NODE


class ControllerService:
    """Serves :class:`Controller` on node ``"controller"``."""

    def __init__(
        self,
        controller: Controller,
        network: SimNetwork,
        *,
        tick_interval: float = 1.0,
        metadata_log: MetadataLog | None = None,
        topic_configs: TopicConfigs | None = None,
        producer_id_block_end: int = FIRST_PRODUCER_ID,
        boots: int = 0,
        topic_ids: TopicIds | None = None,
    ) -> None:
        self.controller = controller
        self.network = network
        self.tick_interval = tick_interval
        self.metadata_log = metadata_log
        #: Every topic's config overrides (Kafka's strings); shared with the cluster in process.
        self._topic_configs: TopicConfigs = topic_configs if topic_configs is not None else {}
        self._next_producer_id = producer_id_block_end
        self._producer_id_block_end = producer_id_block_end
        self._boots = boots
        #: Every topic's id (KIP-516), assigned in :meth:`persist` (PRO-63).
        self.topic_ids = topic_ids if topic_ids is not None else TopicIds()
        self._ids_version = -1
        self._persisted: tuple[int, int] | None = None
        #: The typed dispatch of every request the controller serves.
        self.handlers = (
            RequestHandlers("the controller")
            .on(HeartbeatRequest, self._heartbeat)
            .on(AlterPartitionRequest, self._alter_partition)
            .on(RegisterBrokerRequest, self._register_broker)
            .on(ControlledShutdownRequest, self._controlled_shutdown)
            .on(MetadataRequest, self._metadata)
            .on(CreateTopicRequest, self._create_topic)
            .on(AlterTopicConfigsRequest, self._alter_topic_configs)
            .on(InitProducerIdRequest, self._init_producer_id)
            .on(DeleteTopicRequest, self._delete_topic)
            .on(CreatePartitionsRequest, self._create_partitions)
            .on(ElectLeadersRequest, self._elect_leaders)
        )

    def persist(self) -> None:
        """Make the controller's current state durable (a no-op without a metadata log or a change).

        Raises :class:`~reflog.errors.StorageError` when the metadata log cannot be written: the
        controller is assumed reliable, so that failure stops the cluster rather than expose
        state the disk does not hold. First every new topic gets its id (:class:`TopicIds`), in
        the same step, so no task sees a topic without one, with or without a metadata log.
        """
        ids_changed = False
        if self.controller.metadata_version != self._ids_version:  # topics change only with it
            self._ids_version = self.controller.metadata_version
            ids_changed = self.topic_ids.sync({p.topic_partition.topic for p in self.controller.partitions()})
        if self.metadata_log is None:
            return
        marker = (self.controller.metadata_version, self._producer_id_block_end)
        if marker == self._persisted and not ids_changed:
            return
        snapshot = self.controller.snapshot()
        image = MetadataImage(
            snapshot.metadata_version,
            {b.broker_id: b for b in snapshot.brokers},
            dict(snapshot.topics),
            {p.topic_partition: p for p in snapshot.partitions},
            {name: dict(c) for name, c in self._topic_configs.items() if name in dict(snapshot.topics)},
            self._producer_id_block_end,
            self._boots,
            self.topic_ids.as_dict(),
        )
        self.metadata_log.append(image)
        self._persisted = marker

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before (its block is durable before it is returned)."""
        if self._next_producer_id >= self._producer_id_block_end:
            self._producer_id_block_end = self._next_producer_id + PRODUCER_ID_BLOCK_SIZE
            self.persist()
        producer_id = self._next_producer_id
        self._next_producer_id += 1
        return producer_id

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and tick until cancelled."""
        self.persist()
        listener = self.network.listen(CONTROLLER_NODE)
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_rpc_listener, listener, self._handle_and_persist)
            nursery.start_soon(self._tick_loop)
            task_status.started()

    async def _tick_loop(self) -> None:
        while True:
            await trio.sleep(self.tick_interval)
            self.controller.tick(trio.current_time())
            self.persist()

    async def _handle_and_persist(self, request: object) -> object:
        response = await self.handle(request)
        self.persist()  # no checkpoint since the change: nobody has seen it before it is durable
        return response

    def metadata(self) -> MetadataResponse:
        return MetadataResponse(
            brokers=tuple(b.broker_id for b in self.controller.brokers() if b.is_active),
            partitions=self.controller.partitions(),
            version=self.controller.metadata_version,
        )

    async def handle(self, request: object) -> object:
        """Dispatch one request (:attr:`handlers`); unknown request types raise :class:`TypeError`
        (the client gets a RemoteError). No handler awaits: a change and its persist are never
        separated by a checkpoint (CTL-26)."""
        return await self.handlers(request)

    # The handlers never await (see handle): each is async only to fit the RPC dispatch.
    async def _heartbeat(self, request: HeartbeatRequest) -> HeartbeatResponse:
        controller = self.controller
        reply = controller.heartbeat(
            request.broker_id,
            request.broker_epoch,
            trio.current_time(),
            current_metadata_version=request.metadata_version,
        )
        if reply.error is not Errors.NONE:
            return HeartbeatResponse(reply.error)
        view = controller.metadata_for_broker(request.broker_id)
        return HeartbeatResponse(
            Errors.NONE,
            controller.metadata_version,
            view.partitions,
            tuple(sorted(view.broker_epochs.items())),
        )

    async def _alter_partition(self, request: AlterPartitionRequest) -> AlterPartitionResponse:
        return self.controller.alter_partition(request, trio.current_time())

    async def _register_broker(self, request: RegisterBrokerRequest) -> RegisterBrokerResponse:
        try:
            registration = self.controller.register_broker(
                request.broker_id,
                request.incarnation_id,
                clean_shutdown=request.clean_shutdown,
                now=trio.current_time(),
            )
        except DuplicateBrokerRegistrationError:
            return RegisterBrokerResponse(Errors.BROKER_ID_NOT_REGISTERED)
        return RegisterBrokerResponse(Errors.NONE, registration.broker_epoch)

    async def _controlled_shutdown(self, request: ControlledShutdownRequest) -> BrokerHeartbeatReply:
        return self.controller.controlled_shutdown(
            request.broker_id, request.broker_epoch, trio.current_time()
        )

    async def _metadata(self, request: MetadataRequest) -> MetadataResponse:
        return self.metadata()

    async def _create_topic(self, request: CreateTopicRequest) -> CreateTopicResponse:
        try:
            created = self.controller.create_topic(
                request.name,
                request.partitions,
                request.replication_factor,
                min_insync_replicas=request.min_insync_replicas,
                unclean_leader_election_enable=request.unclean_leader_election_enable,
                replica_assignment=request.replica_assignment,
                now=trio.current_time(),
            )
        except RequestRefusedError as exc:
            return CreateTopicResponse(exc.error_code, message=str(exc))
        except ReflogError as exc:
            return CreateTopicResponse(Errors.INVALID_REQUEST, message=str(exc))
        return CreateTopicResponse(Errors.NONE, created)

    async def _alter_topic_configs(self, request: AlterTopicConfigsRequest) -> AlterTopicConfigsResponse:
        """A topic's new override set (Kafka's ``ConfigRecord`` s): kept, and made durable with the
        new metadata version before the answer (CTL-26, LOG-28)."""
        configs = dict(request.configs)
        min_isr = configs.get("min.insync.replicas")
        unclean = configs.get("unclean.leader.election.enable")
        try:
            self.controller.alter_topic_config(
                request.name,
                min_insync_replicas=None if min_isr is None else int(min_isr),
                unclean_leader_election_enable=None if unclean is None else unclean == "true",
            )
        except ReflogUsageError:
            unknown = f"unknown topic {request.name}"
            return AlterTopicConfigsResponse(Errors.UNKNOWN_TOPIC_OR_PARTITION, unknown)
        self._topic_configs[request.name] = dict(configs)
        return AlterTopicConfigsResponse(Errors.NONE)

    async def _delete_topic(self, request: DeleteTopicRequest) -> TopicAdminResponse:
        try:
            removed = self.controller.delete_topic(request.name, now=trio.current_time())
        except RequestRefusedError as exc:
            return TopicAdminResponse(exc.error_code, message=str(exc))
        if isinstance(self._topic_configs, dict):
            self._topic_configs.pop(request.name, None)
        return TopicAdminResponse(Errors.NONE, removed)

    async def _create_partitions(self, request: CreatePartitionsRequest) -> TopicAdminResponse:
        try:
            added = self.controller.create_partitions(
                request.name,
                request.count,
                replica_assignment=request.assignment,
                validate_only=request.validate_only,
                now=trio.current_time(),
            )
        except RequestRefusedError as exc:
            return TopicAdminResponse(exc.error_code, message=str(exc))
        return TopicAdminResponse(Errors.NONE, added)

    async def _elect_leaders(self, request: ElectLeadersRequest) -> ElectLeadersResponse:
        known = tuple(tp for tp in request.partitions if self.controller.has_partition(tp))
        outcomes = self.controller.elect_leaders(request.election, known, now=trio.current_time())
        return ElectLeadersResponse(outcomes)

    async def _init_producer_id(self, request: InitProducerIdRequest) -> InitProducerIdResponse:
        return InitProducerIdResponse(self.allocate_producer_id(), 0)
