"""Links of the simulated network: their names, fault policies, counters and trace events.

A *link* is one direction between two nodes, :class:`LinkKey` ``(src, dst)``: the bytes a
node ``src`` sends to a node ``dst`` on any connection between them. Faults, counters and
partitions are all per link, so a one-way fault is just a fault on one of the two links.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Literal

from reflog.errors import ReflogUsageError

#: A delay: fixed seconds, or ``(low, high)`` for a seeded uniform draw per frame.
Delay = float | tuple[float, float]


@dataclass(frozen=True, order=True)
class LinkKey:
    """One direction between two nodes: what ``src`` sends to ``dst``."""

    src: str
    dst: str

    def reverse(self) -> LinkKey:
        """The opposite direction."""
        return LinkKey(self.dst, self.src)

    def __str__(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass(frozen=True)
class LinkFaults:
    """The standing fault policy of a link, applied to every frame as it enters the link.

    * ``drop``: probability that a frame is lost;
    * ``delay``: seconds of simulated time a frame spends on the link, fixed or drawn
      uniformly from ``(low, high)``;
    * ``duplicate``: probability that a frame is delivered twice (the copy right after it);
    * ``reorder``: when False (the default) the link is FIFO: a frame is never delivered
      before one sent earlier, so a short delay waits behind a long one; when True each
      frame is delivered at its own time and random delays reorder frames.

    Raises :class:`~reflog.errors.ReflogUsageError` for a probability outside [0, 1] or a
    negative or inverted delay.
    """

    drop: float = 0.0
    delay: Delay = 0.0
    duplicate: float = 0.0
    reorder: bool = False

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ReflogUsageError(f"{name} must be a probability in [0, 1], got {value}")
        low, high = self.delay if isinstance(self.delay, tuple) else (self.delay, self.delay)
        if not 0.0 <= low <= high:
            raise ReflogUsageError(f"delay must be >= 0 seconds (low <= high), got {self.delay}")

    @property
    def is_clean(self) -> bool:
        """True when the policy changes nothing."""
        return self == NO_FAULTS

    def sample_delay(self, rng: random.Random) -> float:
        """This frame's delay: the fixed value, or a draw from ``rng`` (no draw when fixed)."""
        if isinstance(self.delay, tuple):
            low, high = self.delay
            return low if low == high else rng.uniform(low, high)
        return self.delay


#: The policy of a link nobody set faults on.
NO_FAULTS = LinkFaults()


class LinkFaultTable:
    """The standing fault policy and the "drop the next ``n`` frames" budget of every link.

    A link with no entry has :data:`NO_FAULTS` and no budget; a clean policy or a zero
    budget removes the entry.
    """

    def __init__(self) -> None:
        self._faults: dict[LinkKey, LinkFaults] = {}
        self._drop_budget: dict[LinkKey, int] = {}

    def set(self, link: LinkKey, faults: LinkFaults) -> None:
        """Replace ``link``'s standing policy."""
        if faults.is_clean:
            self._faults.pop(link, None)
        else:
            self._faults[link] = faults

    def get(self, link: LinkKey) -> LinkFaults:
        """``link``'s standing policy."""
        return self._faults.get(link, NO_FAULTS)

    def drop_next(self, link: LinkKey, n: int) -> None:
        """Lose exactly the next ``n`` frames on ``link`` (replacing any budget left).

        Raises :class:`~reflog.errors.ReflogUsageError` for a negative ``n``.
        """
        if n < 0:
            raise ReflogUsageError(f"n must be >= 0, got {n}")
        if n:
            self._drop_budget[link] = n
        else:
            self._drop_budget.pop(link, None)

    def take_drop_next(self, link: LinkKey) -> bool:
        """Consume one frame of ``link``'s budget; False when none is left."""
        left = self._drop_budget.get(link, 0)
        if left <= 0:
            return False
        if left == 1:
            del self._drop_budget[link]
        else:
            self._drop_budget[link] = left - 1
        return True

    def clear(self) -> None:
        """Remove every policy and budget."""
        self._faults.clear()
        self._drop_budget.clear()


@dataclass
class LinkStats:
    """Frame counters of one link since the network started (the model only increments them).

    ``sent`` counts frames that entered the link; each is then ``dropped`` (by a drop
    fault, including ``blackholed`` ones lost to a partition or a cut link) or delivered,
    ``duplicated`` frames being delivered twice. ``delayed`` counts frames whose delivery
    was later than the moment they were sent (by a delay or by waiting behind one).
    Frames discarded by a connection teardown (reset, or the receiving end closing) are not
    counted as dropped, and bytes forwarded unparsed after a framing violation are not frames.
    """

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    blackholed: int = 0
    duplicated: int = 0
    delayed: int = 0

    def snapshot(self) -> LinkStats:
        """A copy, for comparing before and after a step."""
        return dataclasses.replace(self)


#: What a trace event records.
EventKind = Literal[
    "connect",  # a connection was made (src = the connecting node)
    "refused",  # a connect failed
    "send",  # a frame entered a link
    "deliver",  # a frame reached the receiver's buffer
    "drop",  # a frame was lost to a drop fault
    "blackhole",  # a frame was lost to a partition / cut link
    "duplicate",  # a frame was scheduled a second time
    "eof",  # the sender's close reached the receiver
    "reset",  # the connection was torn down (node down, network stopped)
]


@dataclass(frozen=True)
class NetEvent:
    """One step of the network's history, for traces and determinism checks.

    ``conn`` is the connection's id (0 for ``refused``), ``size`` the frame's payload
    length (0 when not about a frame), ``time`` trio's clock at the event.
    """

    time: float
    kind: EventKind
    link: LinkKey
    conn: int
    size: int = 0
