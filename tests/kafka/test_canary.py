"""The canary catches a loss: every robustness test trusts it, so it must fail when acknowledged
canary records are gone (here all three replicas lose power before any flush)."""

from __future__ import annotations

import pytest
import trio

from reflog.replication.controller_config import ControllerConfig
from tests.kafka.canary import CANARY_TOPIC, canary
from tests.kafka.served import ServedCluster


def test_the_canary_fails_when_an_acknowledged_canary_record_is_lost() -> None:
    served = ServedCluster(
        3, controller_config=ControllerConfig(elect_last_known_leader=True, broker_session_timeout_ms=1000)
    )
    try:
        assert served.kafka is not None
        cluster = served.kafka.cluster
        canary(served)
        canary(served)  # two acknowledged, replicated to all three page caches, none flushed

        async def lose_everything() -> None:
            for handle in cluster.brokers:
                await handle.power_off()
            for handle in cluster.brokers:
                await handle.restart()
            await cluster.wait_for_brokers()
            await cluster.wait_for_leaders(CANARY_TOPIC)
            with trio.fail_after(30):  # back in service: min.insync.replicas=2 can be met again
                while len(cluster.controller.partition(CANARY_TOPIC, 0).isr) < 2:
                    await trio.sleep(0.05)

        served.call(lose_everything)
        with pytest.raises(AssertionError, match="2 acknowledged canary records lost"):
            canary(served)
    finally:
        served.close()
