"""The fault vocabulary: every kind of fault the injector records, and what each kind does.

:class:`FaultKind` is a :class:`enum.StrEnum`: a member *is* its value (``FaultKind.CRASH ==
"crash"``), so histories keep their JSON spelling and a history written by hand with plain strings
still compares equal. Each kind's properties (:class:`FaultTraits`) live in one table,
:data:`TRAITS`, read through the kind's properties:

* :attr:`FaultKind.scope`: what a fault of this kind is aimed at: one or more brokers, a link
  between two brokers (source, destination) or the whole cluster or network;
* :attr:`FaultKind.damages_storage`: it may lose or corrupt what a broker's storage holds (a
  :class:`~faults.budget.FaultBudget` counts these; :data:`DAMAGING` lists them);
* :attr:`FaultKind.takes_broker_down`: it stops the broker's process (a disk error halts it,
  REP-26), so a run that must keep an in-sync replica alive must not aim it at the last one;
* :attr:`FaultKind.hits_broker`: it acts on a broker as a whole (stops, restarts or cuts it off,
  or damages its storage), so the injector's listeners hear its brokers; a link fault, a slow
  disk, a TLS switch and a repair hit none;
* :attr:`FaultKind.lasts_until_heal`: a network fault that only a network heal ends;
* :attr:`FaultKind.on_disk`: a disk fault that :meth:`~faults.inject.FaultInjector.clear_disk_faults`
  removes;
* :attr:`FaultKind.is_repair`: it ends faults rather than starting one (a heal, a restart).

Failure modes: :func:`kind_of` returns ``None`` for a string that names no kind (a history
written by hand may hold any string); looking a non-member up in :data:`TRAITS` raises ``KeyError``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs


class Scope(enum.Enum):
    """What one fault is aimed at (and so, where a report draws it)."""

    BROKERS = "brokers"
    """Each of its brokers."""
    LINK = "link"
    """The link from its first broker to its second (one way)."""
    CLUSTER = "cluster"
    """The whole cluster or network (its brokers, if any, are one side of a split)."""


class FaultKind(enum.StrEnum):
    """Every kind of fault :class:`~faults.inject.FaultInjector` records; see the module docstring."""

    CRASH = "crash"
    STOP = "stop"
    RESTART = "restart"
    POWER_LOSS = "power_loss"
    REPLACE_DISK = "replace_disk"
    ISOLATE = "isolate"
    SPLIT = "split"
    BLOCK = "block"
    HEAL = "heal"
    LINK_FAULTS = "link_faults"
    SWITCH_TO_TLS = "switch_to_tls"
    FSYNC_ERROR = "fsync_error"
    ENOSPC = "enospc"
    BITFLIP = "bitflip"
    LATENT_READ_ERROR = "latent_read_error"
    MISDIRECTED_WRITE = "misdirected_write"
    SLOW_DISK = "slow_disk"
    CLEAR_DISK_FAULTS = "clear_disk_faults"

    @property
    def traits(self) -> FaultTraits:
        return TRAITS[self]

    @property
    def scope(self) -> Scope:
        return self.traits.scope

    @property
    def damages_storage(self) -> bool:
        return self.traits.damages_storage

    @property
    def takes_broker_down(self) -> bool:
        return self.traits.takes_broker_down

    @property
    def hits_broker(self) -> bool:
        return self.traits.hits_broker

    @property
    def lasts_until_heal(self) -> bool:
        return self.traits.lasts_until_heal

    @property
    def on_disk(self) -> bool:
        return self.traits.on_disk

    @property
    def is_repair(self) -> bool:
        return self.traits.is_repair


@attrs.frozen
class FaultTraits:
    """The properties of one :class:`FaultKind` (see the module docstring for each)."""

    scope: Scope
    damages_storage: bool = False
    takes_broker_down: bool = False
    hits_broker: bool = False
    lasts_until_heal: bool = False
    on_disk: bool = False
    is_repair: bool = False


_B, _L, _C = Scope.BROKERS, Scope.LINK, Scope.CLUSTER
_DISK_DAMAGE = FaultTraits(_B, damages_storage=True, hits_broker=True, on_disk=True)

TRAITS: Mapping[FaultKind, FaultTraits] = {
    FaultKind.CRASH: FaultTraits(_B, takes_broker_down=True, hits_broker=True),
    FaultKind.STOP: FaultTraits(_B, takes_broker_down=True, hits_broker=True),
    FaultKind.RESTART: FaultTraits(_B, hits_broker=True, is_repair=True),
    FaultKind.POWER_LOSS: FaultTraits(_B, damages_storage=True, takes_broker_down=True, hits_broker=True),
    FaultKind.REPLACE_DISK: FaultTraits(_B, damages_storage=True, takes_broker_down=True, hits_broker=True),
    FaultKind.ISOLATE: FaultTraits(_B, hits_broker=True, lasts_until_heal=True),
    FaultKind.SPLIT: FaultTraits(_C, hits_broker=True, lasts_until_heal=True),
    FaultKind.BLOCK: FaultTraits(_L, lasts_until_heal=True),
    FaultKind.HEAL: FaultTraits(_C, is_repair=True),
    FaultKind.LINK_FAULTS: FaultTraits(_L, lasts_until_heal=True),
    FaultKind.SWITCH_TO_TLS: FaultTraits(_B),
    FaultKind.FSYNC_ERROR: attrs.evolve(_DISK_DAMAGE, takes_broker_down=True),
    FaultKind.ENOSPC: attrs.evolve(_DISK_DAMAGE, takes_broker_down=True),
    FaultKind.BITFLIP: _DISK_DAMAGE,
    FaultKind.LATENT_READ_ERROR: _DISK_DAMAGE,
    FaultKind.MISDIRECTED_WRITE: _DISK_DAMAGE,
    FaultKind.SLOW_DISK: FaultTraits(_B, on_disk=True),
    FaultKind.CLEAR_DISK_FAULTS: FaultTraits(_B),
}
"""One row per kind: the only place a kind's properties are written down."""

DAMAGING: frozenset[FaultKind] = frozenset(kind for kind in FaultKind if kind.damages_storage)
"""Fault kinds that may lose or corrupt what a broker's storage holds (a budget counts them)."""


def kind_of(name: str) -> FaultKind | None:
    """The :class:`FaultKind` spelled ``name``, or ``None`` when it names no kind."""
    try:
        return FaultKind(name)
    except ValueError:
        return None


__all__ = ["DAMAGING", "TRAITS", "FaultKind", "FaultTraits", "Scope", "kind_of"]
