"""The Kafka wire protocol over TCP: real Kafka clients against reflog's brokers (specs/protocol.md)."""
