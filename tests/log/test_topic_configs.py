"""The typed topic-config model (LOG-26) and the leader's batch rewrite (LOG-29), in process."""

from __future__ import annotations

import attrs
import pytest

from reflog.errors import InvalidConfigError, ReflogUsageError
from reflog.log.config import LogConfig
from reflog.log.config_def import ConfigType
from reflog.log.rewrite import NO_APPEND_TIME, leader_rewrite
from reflog.log.topic_configs import TOPIC_CONFIGS, typed_topic_configs, validate_topic_configs
from reflog.log.validator import validate_client_batch
from reflog.records import (
    Compression,
    Header,
    Record,
    TimestampType,
    build_batch,
    decode_batch,
    verify_crc,
)

#: Kafka 4's LogConfig: name -> (type, default as DescribeConfigs shows it).
KAFKA = {
    "segment.bytes": (ConfigType.INT, "1073741824"),
    "segment.ms": (ConfigType.LONG, "604800000"),
    "segment.index.bytes": (ConfigType.INT, "10485760"),
    "index.interval.bytes": (ConfigType.INT, "4096"),
    "retention.bytes": (ConfigType.LONG, "-1"),
    "retention.ms": (ConfigType.LONG, "604800000"),
    "flush.messages": (ConfigType.LONG, "9223372036854775807"),
    "flush.ms": (ConfigType.LONG, "9223372036854775807"),
    "max.message.bytes": (ConfigType.INT, "1048588"),
    "min.insync.replicas": (ConfigType.INT, "1"),
    "unclean.leader.election.enable": (ConfigType.BOOLEAN, "false"),
    "compression.type": (ConfigType.STRING, "producer"),
    "message.timestamp.type": (ConfigType.STRING, "CreateTime"),
    "cleanup.policy": (ConfigType.LIST, "delete"),
    "delete.retention.ms": (ConfigType.LONG, "86400000"),
    "min.cleanable.dirty.ratio": (ConfigType.DOUBLE, "0.5"),
    "min.compaction.lag.ms": (ConfigType.LONG, "0"),
    "max.compaction.lag.ms": (ConfigType.LONG, "9223372036854775807"),
}


@pytest.mark.req("LOG-26")
def test_every_topic_config_has_kafkas_type_and_default() -> None:
    assert {name: (key.type, key.default_string) for name, key in TOPIC_CONFIGS.items()} == KAFKA


@pytest.mark.req("LOG-26")
def test_log_config_defaults_are_the_models() -> None:
    """Each LogConfig field's default is its config's (so DescribeConfigs shows what the log does)."""
    defaults = LogConfig()
    for field in attrs.fields(LogConfig):
        key = TOPIC_CONFIGS[field.name.replace("_", ".")]
        value = getattr(defaults, field.name)
        shown = ",".join(sorted(value)) if isinstance(value, frozenset) else value
        assert key.parse(key.default_string) == (
            tuple(sorted(value)) if isinstance(value, frozenset) else value
        )
        assert str(shown) == key.default_string or key.type is ConfigType.DOUBLE


@pytest.mark.req("LOG-26")
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"cleanup.policy": "compact, delete"}, {"cleanup.policy": "compact,delete"}),
        ({"cleanup.policy": ""}, {"cleanup.policy": ""}),
        ({"cleanup.policy": {"compact"}}, {"cleanup.policy": "compact"}),
        ({"unclean.leader.election.enable": " TRUE "}, {"unclean.leader.election.enable": "true"}),
        ({"unclean.leader.election.enable": 1}, {"unclean.leader.election.enable": "true"}),
        ({"min.insync.replicas": 2}, {"min.insync.replicas": "2"}),
        ({"retention.ms": " -1 "}, {"retention.ms": "-1"}),
        ({"min.cleanable.dirty.ratio": "0.25"}, {"min.cleanable.dirty.ratio": "0.25"}),
        ({"min.cleanable.dirty.ratio": "1"}, {"min.cleanable.dirty.ratio": "1.0"}),
        ({"compression.type": "lz4"}, {"compression.type": "lz4"}),
        ({"message.timestamp.type": "LogAppendTime"}, {"message.timestamp.type": "LogAppendTime"}),
    ],
)
def test_valid_values_are_stored_as_kafkas_strings(given: dict[str, object], stored: dict[str, str]) -> None:
    assert validate_topic_configs(given) == stored


@pytest.mark.req("LOG-26")
@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"segment.bytes": "13"},
            "Invalid value 13 for configuration segment.bytes: Value must be at least 14",
        ),
        (
            {"segment.bytes": "1e3"},
            "Invalid value 1e3 for configuration segment.bytes: Not a number of type INT",
        ),
        ({"retention.ms": "1_000"}, "Not a number of type LONG"),
        ({"retention.ms": str(2**63)}, "Not a number of type LONG"),
        ({"min.cleanable.dirty.ratio": "-0.1"}, "Value must be at least 0"),
        ({"min.cleanable.dirty.ratio": "1.01"}, "Value must be no more than 1"),
        ({"min.cleanable.dirty.ratio": "half"}, "Not a number of type DOUBLE"),
        ({"min.cleanable.dirty.ratio": "nan"}, "Not a number of type DOUBLE"),
        (
            {"compression.type": "ZSTD"},
            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        ({"message.timestamp.type": "logAppendTime"}, "String must be one of: CreateTime, LogAppendTime"),
        ({"cleanup.policy": "compact,Delete"}, "Invalid value Delete for configuration cleanup.policy"),
        ({"unclean.leader.election.enable": "yes"}, "Expected value to be either true or false"),
        ({"unclean.leader.election.enable": 2}, "Expected value to be either true or false"),
        ({"min.insync.replicas": True}, "Expected value to be a number"),
        ({"retention.ms": None}, "Invalid value null for configuration retention.ms"),
        ({"nope": "1"}, "Unknown topic config name: nope"),
        ({"segment.jitter.ms": "0"}, "Topic config segment.jitter.ms is not supported by reflog yet"),
        (
            {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)",
        ),
    ],
)
def test_invalid_values_are_refused_with_kafkas_message(given: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfigError) as refused:
        validate_topic_configs(given)
    assert message in str(refused.value)
    assert int(refused.value.error_code) == 40


