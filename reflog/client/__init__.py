"""Clients of the in-process cluster: a batching, idempotent producer and a consumer."""

from reflog.client.consumer import Consumer, ConsumerRecord
from reflog.client.producer import Producer, ProducerConfig, SendResult, SendStatus

__all__ = ["Consumer", "ConsumerRecord", "Producer", "ProducerConfig", "SendResult", "SendStatus"]
