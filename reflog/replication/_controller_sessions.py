"""Broker sessions: when each broker was last heard from, and whose session has expired (sans-IO).

:class:`BrokerSessions` is the session half of Kafka's ``BrokerHeartbeatManager``, kept apart from
:class:`~reflog.replication.controller.Controller`: it records each broker's last contact (its
registration, heartbeat or controlled-shutdown request) and answers Kafka's ``hasValidSession``:
a session is valid while ``lastContact + broker.session.timeout.ms >= now``. It knows nothing of
fencing; the controller decides which brokers to ask about (the unfenced ones) and fences those
whose session expired. It performs no I/O and reads no clock: ``now`` (seconds) is given.
"""

from __future__ import annotations

from collections.abc import Iterable


class BrokerSessions:
    """The last contact of each broker, and the session rule over it.

    ``session_timeout_ms`` is ``broker.session.timeout.ms``. A broker never heard from has no
    valid session. Times are taken as given (the controller checks that they never go back).
    """

    def __init__(self, session_timeout_ms: int) -> None:
        self._timeout = session_timeout_ms / 1000.0
        self._last_contact: dict[int, float] = {}

    def start_fresh(self, broker_ids: Iterable[int], now: float) -> None:
        """Forget every session and start one at ``now`` for each of ``broker_ids``.

        What Kafka's controller does when it becomes active: its ``BrokerHeartbeatManager`` is
        new, so every unfenced broker gets a whole session timeout from then on.
        """
        self._last_contact = dict.fromkeys(broker_ids, now)

    def touch(self, broker_id: int, now: float) -> None:
        """Record a contact from ``broker_id`` at ``now``: its session runs from there."""
        self._last_contact[broker_id] = now

    def is_valid(self, broker_id: int, now: float) -> bool:
        """Kafka's ``hasValidSession``: ``broker_id`` was heard from within the timeout of ``now``."""
        return self._last_contact.get(broker_id, float("-inf")) + self._timeout >= now

    def expired(self, broker_ids: Iterable[int], now: float) -> tuple[int, ...]:
        """Those of ``broker_ids`` whose session is no longer valid at ``now``, in the order given."""
        return tuple(b for b in broker_ids if not self.is_valid(b, now))


__all__ = ["BrokerSessions"]
