"""Fault primitives: one API that breaks a cluster through reflog's seams, and records every fault.

:class:`FaultInjector` acts only through the seams a real fault would hit, never by patching
reflog's internals:

* **broker lifecycle** (:class:`reflog.cluster.BrokerHandle`, whose verbs it shares): ``kill`` (a
  process crash: the page cache survives), ``stop`` (clean), ``restart``, ``power_off`` (a power
  loss, ``clean``, ``partial`` or ``torn``, on one broker or several at once) and ``replace_disk``
  (a replica lost for good with its disk and replaced by an empty broker). ``crash`` and
  ``power_loss``, the names of the faults ``kill`` and ``power_off`` record, do the same: users'
  suites and scripted :class:`~faults.nemesis.Step` s have long called them so;
* **network** (:class:`reflog.net.sim.SimNetwork`): isolate a broker, split the cluster in two,
  one-way blocks, dropped, delayed and duplicated frames, and switching a broker's listener to TLS
  (which takes its fetches off the zero-copy path);
* **storage** (``fs.faults`` of a broker's :class:`reflog.storage.sim.SimFilesystem`): a failed
  write-back reported by the next fsync (EIO), a full disk (ENOSPC), a bit flip at rest, a latent
  read error, a misdirected write and a slow disk, each aimed at a partition's active segment.

Every primitive writes a :class:`~faults.history.Fault` into the history at the simulated time it
acts, with its :class:`~faults.kinds.FaultKind` and the brokers it is aimed at (``brokers``: for a
link fault, source then destination; for a split, the side that was cut off). The kind says whether
it *damages* a broker (loses or corrupts what its storage holds), which is what a
:class:`~faults.budget.FaultBudget` counts. Errors: :class:`~reflog.errors.ReflogUsageError`
for a fault the cluster cannot take (a disk fault on real storage, a restart of a running broker,
an unknown broker); the storage seam's ``FileNotFoundError`` when the partition has no log there.
"""

from __future__ import annotations

import errno as errno_mod
from collections.abc import Callable, Iterable
from typing import Any

import trio

from faults.history import History
from faults.kinds import DAMAGING, FaultKind
from reflog.cluster import BrokerHandle, Cluster
from reflog.errors import ReflogUsageError
from reflog.storage.sim import CrashReport, PowerLossMode, SimFilesystem
from reflog.vocabulary import TopicPartition


def _node(broker: int) -> str:
    return f"broker-{broker}"


