"""The public API for users' code: an in-process cluster of N brokers you can break on purpose.

    async with open_cluster(brokers=3, seed=7) as cluster:
        await cluster.create_topic("orders", partitions=1, replication_factor=3,
                                   configs={"min.insync.replicas": 2})
        producer = cluster.producer(acks="all")
        result = await producer.send("orders", b"hello")
        await cluster.broker(1).power_off()          # lose its page cache
        await cluster.broker(1).restart()            # recover from what was durable

Storage is simulated by default (``storage="sim"``: a page cache over a simulated device per
broker); ``storage="os"`` puts each broker's log in a real directory. The network is
simulated (:class:`reflog.net.sim.SimNetwork`); ``cluster.network`` exposes its fault hooks.
Time is trio's clock: run under ``trio.testing.MockClock`` to make runs deterministic.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Literal, TypeVar

import trio

from reflog.broker.api import AlterTopicConfigsRequest, CreateTopicRequest
from reflog.broker.broker import Broker
from reflog.broker.config import BrokerConfig
from reflog.broker.controller_service import ControllerService
from reflog.broker.metadata_log import MetadataLog, TopicConfigs
from reflog.broker.peers import Peers
from reflog.broker.topic_ids import TopicIds
from reflog.client.consumer import Consumer
from reflog.client.producer import Producer, ProducerConfig
from reflog.determinism import seed_trio_scheduler
from reflog.errors import Errors, ReflogUsageError, RequestRefusedError
from reflog.log.manager import StartupReport
from reflog.log.topic_configs import validate_topic_configs
from reflog.net.sim import SimNetwork
from reflog.replica_view import ReplicaView
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.messages import PartitionMetadata
from reflog.requests import Request
from reflog.storage import Filesystem, OsFilesystem
from reflog.storage.sim import CrashReport, PowerLossMode, SimFilesystem, WritebackPolicy
from reflog.trio_clock import TrioClock
from reflog.vocabulary import CONTROLLER_NODE, TopicPartition

R = TypeVar("R")


class BrokerHandle:
    """One broker's lifecycle: stop cleanly, kill, power off, restart; its storage; read-only views.

    Observers read what the broker holds through :attr:`incarnation`, :attr:`last_startup` and
    :meth:`replica` (a :class:`~reflog.replica_view.ReplicaView`), not through :attr:`broker`.
    """

    def __init__(self, cluster: Cluster, broker: Broker) -> None:
        self._cluster = cluster
        self.broker = broker
        self._scope: trio.CancelScope | None = None
        self._done: trio.Event | None = None
        self._disks = 0

    @property
    def broker_id(self) -> int:
        return self.broker.broker_id

    @property
    def fs(self) -> Filesystem:
        return self.broker.fs

    @property
    def running(self) -> bool:
        return self._scope is not None

    @property
    def incarnation(self) -> int:
        """The current (or, while down, the last) incarnation of the broker's process; 0 before any."""
        return self.broker.incarnation

    @property
    def last_startup(self) -> StartupReport | None:
        """What the last start recovered from storage (per log: recovery, truncated bytes...)."""
        return self.broker.last_startup

    def replica(self, tp: TopicPartition) -> ReplicaView | None:
        """A read-only view of this broker's replica of ``tp``; ``None`` while it is down or holds none."""
        if not self.running:
            return None
        partition = self.broker.partitions.get(tp)
        return None if partition is None else ReplicaView(partition)

    async def start(self) -> None:
        """Start a new incarnation (recovering from whatever the storage holds)."""
        if self._scope is not None:
            raise ReflogUsageError(f"broker {self.broker_id} is already running")
        await self._cluster._nursery.start(self._run)

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        done = trio.Event()
        self._done = done
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                await self.broker.run(task_status=task_status)
            if self.broker.exit_reason is not None:
                # The broker halted by itself (a log directory failure): the process is gone,
                # the machine and its page cache are not.
                self._process_exited()
        finally:
            self._scope = None
            done.set()

    def _process_exited(self) -> None:
        network = self._cluster.network
        network.take_down(self.broker.node)
        network.bring_up(self.broker.node)
        if isinstance(self.fs, SimFilesystem):
            self.fs.crash_process()

    @property
    def exit_reason(self) -> str | None:
        """Why the broker halted by itself (see :class:`~reflog.broker.Broker`), while it stays down."""
        return None if self.running else self.broker.exit_reason

    async def _halt(self) -> None:
        if self._scope is None or self._done is None:
            raise ReflogUsageError(f"broker {self.broker_id} is not running")
        self._scope.cancel()
        await self._done.wait()
        network = self._cluster.network
        network.take_down(self.broker.node)
        network.bring_up(self.broker.node)

    async def stop(self) -> None:
        """Clean shutdown: controlled shutdown, flush, clean-shutdown marker, then stop."""
        await self.broker.shutdown()
        await self._halt()

    async def kill(self) -> None:
        """The process dies (SIGKILL): the page cache survives (simulated storage keeps it)."""
        await self._halt()
        if isinstance(self.fs, SimFilesystem):
            self.fs.crash_process()

    async def power_off(
        self,
        mode: PowerLossMode = PowerLossMode.CLEAN,
        *,
        survival_probability: float = 0.5,
        torn_probability: float = 0.5,
        size_probability: float = 0.5,
    ) -> CrashReport:
        """The machine loses power: only durable bytes survive (simulated storage only).

        ``mode`` and the probabilities are :meth:`SimFilesystem.power_loss`'s; returns its report.
        A broker already down (crashed, halted) still loses its page cache.
        """
        if not isinstance(self.fs, SimFilesystem):
            raise ReflogUsageError("power loss needs simulated storage (storage='sim')")
        if self.running:
            await self._halt()
        return self.fs.power_loss(
            mode,
            survival_probability=survival_probability,
            torn_probability=torn_probability,
            size_probability=size_probability,
        )

    async def restart(self) -> None:
        """Start again after a stop, kill, power loss or halt."""
        await self.start()

    async def replace_disk(self) -> None:
        """The replica is lost for good with its disk: power off and install an empty disk.

        The broker keeps its id and stays down until :meth:`restart`, which starts it with
        no data, as an operator replacing a failed machine would. Simulated storage only.
        """
        if not isinstance(self.fs, SimFilesystem):
            raise ReflogUsageError("replacing a disk needs simulated storage (storage='sim')")
        if self.running:
            await self._halt()
        self.fs.power_loss(PowerLossMode.CLEAN)
        self._disks += 1
        self.broker.fs = SimFilesystem(
            TrioClock(), seed=self.fs.seed * 1000 + self._disks, policy=self.fs.policy
        )


