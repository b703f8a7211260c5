"""The controller as a node of the simulated network: RPC handlers around :class:`Controller`.

The controller is one reliable node (the KRaft quorum is out of scope). It ticks every
``tick_interval`` seconds of trio time (fencing brokers whose session expired) and answers
brokers (registration, heartbeats with metadata, AlterPartition, controlled shutdown) and
clients (topic creation, metadata, producer ids).
"""

from __future__ import annotations

import itertools

import trio

from reflog.broker.api import (
    CONTROLLER_NODE,
    ControlledShutdownRequest,
    CreateTopicRequest,
    CreateTopicResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    MetadataRequest,
    MetadataResponse,
    RegisterBrokerRequest,
    RegisterBrokerResponse,
)
from reflog.errors import ReflogError
from reflog.net.rpc import serve_rpc_listener
from reflog.net.sim import SimNetwork
from reflog.replication.controller import Controller, DuplicateBrokerRegistrationError
from reflog.replication.errors import Errors
from reflog.replication.messages import AlterPartitionRequest


class ControllerService:
    """Serves :class:`Controller` on node ``"controller"``."""

    def __init__(self, controller: Controller, network: SimNetwork, *, tick_interval: float = 1.0) -> None:
        self.controller = controller
        self.network = network
        self.tick_interval = tick_interval
        self._producer_ids = itertools.count(1000)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and tick until cancelled."""
        listener = self.network.listen(CONTROLLER_NODE)
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_rpc_listener, listener, self.handle)
            nursery.start_soon(self._tick_loop)
            task_status.started()

    async def _tick_loop(self) -> None:
        while True:
            await trio.sleep(self.tick_interval)
            self.controller.tick(trio.current_time())

    def metadata(self) -> MetadataResponse:
        return MetadataResponse(
            brokers=tuple(b.broker_id for b in self.controller.brokers() if b.is_active),
            partitions=self.controller.partitions(),
            version=self.controller.metadata_version,
        )

    async def handle(self, request: object) -> object:
        """Dispatch one request; unknown request types raise (the client gets a RemoteError)."""
        now = trio.current_time()
        controller = self.controller
        if isinstance(request, HeartbeatRequest):
            reply = controller.heartbeat(
                request.broker_id,
                request.broker_epoch,
                now,
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
        if isinstance(request, AlterPartitionRequest):
            return controller.alter_partition(request, now)
        if isinstance(request, RegisterBrokerRequest):
            try:
                registration = controller.register_broker(
                    request.broker_id, request.incarnation_id, clean_shutdown=request.clean_shutdown, now=now
                )
            except DuplicateBrokerRegistrationError:
                return RegisterBrokerResponse(Errors.BROKER_ID_NOT_REGISTERED)
            return RegisterBrokerResponse(Errors.NONE, registration.broker_epoch)
        if isinstance(request, ControlledShutdownRequest):
            return controller.controlled_shutdown(request.broker_id, request.broker_epoch, now)
        if isinstance(request, MetadataRequest):
            return self.metadata()
        if isinstance(request, CreateTopicRequest):
            try:
                created = controller.create_topic(
                    request.name,
                    request.partitions,
                    request.replication_factor,
                    min_insync_replicas=request.min_insync_replicas,
                    unclean_leader_election_enable=request.unclean_leader_election_enable,
                    now=now,
                )
            except ReflogError as exc:
                return CreateTopicResponse(Errors.INVALID_REQUEST, message=str(exc))
            return CreateTopicResponse(Errors.NONE, created)
        if isinstance(request, InitProducerIdRequest):
            return InitProducerIdResponse(next(self._producer_ids), 0)
        raise TypeError(f"the controller does not serve {type(request).__name__}")