class FaultInjector:
    """Inject faults into ``cluster`` and record them in ``history`` (see the module docstring).

    Each callable in :attr:`listeners` is called with every fault's kind and the brokers it hit
    (its brokers when :attr:`FaultKind.hits_broker`, else none), after the fault acts; a
    :class:`~faults.budget.BudgetMonitor` subscribes this way.
    """

    def __init__(self, cluster: Cluster, history: History) -> None:
        self.cluster = cluster
        self.history = history
        self.listeners: list[Callable[[FaultKind, tuple[int, ...]], None]] = []

    # ------------------------------------------------------------------ helpers
    def _handle(self, broker: int) -> BrokerHandle:
        try:
            return self.cluster.broker(broker)
        except KeyError:
            raise ReflogUsageError(f"no broker {broker} in this cluster") from None

    def _known(self, *brokers: int) -> None:
        for broker in brokers:
            self._handle(broker)

    def _sim_fs(self, broker: int) -> SimFilesystem:
        fs = self._handle(broker).fs
        if not isinstance(fs, SimFilesystem):
            raise ReflogUsageError("disk faults need simulated storage (storage='sim')")
        return fs

    def _record(self, kind: FaultKind, target: str, brokers: Iterable[int], **detail: Any) -> None:
        """Write the fault (with the brokers it is aimed at) and tell the listeners the brokers it hit."""
        aimed = tuple(brokers)
        self.history.fault(kind, target, trio.current_time(), brokers=aimed, **detail)
        hit = aimed if kind.hits_broker else ()
        for listener in self.listeners:
            listener(kind, hit)

    def active_segment(self, broker: int, tp: TopicPartition) -> str:
        """The path of ``tp``'s newest segment file on ``broker``'s storage (through the seam)."""
        fs = self._handle(broker).fs
        directory = f"data/{tp.dir_name}"
        segments = sorted(name for name in fs.listdir(directory) if name.endswith(".log"))
        if not segments:
            raise FileNotFoundError(f"broker {broker} holds no segment of {tp}")
        return f"{directory}/{segments[-1]}"

    # ------------------------------------------------------------------ process and power
    async def kill(self, broker: int) -> None:
        """The broker's process dies (SIGKILL); its page cache survives. Records a ``crash``; not damaging."""
        await self._handle(broker).kill()
        self._record(FaultKind.CRASH, _node(broker), (broker,))

    async def stop(self, broker: int) -> None:
        """Clean shutdown (controlled shutdown, flush, clean-shutdown marker). Not damaging."""
        await self._handle(broker).stop()
        self._record(FaultKind.STOP, _node(broker), (broker,))

    async def restart(self, broker: int) -> None:
        """Start a stopped, crashed, halted or powered-off broker; it recovers from its storage."""
        await self._handle(broker).restart()
        self._record(FaultKind.RESTART, _node(broker), (broker,))

    async def power_off(
        self,
        *brokers: int,
        mode: PowerLossMode = PowerLossMode.CLEAN,
        survival_probability: float = 0.5,
        torn_probability: float = 0.5,
        size_probability: float = 0.5,
    ) -> dict[int, CrashReport]:
        """Cut the power of ``brokers`` at the same instant (a correlated failure when several).

        Only durable bytes survive (``partial``: each in-flight page with ``survival_probability``;
        ``torn``: each survivor torn at sector granularity with ``torn_probability``). The brokers
        stay down until :meth:`restart`. Returns each broker's storage crash report; the
        ``power_loss`` fault records how many pages were lost and torn.
        """
        if not brokers:
            raise ReflogUsageError("power_off needs at least one broker")
        for broker in brokers:
            self._sim_fs(broker)
        reports: dict[int, CrashReport] = {}
        for broker in brokers:
            reports[broker] = await self._handle(broker).power_off(
                mode,
                survival_probability=survival_probability,
                torn_probability=torn_probability,
                size_probability=size_probability,
            )
        self._record(
            FaultKind.POWER_LOSS,
            ",".join(_node(b) for b in brokers),
            brokers,
            mode=mode.value,
            lost_pages=sum(len(r.lost_pages) for r in reports.values()),
            torn_pages=sum(len(r.torn_pages) for r in reports.values()),
        )
        return reports

    async def replace_disk(self, broker: int, *, start: bool = True) -> None:
        """The replica is lost for good with its disk; an empty broker with the same id takes its place."""
        handle = self._handle(broker)
        await handle.replace_disk()
        self._record(FaultKind.REPLACE_DISK, _node(broker), (broker,))
        if start:
            await self.restart(broker)

    # ------------------------------------------------------------------ network
    def isolate(self, broker: int) -> None:
        """Cut ``broker`` from every other node (controller and clients too), both ways."""
        self._known(broker)
        self.cluster.network.isolate(_node(broker))
        self._record(FaultKind.ISOLATE, _node(broker), (broker,))

    def split(self, side: Iterable[int]) -> None:
        """Split the brokers in two: ``side`` and the rest (clients and controller reach both)."""
        side = list(side)
        self._known(*side)
        left = {_node(b) for b in side}
        right = {_node(h.broker_id) for h in self.cluster.brokers} - left
        self.cluster.network.partition([left, right])
        self._record(FaultKind.SPLIT, "cluster", sorted(set(side)), left=sorted(left))

    def block(self, src: int, dst: int) -> None:
        """Cut only ``src -> dst`` (a one-way partition between two brokers)."""
        self._known(src, dst)
        self.cluster.network.block(_node(src), _node(dst))
        self._record(FaultKind.BLOCK, f"{_node(src)}->{_node(dst)}", (src, dst))

    def heal(self) -> None:
        """Remove every partition, isolation and block, and every link fault."""
        self.cluster.network.heal()
        self.cluster.network.clear_faults()
        self._record(FaultKind.HEAL, "network", ())

    def link_faults(
        self, src: int, dst: int, *, drop: float = 0.0, delay: float = 0.0, duplicate: float = 0.0
    ) -> None:
        """Drop, delay (seconds) or duplicate frames on the link ``src -> dst`` until :meth:`heal`."""
        self._known(src, dst)
        self.cluster.network.set_link_faults(
            _node(src), _node(dst), drop=drop, delay=delay, duplicate=duplicate
        )
        self._record(
            FaultKind.LINK_FAULTS,
            f"{_node(src)}->{_node(dst)}",
            (src, dst),
            drop=drop,
            delay=delay,
            duplicate=duplicate,
        )

    def switch_to_tls(self, broker: int) -> None:
        """Switch ``broker``'s listener to TLS: connections reset, clients reconnect over TLS, and its
        fetch responses are encrypted in user space (the copy path) from now on."""
        self._known(broker)
        self.cluster.network.enable_tls(_node(broker))
        self._record(FaultKind.SWITCH_TO_TLS, _node(broker), (broker,))

    # ------------------------------------------------------------------ storage
    def fsync_error(
        self, broker: int, tp: TopicPartition, *, persistent: bool = False, errno: int = errno_mod.EIO
    ) -> None:
        """The next write-back of ``tp``'s active segment fails; the next fsync reports ``errno`` once.

        The failed pages are marked clean (Linux after fsyncgate): a power loss loses them.
        """
        path = self.active_segment(broker, tp)
        self._sim_fs(broker).faults.fail_writeback(path, persistent=persistent, errno=errno)
        self._record(
            FaultKind.FSYNC_ERROR, _node(broker), (broker,), path=path, errno=errno_mod.errorcode[errno]
        )

    def enospc(self, broker: int, *, extra_bytes: int = 0) -> None:
        """The broker's disk is full after ``extra_bytes`` more: writes then fail with ENOSPC."""
        self._sim_fs(broker).faults.enospc_after(extra_bytes)
        self._record(FaultKind.ENOSPC, _node(broker), (broker,), extra_bytes=extra_bytes)

    def bitflip(self, broker: int, tp: TopicPartition, offset: int, bit: int = 0) -> None:
        """Flip a bit of ``tp``'s active segment at rest (seen on the next cold read)."""
        path = self.active_segment(broker, tp)
        self._sim_fs(broker).faults.bitflip(path, offset, bit)
        self._record(FaultKind.BITFLIP, _node(broker), (broker,), path=path, offset=offset, bit=bit)

    def latent_read_error(self, broker: int, tp: TopicPartition, first_page: int, n_pages: int = 1) -> None:
        """Make pages of ``tp``'s active segment unreadable on the device (EIO on a cold read)."""
        path = self.active_segment(broker, tp)
        self._sim_fs(broker).faults.latent_read_error(path, first_page, n_pages)
        self._record(FaultKind.LATENT_READ_ERROR, _node(broker), (broker,), path=path, first_page=first_page)

    def misdirected_write(self, broker: int, tp: TopicPartition, delta_pages: int) -> None:
        """The next write-back run of ``tp``'s active segment lands ``delta_pages`` away."""
        path = self.active_segment(broker, tp)
        self._sim_fs(broker).faults.misdirect_next_run(path, delta_pages)
        self._record(
            FaultKind.MISDIRECTED_WRITE, _node(broker), (broker,), path=path, delta_pages=delta_pages
        )

    def slow_disk(self, broker: int, *, per_io_s: float = 0.01, per_byte_s: float = 0.0) -> None:
        """Every device I/O of ``broker`` costs ``per_io_s + bytes * per_byte_s`` simulated seconds."""
        self._sim_fs(broker).faults.set_latency(per_io_s=per_io_s, per_byte_s=per_byte_s)
        self._record(FaultKind.SLOW_DISK, _node(broker), (broker,), per_io_s=per_io_s, per_byte_s=per_byte_s)

    def clear_disk_faults(self, broker: int) -> None:
        """Remove every pending disk fault of ``broker`` (damage already done stays)."""
        self._sim_fs(broker).faults.clear()
        self._record(FaultKind.CLEAR_DISK_FAULTS, _node(broker), (broker,))

    # ------------------------------------------------------------------ recovery
    async def heal_all(self) -> None:
        """End every fault: heal the network, clear disk faults, restart every broker that is down."""
        self.heal()
        for handle in self.cluster.brokers:
            if isinstance(handle.fs, SimFilesystem):
                handle.fs.faults.clear()
            if not handle.running:
                await self.restart(handle.broker_id)


__all__ = ["DAMAGING", "FaultInjector"]
# DAMAGING is defined in faults.kinds; it stays importable from here because users' suites and
# tests/faults import it from faults.inject, where it has always been.
