"""A served cluster for interop tests: :func:`open_kafka_cluster` in a trio run on a helper thread.

Real sockets and the real clock (the clients under test run their own threads and event loops,
so simulated time cannot drive them). :meth:`ServedCluster.call` runs an async function inside the
cluster's trio run, for fault injection while a client works.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from reflog.kafka.groups import GroupConfig
from reflog.kafka.serve import KafkaCluster, open_kafka_cluster


class ServedCluster:
    def __init__(self, brokers: int = 3, **options: Any) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.kafka: KafkaCluster | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        options.setdefault("group_config", GroupConfig(group_initial_rebalance_delay_ms=0))

        async def main() -> None:
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            async with open_kafka_cluster(brokers, **options) as kafka:
                self.kafka = kafka
                self._ready.set()
                await self._stop.wait()

        def run() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # handed to the test thread
                self._error = exc
            finally:
                self._ready.set()

        self._thread = threading.Thread(target=run, name="reflog-serve", daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error

    @property
    def bootstrap(self) -> str:
        assert self.kafka is not None
        return self.kafka.bootstrap

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def create_topic(
        self, name: str, partitions: int = 1, replication_factor: int = 3, **configs: int
    ) -> None:
        assert self.kafka is not None
        cluster = self.kafka.cluster

        async def create() -> None:
            await cluster.create_topic(
                name,
                partitions=partitions,
                replication_factor=replication_factor,
                configs={k.replace("_", "."): v for k, v in configs.items()},
            )

        self.call(create)

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(30)
        if self._error is not None:
            raise self._error