class Cluster:
    """An in-process cluster; build it with :func:`open_cluster`."""

    def __init__(
        self,
        network: SimNetwork,
        controller: Controller,
        nursery: trio.Nursery,
        topic_configs: TopicConfigs | None = None,
        topic_ids: TopicIds | None = None,
    ) -> None:
        self.network = network
        self.controller = controller
        self._nursery = nursery
        self.topic_configs: TopicConfigs = topic_configs if topic_configs is not None else {}
        #: Every topic's id (KIP-516): ``topic_ids.id_of(name)``, ``topic_ids.name_of(id)`` (PRO-63).
        self.topic_ids = topic_ids if topic_ids is not None else TopicIds()
        self._brokers: dict[int, BrokerHandle] = {}
        self._clients = 0
        self._admin = Peers(network, "admin", nursery)

    def broker(self, broker_id: int) -> BrokerHandle:
        return self._brokers[broker_id]

    @property
    def brokers(self) -> tuple[BrokerHandle, ...]:
        return tuple(self._brokers[b] for b in sorted(self._brokers))

    def _client_node(self, kind: str) -> str:
        self._clients += 1
        return f"{kind}-{self._clients}"

    async def create_topic(
        self,
        name: str,
        *,
        partitions: int = 1,
        replication_factor: int = 3,
        configs: Mapping[str, object] | None = None,
        replica_assignment: Sequence[Sequence[int]] | None = None,
    ) -> tuple[PartitionMetadata, ...]:
        """Create a topic and wait until every partition's leader serves it.

        ``replica_assignment`` names each partition's replicas (the first is the preferred
        leader); then ``partitions`` and ``replication_factor`` must match it, and the controller
        refuses an unregistered or repeated broker (``INVALID_REPLICA_ASSIGNMENT``).

        ``configs`` takes Kafka's topic config names (``min.insync.replicas``,
        ``unclean.leader.election.enable``, ``flush.messages``, ``segment.bytes``, ...), checked
        as Kafka checks them before anything is created (:func:`validate_topic_configs`).
        Raises :class:`InvalidConfigError` (``INVALID_CONFIG``) for an unknown name or a value out
        of Kafka's bounds, :class:`RequestRefusedError` (its ``error_code`` the controller's
        answer) when the controller refuses.
        """
        settings = validate_topic_configs(configs or {})
        self.topic_configs[name] = dict(settings)
        unclean = settings.get("unclean.leader.election.enable")
        min_isr = settings.get("min.insync.replicas")
        request = CreateTopicRequest(
            name,
            partitions,
            replication_factor,
            None if min_isr is None else int(min_isr),
            None if unclean is None else unclean == "true",
            None if replica_assignment is None else tuple(tuple(r) for r in replica_assignment),
        )
        response = await self.controller_call(request)
        if response.error is not Errors.NONE:
            raise RequestRefusedError(
                response.error, f"create_topic {name}: {response.error.name} {response.message}"
            )
        await self.wait_for_leaders(name)
        return response.partitions

    async def alter_topic_configs(self, name: str, configs: Mapping[str, object]) -> dict[str, str]:
        """Replace topic ``name``'s whole config override set (Kafka's AlterConfigs semantics).

        Checked as :meth:`create_topic` checks configs, made durable by the controller (the
        metadata log, LOG-28), then put into effect on every running broker's logs and
        partitions (LOG-27). Returns the stored overrides (Kafka's strings). Raises
        :class:`InvalidConfigError` for a bad config, :class:`RequestRefusedError`
        (``UNKNOWN_TOPIC_OR_PARTITION``) for an unknown topic.
        """
        settings = validate_topic_configs(configs)
        response = await self.controller_call(AlterTopicConfigsRequest(name, tuple(sorted(settings.items()))))
        if response.error is not Errors.NONE:
            raise RequestRefusedError(response.error, f"alter_topic_configs {name}: {response.message}")
        self.topic_configs[name] = dict(settings)
        for handle in self.brokers:
            handle.broker.apply_topic_configs(name)
        return settings

    async def controller_call(self, request: Request[R]) -> R:
        """Send an admin request to the controller; its response, typed and checked.

        Raises :class:`reflog.net.errors.NetError` (a response of the wrong class is an
        :class:`~reflog.net.errors.RpcProtocolError`).
        """
        return await self._admin.call(CONTROLLER_NODE, request, timeout=10.0)

    async def wait_for_brokers(self, timeout: float = 30.0) -> None:
        """Wait until every running broker is registered and unfenced at the controller."""
        with trio.fail_after(timeout):
            while True:
                active = {b.broker_id for b in self.controller.brokers() if b.is_active}
                if all(h.broker_id in active for h in self._brokers.values() if h.running):
                    return
                await trio.sleep(0.1)

    async def wait_for_leaders(self, topic: str, timeout: float = 30.0) -> None:
        """Wait until every partition of ``topic`` has a running leader that knows it leads."""
        with trio.fail_after(timeout):
            while True:
                ready = True
                for metadata in self.controller.partitions():
                    if metadata.topic_partition.topic != topic:
                        continue
                    handle = self._brokers.get(metadata.leader)
                    partition = None
                    if handle is not None and handle.running:
                        partition = handle.broker.partitions.get(metadata.topic_partition)
                    if partition is None or partition.leader_epoch != metadata.leader_epoch:  # not yet
                        ready = False
                if ready:
                    return
                await trio.sleep(0.1)

    def producer(self, *, config: ProducerConfig | None = None, **kafka_settings: object) -> Producer:
        """A producer (``acks``, ``linger_ms``, ``batch_size``, ``enable_idempotence``, ...)."""
        return Producer(
            self.network,
            self._client_node("producer"),
            self._nursery,
            config or ProducerConfig.from_settings(kafka_settings),
        )

    def consumer(self) -> Consumer:
        """A consumer that reads partitions by explicit assignment."""
        return Consumer(self.network, self._client_node("consumer"), self._nursery)


