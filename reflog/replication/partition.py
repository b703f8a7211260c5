"""One replica's state for one partition, and Kafka's replication rules over it (sans-IO).

:class:`Partition` is plain synchronous code: the broker shell feeds it metadata from the
controller, produce requests, fetch requests (as leader) and fetch responses (as follower),
plus the current time; it answers with values (responses, ISR-change proposals) and never
performs I/O itself except through its :class:`~reflog.replication.replica_log.ReplicaLog`.

The rules, with the Kafka version whose behaviour each reproduces (see specs/replication.md):

* produce: ``acks`` 0/1/all; ``min.insync.replicas`` checked before the append
  (``NOT_ENOUGH_REPLICAS``) and when an ``acks=all`` append completes
  (``NOT_ENOUGH_REPLICAS_AFTER_APPEND``); every batch stamped with the leader epoch;
* leader fetch handling: epoch fencing (KIP-320), the divergence check on
  ``lastFetchedEpoch`` (KAFKA-10554, 2.8), the follower's LEO and last-caught-up time;
* high watermark: only the leader advances it, to the minimum LEO over the maximal ISR
  (KIP-497), never while the ISR is below min ISR (KAFKA-15583, 3.7), monotonically; a
  follower's HW is ``min(leader HW, own LEO)``;
* ISR: shrink after ``replica.lag.time.max.ms``; expand only when the follower reached the HW
  and the leader epoch's start offset (KAFKA-7128), in the current epoch; one change in flight;
* truncation only on proof of divergence from the current leader (KIP-101/279/320), never
  to the local HW; the epoch cache records the start offset when leadership begins
  (KAFKA-7415).

``legacy_truncate_to_high_watermark`` switches on the pre-0.11 rule (truncate to the local
HW on every leadership change) so tests can show which scenarios it fails.
"""

from __future__ import annotations

import dataclasses

from reflog.errors import CorruptRecordError, Errors, OffsetOutOfRangeError, ReflogError
from reflog.log.validator import ValidatedBatch, validate_client_batch
from reflog.records import verified_batches
from reflog.replication.follower_state import FollowerState, high_watermark_candidate
from reflog.replication.messages import (
    AlterPartitionRequest,
    AlterPartitionResponse,
    DivergingEpoch,
    FetchRequest,
    FetchResponse,
    LeaderRecoveryState,
    PartitionMetadata,
)
from reflog.replication.partition_values import FollowerFetchOutcome, PartitionConfig, ProduceResult, Role
from reflog.replication.producer_state import Duplicate, ProducerStateTable, Refused
from reflog.replication.replica_log import ReplicaLog
from reflog.vocabulary import NO_LEADER, UNDEFINED_EPOCH, UNDEFINED_OFFSET, TopicPartition

# Partition's signatures use these values: they stay importable from here, where users import them.
__all__ = [
    "FollowerFetchOutcome",
    "FollowerState",
    "Partition",
    "PartitionConfig",
    "ProduceResult",
    "Role",
]


