"""A broker: the trio shell around the sans-IO replication core and the log.

One :meth:`Broker.run` is one incarnation of the broker process: it opens the log manager
(recovering after an unclean shutdown), listens on its network node, registers with the
controller, and runs a task tree:

* request handling (produce, consumer fetch, list offsets, replica fetch), one task per
  request, so one client's error never reaches another;
* a metadata/heartbeat loop that applies the controller's view to every partition, starting a
  replica fetcher per (partition, leader epoch) and cancelling the fetchers of old epochs;
* an ISR loop (shrink after ``replica.lag.time.max.ms``; expansion is proposed after fetches);
* log maintenance (``flush.ms``, the recovery-point checkpoint) and, on simulated storage, the
  page-cache flusher.

Cancelling :meth:`run` (kill, power loss) stops every task at once, as a dying process would;
:meth:`shutdown` first does Kafka's controlled shutdown and writes the clean-shutdown marker.

Work per request is bounded: a consumer fetch reads at most ``fetch.max.bytes`` and waits at
most :attr:`BrokerConfig.fetch_max_wait_ms` whatever it asks; a replica fetch asks for at most
``replica.fetch.response.max.bytes`` and is served at most ``fetch.max.bytes`` (as Kafka's leader
caps every fetch at ``fetch.max.bytes``).

A bug in a broker task (the heartbeat/metadata loop, a replica fetcher, the ISR loop, log
maintenance, the page-cache flusher, an ISR proposal) halts that broker only, like a log
directory failure: :attr:`Broker.exit_reason` says which task failed, the traceback is logged,
and every other broker in the process keeps serving. (A bug in a request handler is the caller's
error: the RPC layer answers it with an error response, the Kafka listener closes that
connection, as Kafka answers ``UNKNOWN_SERVER_ERROR`` and carries on.)

A storage error takes the log that hit it offline (KIP-112). A reflog broker has one log
directory, so, as Kafka's ``LogDirFailureHandler`` does when no log directory is left online, the
broker then halts: :meth:`run` returns at once with :attr:`Broker.exit_reason` set, no controlled
shutdown, no clean-shutdown marker. The controller fences it when its session expires and moves
leadership; a restart recovers the log from what the storage holds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

import trio

from reflog.broker.api import (
    ControlledShutdownRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterBrokerRequest,
)
from reflog.broker.changes import ChangeWatch, PartitionChanges
from reflog.broker.config import BrokerConfig, log_config, partition_config
from reflog.broker.handlers import BrokerRequests
from reflog.broker.peers import Peers
from reflog.broker.replica_fetcher import ReplicaFetchers
from reflog.errors import Errors, ReflogError, StorageError
from reflog.log import LogManager
from reflog.log.manager import StartupReport
from reflog.net.errors import NetError
from reflog.net.rpc import serve_rpc_listener
from reflog.net.sim import SimNetwork
from reflog.replication.messages import AlterPartitionRequest
from reflog.replication.partition import Partition
from reflog.requests import Request
from reflog.storage import Filesystem
from reflog.storage.flusher import run_flusher
from reflog.storage.sim import SimFilesystem
from reflog.trio_clock import TrioClock
from reflog.vocabulary import CONTROLLER_NODE, TopicPartition, node_name

logger = logging.getLogger(__name__)
R = TypeVar("R")


class Broker(BrokerRequests):
    """Broker ``broker_id`` over storage ``fs`` on ``network`` (see the module docstring).

    Its request handlers (:meth:`fetch`, :meth:`produce`, :meth:`consumer_fetch`,
    :meth:`list_offsets`) are :class:`reflog.broker.handlers.BrokerRequests`'s."""

    def __init__(
        self,
        broker_id: int,
        fs: Filesystem,
        network: SimNetwork,
        *,
        config: BrokerConfig | None = None,
        topic_configs: Mapping[str, Mapping[str, int | str]] | None = None,
        boot: int = 0,
    ) -> None:
        self.broker_id = broker_id
        #: Which start of the controller's metadata this process is (0: metadata kept in memory);
        #: it names incarnations, so a restarted process never reuses an incarnation id.
        self.boot = boot
        self.fs = fs
        self.network = network
        self.config = config or BrokerConfig()
        self.topic_configs = topic_configs if topic_configs is not None else {}
        self.node = node_name(broker_id)
        self.incarnation = 0
        self.broker_epoch = -1
        self.metadata_version = 0
        self.partitions: dict[TopicPartition, Partition] = {}
        self.manager: LogManager | None = None
        self.last_startup_clean: bool | None = None
        self.last_startup: StartupReport | None = None
        """What the latest incarnation's log recovery found (``None`` before the first start)."""
        self._changes = PartitionChanges()
        self._fetchers = self._replica_fetchers()
        self._broker_epochs: dict[int, int] = {}
        self._checkpointed_hw: dict[TopicPartition, int] = {}
        self._nursery: trio.Nursery | None = None
        self._peers: Peers | None = None
        self._handlers = self.request_handlers()
        self.running = False
        self.exit_reason: str | None = None
        """Why the last incarnation halted by itself (a log directory failure), else ``None``."""
        #: The leader's clock for ``LogAppendTime`` (ms): trio's in process; ``reflog serve``
        #: sets the epoch clock, as Kafka's ``time.milliseconds()``.
        self.append_time_ms: Callable[[], int] = lambda: int(trio.current_time() * 1000)
        #: The cluster's ``min.insync.replicas`` (the controller's), for topics without their own.
        self.default_min_insync_replicas = 1

    # ================================================================== lifecycle
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run one incarnation until cancelled; ``started`` once registered with the controller."""
        self.incarnation += 1
        self.exit_reason = None
        self.partitions = {}
        self._fetchers = self._replica_fetchers()
        self._changes = PartitionChanges()
        clock = TrioClock()
        manager = LogManager(self.fs, "data", clock)
        report = manager.startup(
            topic_configs={t: log_config(self.topic_configs.get(t, {})) for t in self.topic_configs}
        )
        self.manager = manager
        self.last_startup_clean = report.clean_shutdown
        self.last_startup = report
        self._checkpointed_hw = manager.read_high_watermarks()
        listener = self.network.listen(self.node)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._peers = Peers(self.network, self.node, nursery)
                await nursery.start(self._serve_rpc, listener)
                await self._register(report.clean_shutdown)
                self._spawn("heartbeat loop", self._heartbeat_loop)
                self._spawn("ISR loop", self._isr_loop)
                self._spawn("log maintenance", self._maintenance_loop)
                if isinstance(self.fs, SimFilesystem):
                    self._spawn("page-cache flusher", run_flusher, self.fs)
                self.running = True
                task_status.started()
        finally:
            self.running = False
            self._nursery = None
            listener.close()

    async def shutdown(self) -> None:
        """Kafka's controlled shutdown, then flush every log and write the clean-shutdown marker.

        The caller cancels :meth:`run` afterwards. An I/O error in the final flush or checkpoint
        does not raise: the log goes offline, no clean-shutdown marker is written (the next start
        recovers) and ``exit_reason`` says why, as when the broker halts on a log dir failure.
        """
        with contextlib.suppress(NetError):  # the controller unreachable: shut down anyway
            await self._call(CONTROLLER_NODE, ControlledShutdownRequest(self.broker_id, self.broker_epoch))
        self._fetchers.cancel_all()
        if self.manager is not None:
            try:
                self._checkpoint_high_watermarks()
                self.manager.shutdown()
            except StorageError as exc:
                self._halt_if_log_dir_failed(exc)

    async def _serve_rpc(
        self,
        listener: trio.abc.Listener[trio.abc.Stream],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            await serve_rpc_listener(listener, self._handlers, task_status=task_status)
        except Exception as exc:
            self._halt_on_bug("RPC listener", exc)

    def _spawn(self, name: str, fn: Callable[..., Awaitable[None]], *args: object) -> bool:
        """Start ``fn(*args)`` in this incarnation's nursery, guarded by :meth:`_guarded`;
        ``False`` (nothing started) when the incarnation is not running."""
        if self._nursery is None:
            return False
        self._nursery.start_soon(self._guarded, name, fn, *args)
        return True

    async def _guarded(self, name: str, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run one broker task: a storage error escaping it is a log dir failure, any other
        exception a bug; either halts this broker (never the process hosting the others)."""
        try:
            await fn(*args)
        except StorageError as exc:
            self._halt_if_log_dir_failed(exc)
        except Exception as exc:
            self._halt_on_bug(name, exc)

    def _halt_on_bug(self, task: str, error: Exception) -> None:
        """Halt this incarnation after an unexpected exception in ``task`` (logged with its traceback)."""
        if self.exit_reason is None:
            self.exit_reason = f"internal error in the {task}: {type(error).__name__}: {error}: halting"
            logger.error("broker %d: %s", self.broker_id, self.exit_reason, exc_info=error)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _halt_if_log_dir_failed(self, error: BaseException | None = None) -> bool:
        """Halt this incarnation if a log went offline (or ``error`` is a storage error).

        Returns whether the broker is halting. The halt cancels every task, as ``Exit.halt``
        ends Kafka's process; answers already computed may or may not reach their clients.
        """
        logs = self.manager.logs if self.manager is not None else {}
        offline = sorted(f"{tp.dir_name}: {log.offline_cause}" for tp, log in logs.items() if log.offline)
        if not offline and not isinstance(error, StorageError):
            return False
        if self.exit_reason is None:
            what = "; ".join(offline) or str(error)
            self.exit_reason = f"log directory failed ({what}): halting, as Kafka does with no log dir left"
            logger.warning("broker %d: %s", self.broker_id, self.exit_reason)
            if self._nursery is not None:
                self._nursery.cancel_scope.cancel()
        return True

    async def _call(self, dst: str, request: Request[R], timeout: float | None = None) -> R:
        assert self._peers is not None
        limit = self.config.replica_socket_timeout_ms / 1000 if timeout is None else timeout
        return await self._peers.call(dst, request, timeout=limit)

    async def _register(self, clean_shutdown: bool) -> None:
        incarnation = f"{self.broker_id}-{self.incarnation}"
        if self.boot:
            incarnation = f"{self.broker_id}-{self.boot}.{self.incarnation}"
        while True:
            try:
                response = await self._call(
                    CONTROLLER_NODE, RegisterBrokerRequest(self.broker_id, incarnation, clean_shutdown), 5.0
                )
            except NetError:
                await trio.sleep(1.0)
                continue
            if response.error is Errors.NONE:
                self.broker_epoch = response.broker_epoch
                break
            await trio.sleep(1.0)  # the previous incarnation's session has not expired yet
        await self._heartbeat_once()

    # ================================================================== metadata
    async def _heartbeat_loop(self) -> None:
        while True:
            await trio.sleep(self.config.broker_heartbeat_interval_ms / 1000)
            try:
                await self._heartbeat_once()
            except NetError:
                continue

    async def _heartbeat_once(self) -> None:
        response = await self._call(
            CONTROLLER_NODE,
            HeartbeatRequest(self.broker_id, self.broker_epoch, self.metadata_version),
            self.config.broker_heartbeat_interval_ms / 1000 * 4,
        )
        if response.error is Errors.NONE:
            try:
                self._apply(response)
            except StorageError as exc:  # e.g. the leader-epoch checkpoint of a new leader (ENOSPC)
                self._halt_if_log_dir_failed(exc)

    def _apply(self, response: HeartbeatResponse) -> None:
        now = trio.current_time()
        self._broker_epochs = dict(response.broker_epochs)
        self.metadata_version = response.metadata_version
        assert self.manager is not None and self._nursery is not None
        for metadata in response.partitions:
            tp = metadata.topic_partition
            partition = self.partitions.get(tp)
            if partition is None:
                settings = self.topic_configs.get(tp.topic, {})
                log = self.manager.create_log(tp.topic, tp.partition, log_config(settings))
                config = partition_config(
                    self.config, settings, default_min_insync_replicas=self.default_min_insync_replicas
                )
                hw = self._checkpointed_hw.get(tp, 0)
                partition = Partition(tp, self.broker_id, log, config, high_watermark=hw)
                self.partitions[tp] = partition
            partition.apply_metadata(metadata, now, self._broker_epochs)
            self._changes.notify(tp)
            self._fetchers.manage(partition)
        listed = {metadata.topic_partition for metadata in response.partitions}
        for tp in [tp for tp in self.manager.logs if tp not in listed]:
            self._delete_partition(tp)

    def _delete_partition(self, tp: TopicPartition) -> None:
        """A log this broker's metadata no longer lists: its topic was deleted, maybe while this
        broker was down (Kafka's stray partitions). Stop the replica, delete the log (CTL-31)."""
        assert self.manager is not None
        if self.partitions.pop(tp, None) is not None:
            self._fetchers.stop(tp)
        self._checkpointed_hw.pop(tp, None)
        self.manager.delete_log(tp)
        self._changes.notify(tp)

    def apply_topic_configs(self, topic: str) -> None:
        """Put ``topic``'s current configs (:attr:`topic_configs`) into effect on its live logs and
        partitions, as Kafka's broker does on a ``ConfigRecord`` (LOG-27); a partition created or
        a log opened later reads them anyway. A no-op while this broker is not running."""
        if self.manager is None:
            return
        settings = self.topic_configs.get(topic, {})
        self.manager.update_topic_config(topic, log_config(settings))
        replication = partition_config(
            self.config, settings, default_min_insync_replicas=self.default_min_insync_replicas
        )
        for tp, partition in self.partitions.items():
            if tp.topic == topic:
                partition.config = replication
                self._changes.notify(tp)  # an acks=all wait looks again at min.insync.replicas

    async def wait_for_change(self, tps: Iterable[TopicPartition], deadline: float) -> None:
        """Return when any of ``tps`` changes (its log end offset, high watermark, leadership or
        ISR) after this call, or at ``deadline`` (trio time, seconds): the one wait of every long
        poll (:mod:`reflog.broker.changes`). The caller looks again at what it waits for."""
        await self._changes.wait_for_change(tps, deadline)

    def watch_changes(self, tps: Iterable[TopicPartition]) -> contextlib.AbstractContextManager[ChangeWatch]:
        """Keep the changes of ``tps`` from now on while the block runs, for a caller whose look
        at the partitions awaits (:meth:`PartitionChanges.watch`: a change during the look ends
        the next :meth:`ChangeWatch.wait` at once)."""
        return self._changes.watch(tps)

    async def _throttle(self) -> None:
        delay = self.fs.take_throttle_delay()
        if delay > 0:
            await trio.sleep(delay)

    # ================================================================== follower: replica fetchers
    def _replica_fetchers(self) -> ReplicaFetchers:
        return ReplicaFetchers(
            self.config,
            spawn=self._spawn,
            call=self._call,
            broker_epoch=lambda: self.broker_epoch,
            on_storage_error=self._halt_if_log_dir_failed,
            fetched=self._fetched,
        )

    async def _fetched(self, tp: TopicPartition) -> None:
        """A follower applied a fetch: throttle (simulated storage), then wake the waiters."""
        await self._throttle()
        self._changes.notify(tp)

    # ================================================================== leader: ISR
    async def _isr_loop(self) -> None:
        interval = max(0.5, self.config.replica_lag_time_max_ms / 1000 / 2)
        while True:
            await trio.sleep(min(interval, 1.0))
            now = trio.current_time()
            for partition in list(self.partitions.values()):
                request = partition.isr_shrink(now) or partition.recovered_request()
                if request is not None:
                    await self._alter_partition(partition, request)

    async def _alter_partition(self, partition: Partition, request: AlterPartitionRequest) -> None:
        try:
            response = await self._call(CONTROLLER_NODE, request, 5.0)
        except NetError:
            partition.pending_isr = None
            return
        hw_before = partition.high_watermark
        partition.on_alter_partition_response(response, trio.current_time())
        if response.error is Errors.NONE or partition.high_watermark != hw_before:
            # Wake waiters only on a real change: a refused proposal must not end long polls,
            # or a follower refused again and again would spin without time passing.
            self._changes.notify(partition.topic_partition)

    def _maybe_expand_isr(self, partition: Partition) -> None:
        request = partition.isr_expansion(trio.current_time())
        if request is not None:
            self._spawn("ISR expansion", self._alter_partition, partition, request)

    async def _maintenance_loop(self) -> None:
        last_hw_checkpoint = last_clean = trio.current_time()
        hw_interval = self.config.replica_high_watermark_checkpoint_interval_ms / 1000
        while True:
            await trio.sleep(self.config.log_maintenance_interval_ms / 1000)
            if self.manager is None:
                continue
            try:
                self.manager.tick()
                if trio.current_time() - last_clean >= self.config.log_cleaner_backoff_ms / 1000:
                    last_clean = trio.current_time()
                    self.manager.clean_logs({tp: p.high_watermark for tp, p in self.partitions.items()})
                if trio.current_time() - last_hw_checkpoint >= hw_interval:
                    self._checkpoint_high_watermarks()
                    last_hw_checkpoint = trio.current_time()
            except ReflogError as exc:
                self._halt_if_log_dir_failed(exc)

    def _checkpoint_high_watermarks(self) -> None:
        if self.manager is not None:
            self.manager.write_high_watermarks({tp: p.high_watermark for tp, p in self.partitions.items()})


__all__ = ["Broker"]
