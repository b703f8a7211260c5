"""BrokerSessions, the controller's session rule on its own (Kafka's BrokerHeartbeatManager)."""

from __future__ import annotations

import pytest

from reflog.replication._controller_sessions import BrokerSessions


@pytest.mark.req("CTL-5")
def test_a_session_is_valid_up_to_exactly_the_timeout() -> None:
    sessions = BrokerSessions(session_timeout_ms=9000)
    sessions.touch(1, now=10.0)
    assert sessions.is_valid(1, 19.0)
    assert not sessions.is_valid(1, 19.001)
    assert sessions.expired([1], 19.0) == ()
    assert sessions.expired([1], 19.001) == (1,)


@pytest.mark.req("CTL-4")
def test_a_contact_restarts_the_session_and_a_broker_never_heard_from_has_none() -> None:
    sessions = BrokerSessions(session_timeout_ms=1000)
    sessions.touch(1, now=0.0)
    sessions.touch(1, now=5.0)
    assert sessions.is_valid(1, 6.0)
    assert not sessions.is_valid(2, 0.0)
    assert sessions.expired([2, 1, 3], 6.0) == (2, 3)


@pytest.mark.req("CTL-26")
def test_starting_fresh_forgets_old_sessions_and_gives_each_broker_a_whole_timeout() -> None:
    sessions = BrokerSessions(session_timeout_ms=1000)
    sessions.touch(1, now=0.0)
    sessions.start_fresh([2, 3], now=100.0)
    assert not sessions.is_valid(1, 100.0)
    assert sessions.is_valid(2, 101.0) and sessions.is_valid(3, 101.0)
    assert not sessions.is_valid(2, 101.5)
