"""reflog: an executable, property-tested reference implementation of Kafka's log and replication."""

__version__ = "0.1.0"
