"""A real client under a fault: kafka-python produces with ``acks=all`` while the partition leader
loses power (its page cache is gone); every record the client saw acknowledged is read back
afterwards (PRO-14, the guarantee of REP-28 seen through the Kafka protocol)."""

from __future__ import annotations

import time

import pytest

from reflog.storage.sim import PowerLossMode
from tests.kafka.real_client import read_partition, retrying_producer
from tests.kafka.served import ServedCluster

TOPIC = "durable"
RECORDS = 240


@pytest.mark.req("PRO-14")
def test_records_acknowledged_to_a_real_client_survive_the_leader_losing_power() -> None:
    served = ServedCluster(3)
    try:
        served.create_topic(TOPIC, partitions=1, replication_factor=3, min_insync_replicas=2)
        assert served.kafka is not None
        cluster = served.kafka.cluster
        leader = cluster.controller.partition(TOPIC, 0).leader
        producer = retrying_producer(served.bootstrap)
        futures = []
        reports = []
        for i in range(RECORDS):
            futures.append((f"r{i}".encode(), producer.send(TOPIC, f"r{i}".encode())))
            if i == RECORDS // 3:
                producer.flush(30)  # the first third is acknowledged before the fault
                reports.append(served.call(cluster.broker(leader).power_off, PowerLossMode.CLEAN))
            if i == 2 * RECORDS // 3:
                served.call(cluster.broker(leader).restart)
            time.sleep(0.002)
        producer.flush(90)
        producer.close()
        acknowledged = [value for value, future in futures if future.succeeded()]
        assert len(acknowledged) > RECORDS // 3, "the client saw nothing acknowledged after the fault"
        assert reports[0].lost_pages, "the leader had unflushed pages, and lost them"
        assert cluster.controller.partition(TOPIC, 0).leader_epoch > 0, "leadership moved"

        read = set(read_partition(served.bootstrap, TOPIC))
        missing = [v for v in acknowledged if v not in read]
        assert not missing, f"{len(missing)} acknowledged records lost: {missing[:5]}"
    finally:
        served.close()
