"""The controller's configuration: the cluster's :class:`ControllerConfig`, a topic's :class:`TopicConfig`.

Both are frozen values under Kafka's names. :class:`ControllerConfig` validates itself at
construction: a ``min.insync.replicas`` or ``broker.session.timeout.ms`` below 1, or a
``restart_is_unclean`` other than ``"marker"``/``"always"``, raises :class:`ReflogUsageError`.
:class:`TopicConfig` is built by the controller from the cluster's settings and a topic's
overrides, which :meth:`~reflog.replication.controller.Controller.create_topic` validates.
"""

from __future__ import annotations

from typing import Literal

import attrs

from reflog.errors import ReflogUsageError

__all__ = ["ControllerConfig", "RestartIsUnclean", "TopicConfig"]

RestartIsUnclean = Literal["marker", "always"]
"""Which restarts count as unclean: without a clean-shutdown marker (3.8), or all of them (3.9)."""


def _at_least_one(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ReflogUsageError(f"{attribute.name} must be at least 1, got {value}")


def _restart_mode(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("marker", "always"):
        raise ReflogUsageError(f"restart_is_unclean must be 'marker' or 'always', got {value!r}")


@attrs.frozen
class ControllerConfig:
    """Cluster-wide settings, under Kafka's names, with Kafka's defaults except where noted."""

    #: ``min.insync.replicas`` (default 1); a topic may override it at creation.
    min_insync_replicas: int = attrs.field(default=1, validator=_at_least_one)
    #: ``unclean.leader.election.enable`` (default false since 0.11); a topic may override it.
    unclean_leader_election_enable: bool = False
    #: ``eligible.leader.replicas.enable``: KIP-966's ELR. Default **true** in reflog (Kafka 3.9: false).
    eligible_leader_replicas_enable: bool = True
    #: ``broker.session.timeout.ms``: a broker without a heartbeat for longer is fenced.
    broker_session_timeout_ms: int = attrs.field(default=9000, validator=_at_least_one)
    #: ``"marker"`` (Kafka 3.8) or ``"always"`` (Kafka 3.9): which restarts count as unclean.
    restart_is_unclean: RestartIsUnclean = attrs.field(default="marker", validator=_restart_mode)
    #: Kafka 4.1's last-known-leader recovery (``useLastKnownLeaderInBalancedRecovery``, CTL-25):
    #: when ISR and ELR are both empty, the partition's last leader is elected uncleanly once it
    #: returns. Default **false** in reflog's simulation (KIP-966's LastKnownELR, see specs/);
    #: ``reflog serve`` turns it on, so a whole cluster killed at once comes back as Kafka's does.
    elect_last_known_leader: bool = False


@attrs.frozen
class TopicConfig:
    """A topic's resolved settings (the cluster's, with the overrides given at creation)."""

    min_insync_replicas: int
    unclean_leader_election_enable: bool
    replication_factor: int

    @property
    def effective_min_isr(self) -> int:
        """``min(min.insync.replicas, replication factor)`` (``getTopicEffectiveMinIsr``)."""
        return min(self.min_insync_replicas, self.replication_factor)
