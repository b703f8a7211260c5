"""Who can reach whom: partitions, isolated nodes, one-way blocks, and nodes that are down.

Pure bookkeeping with no I/O; :class:`~reflog.net.sim.SimNetwork` owns one and acts on
its answers (blackholing frames, refusing connects).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from reflog.errors import ReflogUsageError
from reflog.net._links import LinkKey


class Topology:
    """The cut links and the down nodes of a simulated network.

    Cuts accumulate until :meth:`heal`: :meth:`partition` cuts both directions between
    nodes of different groups, :meth:`isolate` cuts a node from every other node (including
    nodes that appear later), :meth:`block` cuts one direction. A node never cuts itself.
    Down nodes are separate: :meth:`heal` does not bring a node up.
    """

    def __init__(self) -> None:
        self._cuts: set[LinkKey] = set()
        self._isolated: set[str] = set()
        self._down: set[str] = set()

    def partition(self, groups: Iterable[Set[str]]) -> None:
        """Cut both directions between every pair of nodes named in different groups.

        Nodes named in no group keep every link they had. Raises
        :class:`~reflog.errors.ReflogUsageError` when a node is named in two groups.
        """
        owner: dict[str, int] = {}
        listed = [set(group) for group in groups]
        for index, group in enumerate(listed):
            for node in group:
                if owner.setdefault(node, index) != index:
                    raise ReflogUsageError(f"node {node!r} is in more than one partition group")
        for a, ga in owner.items():
            for b, gb in owner.items():
                if ga != gb:
                    self._cuts.add(LinkKey(a, b))

    def isolate(self, node: str) -> None:
        """Cut ``node`` from every other node, both ways."""
        self._isolated.add(node)

    def block(self, src: str, dst: str) -> None:
        """Cut the one direction ``src -> dst``."""
        self._cuts.add(LinkKey(src, dst))

    def heal(self) -> None:
        """Remove every cut (partitions, isolations, blocks)."""
        self._cuts.clear()
        self._isolated.clear()

    def is_cut(self, link: LinkKey) -> bool:
        """True when frames on ``link`` are blackholed."""
        if link.src == link.dst:
            return False
        return link.src in self._isolated or link.dst in self._isolated or link in self._cuts

    def take_down(self, node: str) -> None:
        """Mark ``node`` as down."""
        self._down.add(node)

    def bring_up(self, node: str) -> None:
        """Mark ``node`` as up again (no-op when it is up)."""
        self._down.discard(node)

    def is_down(self, node: str) -> bool:
        """True while ``node`` is down."""
        return node in self._down
