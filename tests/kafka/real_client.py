"""kafka-python as the real client of the fault tests: a producer that retries through a failover,
and a read of a whole partition, both on a served cluster's bootstrap address."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]


def retrying_producer(bootstrap: str) -> Any:
    """``acks=all``, retried until delivered (60 s), one request in flight: what a user who cares
    about durability configures, so every send it reports as succeeded was acknowledged."""
    return kafka.KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=2,
        retries=2**31 - 1,
        request_timeout_ms=5000,
        delivery_timeout_ms=60_000,
        max_in_flight_requests_per_connection=1,
    )


def read_partition(bootstrap: str, topic: str, partition: int = 0) -> list[bytes]:
    """Every value of the partition a consumer can read, from the beginning (5 s without news ends it)."""
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=5000)
    try:
        consumer.assign([kafka.TopicPartition(topic, partition)])
        consumer.seek_to_beginning()
        return [message.value for message in consumer]
    finally:
        consumer.close()
