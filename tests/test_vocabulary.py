"""One vocabulary and one error-code system (PRJ-4, PRJ-5): each shared word is defined once, and every
error carries an ``Errors`` member that agrees with Kafka's retriable marking."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest
import trio
import trio.testing

import reflog
import reflog.vocabulary as vocabulary
from reflog.cluster import open_cluster
from reflog.errors import Errors, ReflogError, RequestRefusedError

SHARED = (
    "TopicPartition",
    "NO_LEADER",
    "UNDEFINED_EPOCH",
    "UNDEFINED_OFFSET",
    "node_name",
    "CONTROLLER_NODE",
)


def every_module() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(reflog.__path__, "reflog.")]
    return [importlib.import_module(name) for name in names if not name.endswith("__main__")]


@pytest.mark.req("PRJ-4")
def test_each_shared_word_is_defined_once_in_the_vocabulary() -> None:
    for module in every_module():
        for name in SHARED:
            value = getattr(module, name, None)
            if value is not None and module is not vocabulary:
                assert value is getattr(vocabulary, name), f"{module.__name__}.{name} is another definition"
                is_package = hasattr(module, "__path__")
                assert is_package or name not in getattr(module, "__all__", ()), (
                    f"{module.__name__} re-exports {name}: import it from reflog.vocabulary"
                )


@pytest.mark.req("PRJ-4")
@pytest.mark.parametrize(
    ("name", "legal"),
    [
        ("orders", True),
        ("a.b-c_D9", True),
        ("x" * 249, True),
        ("x" * 250, False),
        ("", False),
        (".", False),
        ("..", False),
        ("with space", False),
        ("é", False),
        ("a/b", False),
    ],
)
def test_a_topic_name_is_legal_as_kafkas_topic_validate_says(name: str, legal: bool) -> None:
    assert (vocabulary.topic_name_error(name) is None) is legal
    directory = vocabulary.TopicPartition.from_dir_name(f"{name}-3")
    assert (directory == (name, 3)) is legal


@pytest.mark.req("PRJ-4")
def test_a_log_directory_name_round_trips_and_anything_else_is_none() -> None:
    tp = vocabulary.TopicPartition("my-topic", 12)
    assert tp.dir_name == "my-topic-12" and vocabulary.TopicPartition.from_dir_name(tp.dir_name) == tp
    for name in ("no-number-", "topic", "topic-x", "-3", "bad name-1"):
        assert vocabulary.TopicPartition.from_dir_name(name) is None
    assert vocabulary.node_name(3) == "broker-3" != vocabulary.CONTROLLER_NODE


def all_subclasses(cls: type[ReflogError]) -> list[type[ReflogError]]:
    found: list[type[ReflogError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *all_subclasses(sub)]
    return found


@pytest.mark.req("PRJ-5")
def test_every_error_carries_an_errors_member_that_agrees_on_retriable() -> None:
    every_module()
    classes = [ReflogError, *all_subclasses(ReflogError)]
    assert len(classes) > 15
    for cls in classes:
        assert isinstance(cls.error_code, Errors), f"{cls.__name__}.error_code is not an Errors member"
        if cls is not RequestRefusedError:
            assert cls.retriable is cls.error_code.retriable, f"{cls.__name__}: retriable disagrees"
    refused = RequestRefusedError(Errors.NOT_ENOUGH_REPLICAS, "no")
    assert refused.error_code is Errors.NOT_ENOUGH_REPLICAS and refused.retriable


@pytest.mark.req("PRJ-5")
async def test_a_refused_topic_creation_carries_the_controllers_code(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=1, seed=3) as cluster:
        await cluster.create_topic("t", replication_factor=1)
        with pytest.raises(RequestRefusedError) as exists:
            await cluster.create_topic("t", replication_factor=1)
        with pytest.raises(RequestRefusedError) as too_many:
            await cluster.create_topic("u", replication_factor=3)
    assert exists.value.error_code is Errors.TOPIC_ALREADY_EXISTS
    assert too_many.value.error_code is Errors.INVALID_REPLICATION_FACTOR