@asynccontextmanager
async def open_cluster(
    brokers: int = 3,
    *,
    seed: int = 0,
    storage: Literal["sim", "os"] = "sim",
    directory: str | os.PathLike[str] | None = None,
    controller_config: ControllerConfig | None = None,
    broker_config: BrokerConfig | None = None,
    writeback_policy: WritebackPolicy | None = None,
    metadata_fs: Filesystem | None = None,
) -> AsyncIterator[Cluster]:
    """Run a cluster of ``brokers`` brokers (ids 1..N) and a controller for the block.

    With ``storage="os"`` each broker keeps its log in ``directory/broker-<id>`` (required), and
    the controller its metadata log in ``directory/controller``: a cluster opened again on the
    same directory resumes with its topics, configs, ISRs, epochs, registrations and producer-id
    block (CTL-26). ``metadata_fs`` puts the metadata log on another filesystem (a
    :class:`SimFilesystem` in tests); without either, metadata lives in memory.
    ``seed`` seeds the simulated storage, the network's faults and trio's scheduler, so a run
    under ``trio.testing.MockClock`` replays exactly. Everything stops when the block exits.
    """
    if storage == "os" and directory is None:
        raise ReflogUsageError("storage='os' needs a directory")
    seed_trio_scheduler(seed)
    if metadata_fs is None and storage == "os":
        assert directory is not None
        metadata_fs = OsFilesystem(os.path.join(os.fspath(directory), "controller"))
    async with SimNetwork.open(seed) as network, trio.open_nursery() as nursery:
        metadata_log = None if metadata_fs is None else MetadataLog.open(metadata_fs, TrioClock())
        image = metadata_log.image if metadata_log is not None else None
        boots = 0 if image is None else image.boots + 1
        if image is None:
            controller = Controller(controller_config)
            service = ControllerService(controller, network, topic_ids=TopicIds(rng=random.Random(seed)))
        else:
            controller = Controller.restored(
                image.controller_snapshot(), controller_config, now=trio.current_time()
            )
            service = ControllerService(
                controller,
                network,
                metadata_log=metadata_log,
                topic_configs=image.topic_configs,
                producer_id_block_end=image.producer_id_block_end,
                boots=boots,
                topic_ids=TopicIds(image.topic_ids),
            )
        await nursery.start(service.run)
        cluster = Cluster(
            network,
            controller,
            nursery,
            None if image is None else image.topic_configs,
            service.topic_ids,
        )
        for broker_id in range(1, brokers + 1):
            fs: Filesystem
            if storage == "sim":
                fs = SimFilesystem(TrioClock(), seed=seed * 1000 + broker_id, policy=writeback_policy)
            else:
                assert directory is not None
                fs = OsFilesystem(os.path.join(os.fspath(directory), f"broker-{broker_id}"))
            broker = Broker(
                broker_id, fs, network, config=broker_config, topic_configs=cluster.topic_configs, boot=boots
            )
            broker.default_min_insync_replicas = controller.config.min_insync_replicas
            handle = BrokerHandle(cluster, broker)
            cluster._brokers[broker_id] = handle
            await handle.start()
        await cluster.wait_for_brokers()
        try:
            yield cluster
        finally:
            nursery.cancel_scope.cancel()


__all__ = ["BrokerHandle", "Cluster", "open_cluster"]
