"""``reflog serve --override NAME=VALUE``: Kafka's broker config names, each landing where it acts,
refused with Kafka's messages when unknown or out of range (PRO-50)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import pytest

from reflog.broker import BrokerConfig
from reflog.errors import InvalidConfigError
from reflog.kafka.groups import GroupConfig
from reflog.kafka.overrides import SETTINGS, parse_overrides
from reflog.replication.controller_config import ControllerConfig
from tests.kafka.raw import RawClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.metadata import MetadataRequest, MetadataResponse  # type: ignore[import-untyped]


def sample(name: str) -> tuple[str, Any]:
    """A value for ``name`` that differs from every default: its text and its parsed value."""
    setting = SETTINGS[name]
    if setting.kind == "boolean":
        return "TRUE" if name != "auto.create.topics.enable" else "false", name != "auto.create.topics.enable"
    return "12345", 12345


@pytest.mark.req("PRO-50")
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_override_lands_in_the_setting_it_names(name: str) -> None:
    text, value = sample(name)
    keywords = parse_overrides([f"{name}={text}"]).keywords()
    setting = SETTINGS[name]
    owner = {
        "broker": ("broker_config", BrokerConfig),
        "controller": ("controller_config", ControllerConfig),
        "group": ("group_config", GroupConfig),
    }
    if setting.owner == "serve":
        assert keywords == {setting.field: value}
        return
    keyword, cls = owner[setting.owner]
    assert set(keywords) == {keyword}
    built = keywords[keyword]
    assert isinstance(built, cls) and getattr(built, setting.field) == value
    others = {f.name: getattr(built, f.name) for f in cls.__attrs_attrs__ if f.name != setting.field}  # type: ignore[attr-defined]
    defaults = cls(elect_last_known_leader=True) if cls is ControllerConfig else cls()
    assert others == {f: getattr(defaults, f) for f in others}, "only the named setting changes"


@pytest.mark.req("PRO-50")
def test_overrides_combine_and_the_last_one_of_a_name_wins() -> None:
    keywords = parse_overrides(
        [
            "fetch.max.bytes=100",
            "replica.lag.time.max.ms=2000",
            "fetch.max.bytes=200",
            "min.insync.replicas=2",
        ]
    ).keywords()
    assert keywords["broker_config"] == BrokerConfig(fetch_max_bytes=200, replica_lag_time_max_ms=2000)
    assert keywords["controller_config"].min_insync_replicas == 2
    assert keywords["controller_config"].elect_last_known_leader is True  # serve's default kept
    assert parse_overrides([]).keywords() == {}


@pytest.mark.req("PRO-50")
@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("no.such.config=1", "Unknown broker config name: no.such.config (reflog serve knows: "),
        ("fetch.max.bytes", "--override takes NAME=VALUE"),
        ("=5", "--override takes NAME=VALUE"),
        (
            "fetch.max.bytes=lots",
            "Invalid value lots for configuration fetch.max.bytes: Not a number of type INT",
        ),
        ("fetch.max.bytes=2147483648", "Not a number of type INT"),
        ("fetch.max.bytes=1_000", "Not a number of type INT"),
        ("connections.max.idle.ms=9223372036854775808", "Not a number of type LONG"),
        (
            "fetch.max.bytes=-1",
            "Invalid value -1 for configuration fetch.max.bytes: Value must be at least 0",
        ),
        ("min.insync.replicas=0", "Value must be at least 1"),
        ("queued.max.request.bytes=-2", "Value must be at least -1"),
        ("auto.create.topics.enable=yes", "Expected value to be either true or false"),
        (
            "group.min.session.timeout.ms=5000000",
            "group.min.session.timeout.ms must not exceed group.max.session.timeout.ms",
        ),
    ],
)
def test_a_bad_override_is_refused_with_kafkas_message(item: str, message: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        parse_overrides([item])
    assert message in str(info.value)


@pytest.mark.req("PRO-50")
def test_reflog_serve_exits_2_on_a_bad_override() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reflog.cli", "serve", "--port", "0", "--override", "fetch.max.byte=1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Unknown broker config name: fetch.max.byte" in result.stderr


@pytest.mark.req("PRO-50")
def test_reflog_serve_applies_an_override() -> None:
    command = [sys.executable, "-m", "reflog.cli", "serve", "--port", "0", "--brokers", "1"]
    with subprocess.Popen(
        [*command, "--override", "auto.create.topics.enable=false"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            host, port = process.stdout.readline().split()[1].split(":")
            client = RawClient((host, int(port)))
            cls = MetadataRequest[8]
            request = cls(
                topics=[cls.MetadataRequestTopic(name="not-created")],
                allow_auto_topic_creation=True,
                include_cluster_authorized_operations=False,
                include_topic_authorized_operations=False,
            )
            response = MetadataResponse.decode(client.request(request, 8), version=8)
            client.close()
        finally:
            process.terminate()
            process.wait(30)
    assert [(t.name, t.error_code) for t in response.topics] == [
        ("not-created", 3)
    ]  # UNKNOWN_TOPIC_OR_PARTITION
