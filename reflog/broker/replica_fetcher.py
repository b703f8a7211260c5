"""A broker's replica fetchers: one task per follower partition and leader epoch.

:class:`ReplicaFetchers` is Kafka's ``ReplicaFetcherManager`` for one broker incarnation, each of
its tasks one partition's ``ReplicaFetcherThread``: while the partition follows, it fetches from
the leader of its epoch (:meth:`Partition.fetch_request`), hands the answer to the sans-IO core
(:meth:`Partition.handle_fetch_response`), and backs off ``replica.fetch.backoff.ms`` after a
network error, a storage error or an error code. :meth:`ReplicaFetchers.manage`, called whenever
metadata was applied to a partition, starts the fetcher of a new epoch and cancels the fetcher of
an old one or of a partition that no longer follows.

The broker gives it what it needs as callables: where tasks run (a broker task, so a bug in a
fetcher halts that broker), the RPC call, the current broker epoch, what to do with a storage
error (a log dir failure) and what to do after a fetch was applied (throttle, wake waiters).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from reflog.broker.config import BrokerConfig
from reflog.errors import Errors, ReflogError
from reflog.net.errors import NetError
from reflog.replication.messages import FetchRequest, FetchResponse
from reflog.replication.partition import Partition, Role
from reflog.vocabulary import TopicPartition, node_name

Spawn = Callable[..., bool]
"""``spawn(name, fn, *args)``: start ``fn(*args)`` as a broker task; ``False`` if none can start."""


class ReplicaFetchers:
    """The fetchers of one broker incarnation (see the module docstring)."""

    def __init__(
        self,
        config: BrokerConfig,
        *,
        spawn: Spawn,
        call: Callable[[str, FetchRequest], Awaitable[FetchResponse]],
        broker_epoch: Callable[[], int],
        on_storage_error: Callable[[ReflogError], object],
        fetched: Callable[[TopicPartition], Awaitable[None]],
    ) -> None:
        self.config = config
        self._spawn = spawn
        self._call = call
        self._broker_epoch = broker_epoch
        self._on_storage_error = on_storage_error
        self._fetched = fetched
        self.running: dict[TopicPartition, tuple[int, trio.CancelScope]] = {}
        """Each fetching partition's leader epoch and the cancel scope of its fetcher."""

    def manage(self, partition: Partition) -> None:
        """Run exactly one fetcher for ``partition`` if it follows, for its current leader epoch."""
        tp = partition.topic_partition
        current = self.running.get(tp)
        wanted = partition.role is Role.FOLLOWER
        if current is not None and (not wanted or current[0] != partition.leader_epoch):
            current[1].cancel()
            del self.running[tp]
            current = None
        if wanted and current is None:
            scope = trio.CancelScope()
            if self._spawn(
                f"replica fetcher of {tp.topic}-{tp.partition}", self._fetch_loop, partition, scope
            ):
                self.running[tp] = (partition.leader_epoch, scope)

    def stop(self, tp: TopicPartition) -> None:
        """Stop the fetcher of ``tp``, if any (its partition was deleted)."""
        current = self.running.pop(tp, None)
        if current is not None:
            current[1].cancel()

    def cancel_all(self) -> None:
        """Stop every fetcher (a controlled shutdown)."""
        for _, scope in self.running.values():
            scope.cancel()

    async def _fetch_loop(self, partition: Partition, scope: trio.CancelScope) -> None:
        """Fetch from the leader of one epoch until cancelled (a new epoch starts a new fetcher)."""
        with scope:
            backoff = self.config.replica_fetch_backoff_ms / 1000
            while partition.role is Role.FOLLOWER:
                max_bytes = min(
                    self.config.replica_fetch_max_bytes, self.config.replica_fetch_response_max_bytes
                )
                request = partition.fetch_request(self._broker_epoch(), max_bytes)
                if request is None:
                    return
                try:
                    response = await self._call(node_name(partition.leader_id), request)
                except NetError:
                    await trio.sleep(backoff)
                    continue
                try:
                    outcome = partition.handle_fetch_response(request, response)
                except ReflogError as exc:
                    self._on_storage_error(exc)
                    await trio.sleep(backoff)
                    continue
                await self._fetched(partition.topic_partition)
                if outcome.error is not Errors.NONE:
                    await trio.sleep(backoff)


__all__ = ["ReplicaFetchers"]
