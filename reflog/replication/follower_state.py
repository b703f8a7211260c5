"""What a leader knows about each follower, and the HW and ISR rules over it (Kafka's ``Replica``).

:class:`FollowerState` is one follower's fetch bookkeeping as its leader keeps it
(``Replica.updateFetchStateOrThrow``): its LEO, its broker epoch, when it last fetched and when it
was last caught up. Over it, as pure functions of the leader's numbers and ``now`` (seconds):

* :meth:`FollowerState.is_caught_up` (``isCaughtUp``) and :meth:`FollowerState.is_out_of_sync`
  (``replica.lag.time.max.ms``, the ISR-shrink rule, REP-6);
* :meth:`FollowerState.may_join_isr`: the ISR-expansion rule (at least the HW and the leader
  epoch's start offset, KAFKA-7128, and fetching with its current broker epoch);
* :func:`high_watermark_candidate`: the HW rule of ``maybeIncrementLeaderHW`` (the minimum LEO
  over the maximal ISR, KIP-497, and the caught-up replicas).

:class:`~reflog.replication.partition.Partition` decides when they apply (only as leader, never
below min ISR, the HW never going back, one ISR change in flight). Nothing here raises or
performs I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import attrs

UNKNOWN_OFFSET = -1
"""A follower's LEO before its first fetch in the current leader epoch."""


@attrs.define
class FollowerState:
    """What a leader knows about one follower (Kafka's ``Replica`` state)."""

    broker_id: int
    broker_epoch: int = -1
    log_end_offset: int = UNKNOWN_OFFSET
    last_caught_up_time: float = 0.0
    last_fetch_time: float = 0.0
    last_fetch_leader_log_end_offset: int = UNKNOWN_OFFSET
    log_start_offset: int = UNKNOWN_OFFSET

    def is_caught_up(self, leader_end_offset: int, now: float, lag_time_max_ms: int) -> bool:
        """Kafka's ``isCaughtUp``: at the leader's LEO, or caught up within the lag time."""
        return leader_end_offset == self.log_end_offset or (
            (now - self.last_caught_up_time) * 1000 <= lag_time_max_ms
        )

    def is_out_of_sync(self, leader_end_offset: int, now: float, lag_time_max_ms: int) -> bool:
        """The ISR-shrink rule: behind the leader's LEO and not caught up for more than the lag time."""
        return (
            self.log_end_offset != leader_end_offset
            and (now - self.last_caught_up_time) * 1000 > lag_time_max_ms
        )

    def may_join_isr(self, high_watermark: int, leader_epoch_start_offset: int, known_epoch: int) -> bool:
        """The ISR-expansion rule: fetched in this epoch up to the HW and the leader epoch's start offset.

        ``known_epoch`` is the follower's broker epoch in the leader's metadata; the follower must
        have fetched with exactly that epoch (a new incarnation has not caught up yet).
        """
        return (
            self.log_end_offset >= 0
            and self.log_end_offset >= high_watermark
            and self.log_end_offset >= leader_epoch_start_offset
            and self.broker_epoch == known_epoch
        )

    def update_fetch_state(
        self,
        fetch_offset: int,
        replica_epoch: int,
        leader_end_offset: int,
        now: float,
        log_start_offset: int = UNKNOWN_OFFSET,
    ) -> None:
        """Kafka's ``Replica.updateFetchStateOrThrow``: a fetch at ``fetch_offset`` was served at ``now``.

        The follower is caught up as of now when it fetched at the leader's LEO, or as of its
        previous fetch when it fetched at least the leader's LEO of that fetch; its LEO becomes
        ``fetch_offset`` and its log start ``log_start_offset`` (the leader's low watermark, PRO-89).
        """
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_time = max(self.last_caught_up_time, now)
        elif fetch_offset >= self.last_fetch_leader_log_end_offset >= 0:
            self.last_caught_up_time = max(self.last_caught_up_time, self.last_fetch_time)
        self.broker_epoch = replica_epoch
        self.log_end_offset = fetch_offset
        self.log_start_offset = log_start_offset
        self.last_fetch_leader_log_end_offset = leader_end_offset
        self.last_fetch_time = now


def high_watermark_candidate(
    leader_end_offset: int,
    followers: Iterable[FollowerState],
    maximal_isr: Collection[int],
    now: float,
    lag_time_max_ms: int,
) -> int:
    """``maybeIncrementLeaderHW``'s candidate: the minimum LEO over the leader and the followers that count.

    A follower counts when it is in the maximal ISR (KIP-497), or has fetched in this epoch and
    is caught up. The caller moves the HW only forward, and only when the ISR reaches min ISR.
    """
    candidate = leader_end_offset
    for follower in followers:
        if follower.log_end_offset >= candidate:
            continue
        counts = follower.broker_id in maximal_isr or (
            follower.log_end_offset >= 0 and follower.is_caught_up(leader_end_offset, now, lag_time_max_ms)
        )
        if counts:
            candidate = follower.log_end_offset
    return candidate


__all__ = ["UNKNOWN_OFFSET", "FollowerState", "high_watermark_candidate"]