class Partition:
    """One replica (``broker_id``) of ``topic_partition``; see the module docstring for the rules."""

    def __init__(
        self,
        topic_partition: TopicPartition,
        broker_id: int,
        log: ReplicaLog,
        config: PartitionConfig | None = None,
        *,
        high_watermark: int = 0,
    ) -> None:
        self.topic_partition = topic_partition
        self.broker_id = broker_id
        self.log = log
        self.config = config or PartitionConfig()
        self.role = Role.NONE
        self.leader_id = NO_LEADER
        self.leader_epoch = UNDEFINED_EPOCH
        self.partition_epoch = -1
        self.replicas: tuple[int, ...] = ()
        self.isr: tuple[int, ...] = ()
        self.leader_recovery_state = LeaderRecoveryState.RECOVERED
        self.pending_isr: tuple[int, ...] | None = None
        """The ISR proposed in an AlterPartition that the controller has not answered yet."""
        self.leader_epoch_start_offset = UNDEFINED_OFFSET
        self.followers: dict[int, FollowerState] = {}
        self.broker_epochs: dict[int, int] = {}
        self._high_watermark = max(log.log_start_offset, min(high_watermark, log.log_end_offset))
        self.producer_state = ProducerStateTable()
        self.producer_state.rebuild(log.batch_headers())

    # ================================================================== state
    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def effective_min_isr(self) -> int:
        return min(self.config.min_insync_replicas, max(1, len(self.replicas)))

    @property
    def maximal_isr(self) -> tuple[int, ...]:
        """KIP-497: the committed ISR plus any pending additions (a pending removal is not applied)."""
        if self.pending_isr is None:
            return self.isr
        return tuple(sorted(set(self.isr) | set(self.pending_isr)))

    @property
    def is_under_min_isr(self) -> bool:
        return len(self.isr) < self.effective_min_isr

    # ================================================================== metadata from the controller
    def apply_metadata(self, metadata: PartitionMetadata, now: float, broker_epochs: dict[int, int]) -> None:
        """Take the controller's view of the partition: become leader or follower, or learn an ISR change.

        A new leader epoch (or a new role) runs the full transition; the same epoch with a
        newer partition epoch only updates the ISR (an AlterPartition took effect). The same
        epochs again (every heartbeat repeats the metadata) change nothing: a pending ISR change
        stays pending until its answer (REP-9). Stale metadata (older epochs) is ignored.
        """
        self.broker_epochs = dict(broker_epochs)
        if metadata.leader_epoch < self.leader_epoch or (
            metadata.leader_epoch == self.leader_epoch and metadata.partition_epoch < self.partition_epoch
        ):
            return
        new_epoch = metadata.leader_epoch > self.leader_epoch
        newer_partition_epoch = metadata.partition_epoch > self.partition_epoch
        self.replicas = metadata.replicas
        self.partition_epoch = metadata.partition_epoch
        self.leader_recovery_state = metadata.leader_recovery_state
        if metadata.leader == self.broker_id:
            if new_epoch or self.role is not Role.LEADER:
                self._become_leader(metadata, now)
            elif newer_partition_epoch:  # an ISR change took effect (ours or the controller's)
                self.isr = metadata.isr
                self.pending_isr = None
                self._maybe_increment_high_watermark(now)
            # The same epochs again are no news: an AlterPartition in flight stays pending, its
            # additions stay in the maximal ISR (KIP-497) and no second proposal goes out.
        else:
            if new_epoch or self.role is not Role.FOLLOWER or self.leader_id != metadata.leader:
                self._become_follower(metadata)
            self.isr = metadata.isr

    def _become_leader(self, metadata: PartitionMetadata, now: float) -> None:
        self.role = Role.LEADER
        self.leader_id = self.broker_id
        self.leader_epoch = metadata.leader_epoch
        self.isr = metadata.isr
        self.pending_isr = None
        # KAFKA-7415: the epoch starts at the current LEO, recorded at once.
        self.leader_epoch_start_offset = self.log.log_end_offset
        self.log.epoch_cache.assign(self.leader_epoch, self.leader_epoch_start_offset)
        # Every follower must fetch in this epoch before it counts (Replica.resetReplicaState).
        self.followers = {
            replica: FollowerState(
                broker_id=replica,
                last_caught_up_time=now if replica in metadata.isr else 0.0,
            )
            for replica in metadata.replicas
            if replica != self.broker_id
        }
        self._maybe_increment_high_watermark(now)

    def _become_follower(self, metadata: PartitionMetadata) -> None:
        self.role = Role.FOLLOWER if metadata.leader != NO_LEADER else Role.NONE
        self.leader_id = metadata.leader
        self.leader_epoch = metadata.leader_epoch
        self.pending_isr = None
        self.followers = {}
        self.leader_epoch_start_offset = UNDEFINED_OFFSET
        if self.config.legacy_truncate_to_high_watermark:
            # The pre-KIP-101 rule: discard everything above the local HW. Unsafe (S1, S2).
            self._truncate(self._high_watermark)

    def _truncate(self, offset: int) -> None:
        if self.log.truncate_to(offset):
            self.producer_state.rebuild(self.log.batch_headers())
        self._high_watermark = min(self._high_watermark, self.log.log_end_offset)

    # ================================================================== leader: produce
    def append_records(self, records: bytes | ValidatedBatch, acks: int, now: float) -> ProduceResult:
        """Handle a produce request's records for this partition (Kafka's ``appendRecordsToLeader``).

        ``records`` is the partition's bytes from the request, or a :class:`ValidatedBatch` the
        caller already checked with :mod:`reflog.log.validator` (the broker does, in steps that
        yield to its event loop). In Kafka's order: ``NOT_LEADER_OR_FOLLOWER``;
        ``NOT_ENOUGH_REPLICAS`` (``acks=all`` with the ISR below the effective min ISR,
        ``min(min.insync.replicas, replicas)``, as Kafka 3.7+ compares it); the client-batch
        checks (``MESSAGE_TOO_LARGE``, ``RECORD_LIST_TOO_LARGE``, ``INVALID_RECORD``,
        ``CORRUPT_MESSAGE``); a duplicate (answered with the original offsets, nothing written);
        ``INVALID_TXN_STATE`` for a transactional batch (reflog has no transactions, so none is
        ever ongoing); ``INVALID_PRODUCER_EPOCH`` / ``OUT_OF_ORDER_SEQUENCE_NUMBER``. Nothing is
        written on any of these. Then ``KAFKA_STORAGE_ERROR`` when the log failed (the batch may
        already be in the page cache, if the failure was the fsync of ``flush.messages``; the
        log is then offline), a final success for ``acks`` 0/1, or a pending success for
        ``acks=all``.
        """
        if self.role is not Role.LEADER:
            return ProduceResult(Errors.NOT_LEADER_OR_FOLLOWER)
        if acks == -1 and len(self.isr) < self.effective_min_isr:
            return ProduceResult(Errors.NOT_ENOUGH_REPLICAS)
        if isinstance(records, ValidatedBatch):
            batch = records
        else:
            try:
                batch = validate_client_batch(records, self.log.config)
            except ReflogError as exc:
                return ProduceResult(Errors.of(exc.error_code))
        header = batch.header
        pending = None if acks == -1 else Errors.NONE
        check = self.producer_state.check(header)
        if isinstance(check, Duplicate):
            # A retry of a batch already written: answer with its offsets, write nothing.
            return ProduceResult(pending, check.original.base_offset, check.original.last_offset)
        if header.is_transactional:
            return ProduceResult(Errors.INVALID_TXN_STATE)
        if isinstance(check, Refused):
            fenced = check.reason == "fenced_epoch"
            return ProduceResult(
                Errors.INVALID_PRODUCER_EPOCH if fenced else Errors.OUT_OF_ORDER_SEQUENCE_NUMBER
            )
        try:
            info = self.log.append_as_leader(batch, self.leader_epoch)  # no second CRC, no second walk
        except CorruptRecordError:
            return ProduceResult(Errors.CORRUPT_MESSAGE)
        except ReflogError as exc:
            return ProduceResult(Errors.of(exc.error_code))
        self.producer_state.record(dataclasses.replace(header, base_offset=info.first_offset))
        self._maybe_increment_high_watermark(now)
        return ProduceResult(pending, info.first_offset, info.last_offset)

    def produce_status(self, required_offset: int) -> Errors | None:
        """Kafka's ``checkEnoughReplicasReachOffset`` for a pending ``acks=all`` append.

        ``None`` while the HW is below ``required_offset``; then ``NONE`` if the maximal ISR
        still has ``min.insync.replicas`` members, else ``NOT_ENOUGH_REPLICAS_AFTER_APPEND``
        (appended and committed, yet reported as an error: indeterminate for a client).
        ``NOT_LEADER_OR_FOLLOWER`` once this replica stopped leading.
        """
        if self.role is not Role.LEADER:
            return Errors.NOT_LEADER_OR_FOLLOWER
        if self._high_watermark < required_offset:
            return None
        if self.effective_min_isr <= len(self.maximal_isr):
            return Errors.NONE
        return Errors.NOT_ENOUGH_REPLICAS_AFTER_APPEND

    # ================================================================== leader: follower fetches
    def handle_fetch(self, request: FetchRequest, now: float) -> FetchResponse:
        """Serve a follower's fetch and update what the leader knows about it.

        Fencing first (``FENCED_LEADER_EPOCH`` / ``UNKNOWN_LEADER_EPOCH``), then the
        divergence check on ``last_fetched_epoch``; only a fetch that passes both moves the
        follower's LEO, may expand the ISR and may advance the HW.
        """
        tp = self.topic_partition
        if request.current_leader_epoch < self.leader_epoch:
            return FetchResponse(tp, Errors.FENCED_LEADER_EPOCH)
        if request.current_leader_epoch > self.leader_epoch:
            return FetchResponse(tp, Errors.UNKNOWN_LEADER_EPOCH)
        if self.role is not Role.LEADER:
            return FetchResponse(tp, Errors.NOT_LEADER_OR_FOLLOWER)
        follower = self.followers.get(request.replica_id)
        known_epoch = self.broker_epochs.get(request.replica_id, -1)
        if follower is None or request.replica_epoch < known_epoch:
            return FetchResponse(tp, Errors.NOT_LEADER_OR_FOLLOWER)
        hw, leo, start = self._high_watermark, self.log.log_end_offset, self.log.log_start_offset
        if request.last_fetched_epoch != UNDEFINED_EPOCH:
            epoch, end = self.log.epoch_cache.end_offset_for(request.last_fetched_epoch, leo)
            if request.fetch_offset < start or end == UNDEFINED_OFFSET:
                return FetchResponse(tp, Errors.OFFSET_OUT_OF_RANGE, hw, leo, start)
            if epoch < request.last_fetched_epoch or end < request.fetch_offset:
                return FetchResponse(
                    tp, Errors.NONE, hw, leo, start, diverging_epoch=DivergingEpoch(epoch, end)
                )
        if request.fetch_offset < start or request.fetch_offset > leo:
            return FetchResponse(tp, Errors.OFFSET_OUT_OF_RANGE, hw, leo, start)
        try:
            records = self.log.read_records(request.fetch_offset, request.max_bytes)
        except OffsetOutOfRangeError:
            return FetchResponse(tp, Errors.OFFSET_OUT_OF_RANGE, hw, leo, start)
        except CorruptRecordError:
            return FetchResponse(tp, Errors.CORRUPT_MESSAGE, hw, leo, start)
        follower.update_fetch_state(
            request.fetch_offset, request.replica_epoch, leo, now, request.log_start_offset
        )
        self._maybe_increment_high_watermark(now)
        return FetchResponse(tp, Errors.NONE, hw, leo, start, records)

    def delete_records(self, offset: int) -> tuple[Errors, int]:
        """DeleteRecords on the leader (PRO-89, ``deleteRecordsOnLeader``): move the log start to
        ``offset`` (-1: the HW); ``(error, low watermark)``. ``OFFSET_OUT_OF_RANGE`` below 0 or
        beyond the HW, ``NOT_LEADER_OR_FOLLOWER`` on a follower."""
        if self.role is not Role.LEADER:
            return Errors.NOT_LEADER_OR_FOLLOWER, UNDEFINED_OFFSET
        target = self._high_watermark if offset == -1 else offset
        if not 0 <= target <= self._high_watermark:
            return Errors.OFFSET_OUT_OF_RANGE, UNDEFINED_OFFSET
        if self.log.maybe_increment_log_start_offset(target):
            self.producer_state.rebuild(self.log.batch_headers())
        return Errors.NONE, self.low_watermark

    @property
    def low_watermark(self) -> int:
        """Kafka's ``lowWatermarkIfLeader``: the lowest log start offset of the leader and its ISR
        followers (-1 while a follower has not told it yet)."""
        starts = [self.log.log_start_offset]
        starts += [f.log_start_offset for b, f in self.followers.items() if b in self.isr]
        return min(starts)

    # ================================================================== leader: HW and ISR
    def _maybe_increment_high_watermark(self, now: float) -> bool:
        """Kafka's ``maybeIncrementLeaderHW``: the minimum LEO over the maximal ISR and caught-up replicas."""
        if self.role is not Role.LEADER or self.is_under_min_isr:
            return False
        candidate = high_watermark_candidate(
            self.log.log_end_offset,
            self.followers.values(),
            self.maximal_isr,
            now,
            self.config.replica_lag_time_max_ms,
        )
        if candidate > self._high_watermark:
            self._high_watermark = candidate
            return True
        return False

    def isr_expansion(self, now: float) -> AlterPartitionRequest | None:
        """An AlterPartition adding the followers now in sync (LEO >= HW, LESO); ``None`` if none or busy."""
        if self.role is not Role.LEADER or self.pending_isr is not None:
            return None
        if self.leader_recovery_state is LeaderRecoveryState.RECOVERING:
            return None
        joining = [
            f.broker_id
            for f in self.followers.values()
            if f.broker_id not in self.isr
            and f.may_join_isr(
                self._high_watermark, self.leader_epoch_start_offset, self.broker_epochs.get(f.broker_id, -2)
            )
        ]
        if not joining:
            return None
        return self._propose(tuple(sorted({*self.isr, *joining})))

    def isr_shrink(self, now: float) -> AlterPartitionRequest | None:
        """An AlterPartition removing followers out of sync for ``replica.lag.time.max.ms``, if any."""
        if self.role is not Role.LEADER or self.pending_isr is not None:
            return None
        leo, lag = self.log.log_end_offset, self.config.replica_lag_time_max_ms
        out = {
            f.broker_id
            for f in self.followers.values()
            if f.broker_id in self.isr and f.is_out_of_sync(leo, now, lag)
        }
        if not out:
            return None
        return self._propose(tuple(b for b in self.isr if b not in out))

    def recovered_request(self) -> AlterPartitionRequest | None:
        """KIP-704: a leader elected uncleanly reports RECOVERED once it leads (its log is the truth now)."""
        if self.role is not Role.LEADER or self.pending_isr is not None:
            return None
        if self.leader_recovery_state is not LeaderRecoveryState.RECOVERING:
            return None
        return self._propose(self.isr, LeaderRecoveryState.RECOVERED)

    def _propose(
        self, new_isr: tuple[int, ...], recovery: LeaderRecoveryState | None = None
    ) -> AlterPartitionRequest:
        self.pending_isr = new_isr
        return AlterPartitionRequest(
            topic_partition=self.topic_partition,
            broker_id=self.broker_id,
            broker_epoch=self.broker_epochs.get(self.broker_id, -1),
            leader_epoch=self.leader_epoch,
            partition_epoch=self.partition_epoch,
            new_isr=tuple((b, self.broker_epochs.get(b, -1)) for b in new_isr),
            leader_recovery_state=recovery or self.leader_recovery_state,
        )

    def on_alter_partition_response(self, response: AlterPartitionResponse, now: float) -> None:
        """Apply the controller's answer; on an error the proposal is dropped (metadata tells the truth)."""
        self.pending_isr = None
        if response.error is Errors.NONE and response.partition is not None:
            self.apply_metadata(response.partition, now, self.broker_epochs)
        self._maybe_increment_high_watermark(now)

    # ================================================================== follower
    def fetch_request(self, replica_epoch: int, max_bytes: int = 1 << 20) -> FetchRequest | None:
        """The next fetch this follower sends its leader, or ``None`` when it is not a follower."""
        if self.role is not Role.FOLLOWER:
            return None
        # Before KIP-101 (0.11) fetches carried no epoch: nothing could detect divergence.
        latest = (
            UNDEFINED_EPOCH
            if self.config.legacy_truncate_to_high_watermark
            else self.log.epoch_cache.latest_epoch
        )
        return FetchRequest(
            topic_partition=self.topic_partition,
            replica_id=self.broker_id,
            replica_epoch=replica_epoch,
            fetch_offset=self.log.log_end_offset,
            last_fetched_epoch=latest,
            current_leader_epoch=self.leader_epoch,
            log_start_offset=self.log.log_start_offset,
            max_bytes=max_bytes,
        )

    def handle_fetch_response(self, request: FetchRequest, response: FetchResponse) -> FollowerFetchOutcome:
        """Apply the leader's answer to ``request``: append, truncate on divergence, learn the HW.

        A response to a request from another epoch, or for an offset that is no longer the
        LEO, is ignored (a newer fetch will follow). Truncation happens only on a
        ``DivergingEpoch`` from the leader of the current epoch, or on an out-of-range answer
        whose leader log ends below ours.
        """
        if self.role is not Role.FOLLOWER or request.current_leader_epoch != self.leader_epoch:
            return FollowerFetchOutcome(Errors.FENCED_LEADER_EPOCH)
        if request.fetch_offset != self.log.log_end_offset:
            return FollowerFetchOutcome(Errors.NONE)
        if response.error is Errors.OFFSET_OUT_OF_RANGE:
            return self._handle_out_of_range(response)
        if response.error is not Errors.NONE:
            return FollowerFetchOutcome(response.error)
        if response.diverging_epoch is not None:
            return self._truncate_on_divergence(response.diverging_epoch)
        appended = 0
        if response.records:
            try:
                batches = list(verified_batches(response.records))  # each batch's one CRC check
                appended = self.log.append_as_follower(batches).record_count
            except CorruptRecordError:
                return FollowerFetchOutcome(Errors.CORRUPT_MESSAGE)
            for batch in batches:
                self.producer_state.record(batch.header)
        self._update_follower_high_watermark(response.high_watermark)
        if self.log.log_start_offset < response.log_start_offset <= self._high_watermark:
            # ReplicaFetcherThread: the follower follows the leader's log start (DeleteRecords).
            self.log.maybe_increment_log_start_offset(response.log_start_offset)
            self.producer_state.rebuild(self.log.batch_headers())
        return FollowerFetchOutcome(Errors.NONE, appended, None, self._high_watermark)

    def _update_follower_high_watermark(self, leader_hw: int) -> None:
        # UnifiedLog.maybeUpdateHighWatermark: clamp to [log start, LEO]; may go backwards.
        if leader_hw >= 0:
            self._high_watermark = max(self.log.log_start_offset, min(leader_hw, self.log.log_end_offset))

    def _truncate_on_divergence(self, diverging: DivergingEpoch) -> FollowerFetchOutcome:
        # AbstractFetcherThread.getOffsetTruncationState (truncate-on-fetch, KAFKA-10554).
        leo = self.log.log_end_offset
        if diverging.end_offset == UNDEFINED_OFFSET:
            target = min(self._high_watermark, leo)
        elif diverging.epoch == UNDEFINED_EPOCH:
            target = min(diverging.end_offset, leo)
        else:
            local_epoch, local_end = self.log.epoch_cache.end_offset_for(diverging.epoch, leo)
            if local_epoch == UNDEFINED_EPOCH:
                target = min(diverging.end_offset, leo)
            elif local_epoch != diverging.epoch:
                target = min(local_end, leo)  # not complete: the next fetch asks again
            else:
                target = min(local_end, diverging.end_offset, leo)
        self._truncate(target)
        return FollowerFetchOutcome(Errors.NONE, 0, target, self._high_watermark)

    def _handle_out_of_range(self, response: FetchResponse) -> FollowerFetchOutcome:
        leo = self.log.log_end_offset
        if 0 <= response.log_end_offset < leo:
            # Only after an unclean election can the leader's log end below ours (Kafka's comment:
            # "There is a potential for a mismatch between the logs of the two replicas here").
            self._truncate(response.log_end_offset)
            return FollowerFetchOutcome(Errors.NONE, 0, response.log_end_offset, self._high_watermark)
        if response.log_start_offset > leo:
            self.log.truncate_fully_and_start_at(response.log_start_offset)  # behind the leader's start
            self.producer_state.rebuild(())
            self._high_watermark = self.log.log_end_offset
            return FollowerFetchOutcome(Errors.NONE, 0, response.log_start_offset, self._high_watermark)
        return FollowerFetchOutcome(Errors.OFFSET_OUT_OF_RANGE)

    def __repr__(self) -> str:
        return (
            f"Partition({self.topic_partition.topic}-{self.topic_partition.partition}@{self.broker_id}, "
            f"{self.role.value}, epoch={self.leader_epoch}, leo={self.log.log_end_offset}, "
            f"hw={self._high_watermark}, isr={self.isr})"
        )