@pytest.mark.req("LOG-26")
def test_log_config_reads_kafkas_strings_and_refuses_what_kafka_refuses() -> None:
    config = LogConfig.from_properties(
        {
            "cleanup.policy": "compact,delete",
            "segment.bytes": "100",
            "message.timestamp.type": "LogAppendTime",
        }
    )
    assert config.cleanup_policy == frozenset({"compact", "delete"})
    assert config.segment_bytes == 100 and config.message_timestamp_type == "LogAppendTime"
    with pytest.raises(ReflogUsageError, match="String must be one of"):
        LogConfig(compression_type="brotli")
    with pytest.raises(ReflogUsageError, match="String must be one of"):
        LogConfig(cleanup_policy=frozenset({"compact", "forever"}))
    with pytest.raises(ReflogUsageError, match="no more than 1"):
        LogConfig(min_cleanable_dirty_ratio=1.5)
    assert typed_topic_configs({"retention.ms": 5, "cleanup.policy": "compact"}) == {
        "retention.ms": 5,
        "cleanup.policy": ("compact",),
    }


# ------------------------------------------------------------------ the leader's rewrite (LOG-29)
RECORDS = [
    Record(key=b"k1", value=b"v1", timestamp=1_000, headers=(Header("h", b"x"),)),
    Record(key=None, value=b"v2", timestamp=1_500),
    Record(key=b"k3", value=None, timestamp=1_200),
]


def produced(compression: Compression = Compression.GZIP) -> bytes:
    return build_batch(RECORDS, compression=compression, producer_id=7, producer_epoch=2, base_sequence=40)


def rewrite(raw: bytes, **config: str) -> tuple[bytes, int]:
    batch, append_time = leader_rewrite(validate_client_batch(raw, LogConfig()), LogConfig(**config), 99_000)
    verify_crc(batch.raw)
    return batch.raw, append_time


def content(raw: bytes) -> list[tuple[object, ...]]:
    return [(r.key, r.value, r.headers, r.timestamp) for r in decode_batch(raw).records]


@pytest.mark.req("LOG-29")
def test_producer_compression_and_create_time_keep_the_batch_as_sent() -> None:
    raw = produced()
    assert rewrite(raw) == (raw, NO_APPEND_TIME)
    assert rewrite(raw, compression_type="gzip") == (raw, NO_APPEND_TIME)  # same codec: no work


@pytest.mark.req("LOG-29")
@pytest.mark.parametrize("target", ["zstd", "lz4", "snappy", "uncompressed"])
def test_a_different_compression_type_recompresses_keeping_every_record(target: str) -> None:
    raw = produced()
    out, append_time = rewrite(raw, compression_type=target)
    header, original = decode_batch(out).header, decode_batch(raw).header
    assert append_time == NO_APPEND_TIME
    expected = {"zstd": Compression.ZSTD, "lz4": Compression.LZ4, "snappy": Compression.SNAPPY}
    assert header.compression is expected.get(target, Compression.NONE)
    assert content(out) == content(raw)
    assert header.timestamp_type is TimestampType.CREATE_TIME and header.max_timestamp == 1_500
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 2, 40)
    assert (header.records_count, header.last_offset_delta) == (
        original.records_count,
        original.last_offset_delta,
    )


@pytest.mark.req("LOG-29")
@pytest.mark.parametrize("codec", [Compression.NONE, Compression.LZ4])
def test_log_append_time_stamps_the_batch_in_place(codec: Compression) -> None:
    raw = produced(codec)
    out, append_time = rewrite(raw, message_timestamp_type="LogAppendTime")
    header = decode_batch(out).header
    assert append_time == 99_000
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME and header.max_timestamp == 99_000
    assert header.compression is codec and len(out) == len(raw)
    assert [r.timestamp for r in decode_batch(out).records] == [99_000] * 3  # as a reader sees them
    # only the attributes, the max timestamp and the CRC changed
    changed = [i for i, (a, b) in enumerate(zip(raw, out, strict=True)) if a != b]
    assert changed and all(17 <= i < 25 or 35 <= i < 43 for i in changed)


@pytest.mark.req("LOG-29")
def test_log_append_time_with_recompression() -> None:
    out, append_time = rewrite(produced(), message_timestamp_type="LogAppendTime", compression_type="zstd")
    header = decode_batch(out).header
    assert append_time == 99_000 and header.compression is Compression.ZSTD
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME and header.max_timestamp == 99_000
    assert [(r.key, r.value) for r in decode_batch(out).records] == [(r.key, r.value) for r in RECORDS]
