"""A pytest plugin that gives your own test suite an embedded reflog cluster and the fault API.

Installed with reflog (entry point ``pytest11``, name ``reflog``): any suite that has reflog and
pytest-trio installed can use these fixtures without a ``conftest.py``.

* ``reflog_seed`` -- the run's seed (``--reflog-seed N``, default :data:`DEFAULT_SEED`);
* ``reflog_cluster`` -- a running, seeded :class:`~reflog.cluster.Cluster` (3 brokers, simulated
  storage and network; the ``reflog_cluster`` marker configures it);
* ``reflog_history`` -- a fresh :class:`~faults.history.History`;
* ``reflog_faults`` -- a :class:`~faults.inject.FaultInjector` on the cluster, recording into the
  history;
* ``reflog_producer`` / ``reflog_consumer`` -- factories of recording clients
  (:class:`ProducerFactory`, :class:`ConsumerFactory`);
* ``reflog_check`` -- ``await reflog_check("orders")`` heals every fault, lets the replicas
  converge and runs :func:`faults.checker.check` on one partition (:class:`Checker`).

Tests that use the cluster fixtures must be ``async def``; the plugin marks them for pytest-trio
itself (no ``@pytest.mark.trio`` or ``trio_mode`` needed) and runs them under
``trio.testing.MockClock(autojump_threshold=0)``, so simulated time jumps whenever every task
waits and a run replays exactly from its seed. A test that asks for a clock fixture of its own
(pytest-trio's ``autojump_clock``) keeps it; any other clock is refused. A runner named with
``@pytest.mark.trio(run=...)``, or chosen by ``trio_mode`` from pytest-trio's ``trio_run``
setting, is kept and given the clock. Hypothesis tests are run by pytest-trio with plain
``trio.run``: ask for ``autojump_clock`` there.

When such a test fails, its report gets a ``reflog`` section with the seed, the command that
replays it, and the faults injected so far (in simulated time).
"""

from __future__ import annotations

import inspect
import math
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from typing import Any

import pytest
import trio
import trio.testing

from faults.checker import CheckReport, check
from faults.history import Fault, History, Operation
from faults.inject import FaultInjector
from faults.recording import RecordingConsumer, RecordingProducer, final_state
from reflog.broker.config import BrokerConfig
from reflog.client import ProducerConfig
from reflog.cluster import Cluster, open_cluster
from reflog.errors import ReflogUsageError
from reflog.replication import ControllerConfig
from reflog.storage.sim import WritebackPolicy
from reflog.vocabulary import TopicPartition

DEFAULT_SEED = 1
"""The seed when ``--reflog-seed`` is not given: every run of a suite is the same run."""

SETTLE_SECONDS = 30.0
"""Simulated seconds :class:`Checker` waits after healing before it reads the final state."""

CLUSTER_FIXTURES = frozenset(
    {"reflog_cluster", "reflog_faults", "reflog_producer", "reflog_consumer", "reflog_check"}
)
"""The fixtures that run inside trio (a test using any of them must be ``async def``)."""

ALL_FIXTURES = CLUSTER_FIXTURES | {"reflog_seed", "reflog_history"}

_HISTORY = pytest.StashKey[History]()

TopicPartitionLike = TopicPartition | str
"""A :class:`TopicPartition`, or a topic name meaning its partition 0."""


def _topic_partition(value: TopicPartitionLike) -> TopicPartition:
    return TopicPartition(value, 0) if isinstance(value, str) else TopicPartition(*value)


def replay_command(nodeid: str, seed: int) -> str:
    """The command that reruns test ``nodeid`` with ``seed`` (from the suite's root directory)."""
    return f"pytest {shlex.quote(nodeid)} --reflog-seed {seed}"


# ---------------------------------------------------------------------------------------- hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reflog", "reflog embedded cluster fixtures")
    group.addoption(
        "--reflog-seed",
        dest="reflog_seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="N",
        help=f"seed of reflog's simulated clusters (storage, network, scheduler); default {DEFAULT_SEED}",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reflog_cluster(brokers=3, *, broker_config=None, controller_config=None, writeback_policy=None): "
        "how the reflog_cluster fixture builds its cluster (reflog.cluster.open_cluster's arguments)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("reflog_seed")
    return f"reflog seed: {seed} (replay with --reflog-seed {seed})"


def _test_function(item: pytest.Item) -> object:
    function = getattr(item, "obj", None)
    hypothesis = getattr(function, "hypothesis", None)
    return getattr(hypothesis, "inner_test", function)


Runner = Callable[..., object]


def _simulated(run: Runner) -> Runner:
    """Wrap a trio runner (``trio.run``'s signature) so that it runs under an autojump MockClock."""

    def run_simulated(
        fn: Callable[[], Awaitable[object]],
        *,
        clock: trio.abc.Clock | None = None,
        instruments: Sequence[trio.abc.Instrument] = (),
    ) -> object:
        if clock is None:
            clock = trio.testing.MockClock(autojump_threshold=0)
        return run(fn, clock=clock, instruments=instruments)

    run_simulated.reflog_simulated = True  # type: ignore[attr-defined]
    return run_simulated


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every async test that uses a cluster fixture as a trio test run under simulated time.

    This runs after pytest-trio's own automarking (``trio_mode``), so the runner it chose (or
    one a ``@pytest.mark.trio(run=...)`` names) is kept and only given the clock.
    """
    for item in items:
        if not CLUSTER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            continue
        if not inspect.iscoroutinefunction(_test_function(item)):
            continue  # reported by pytest_runtest_setup
        base: Runner = trio.run
        for marker in item.iter_markers("trio"):
            chosen = marker.kwargs.get("run")
            if chosen is not None:
                base = chosen
                break
        if getattr(base, "reflog_simulated", False):
            continue
        item.add_marker(pytest.mark.trio(run=_simulated(base)), append=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse, with a message saying why, a cluster fixture in a test that cannot run it."""
    used = sorted(CLUSTER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if not used:
        return
    if not item.config.pluginmanager.hasplugin("trio"):
        pytest.fail(f"{', '.join(used)}: reflog's cluster fixtures need pytest-trio installed", pytrace=False)
    if not inspect.iscoroutinefunction(_test_function(item)):
        pytest.fail(
            f"{', '.join(used)}: a test using reflog's cluster fixtures must be `async def`", pytrace=False
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure of a test using reflog fixtures, add the seed, the replay command and the faults."""
    report = yield
    if report.failed and ALL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        seed = item.config.getoption("reflog_seed")
        lines = [
            f"reflog seed: {seed} (replay with --reflog-seed {seed})",
            f"replay: {replay_command(item.nodeid, seed)}",
        ]
        history = item.stash.get(_HISTORY, None)
        if history is not None and history.faults():
            lines.append("faults injected (simulated time):")
            lines.extend(_describe(fault) for fault in history.faults())
        report.sections.append(("reflog", "\n".join(lines)))
    return report


def _describe(fault: Fault) -> str:
    detail = " ".join(f"{k}={v}" for k, v in sorted(fault.detail.items()))
    return f"  t={fault.time:.3f}s {fault.kind} {fault.target}" + (f" {detail}" if detail else "")


# ---------------------------------------------------------------------------------------- helpers
def _cluster_options(
    brokers: int = 3,
    *,
    broker_config: BrokerConfig | None = None,
    controller_config: ControllerConfig | None = None,
    writeback_policy: WritebackPolicy | None = None,
) -> dict[str, Any]:
    if not isinstance(brokers, int) or isinstance(brokers, bool) or brokers < 1:
        raise ReflogUsageError(f"reflog_cluster marker: brokers must be a positive int, got {brokers!r}")
    for name, value, kind in (
        ("broker_config", broker_config, BrokerConfig),
        ("controller_config", controller_config, ControllerConfig),
        ("writeback_policy", writeback_policy, WritebackPolicy),
    ):
        if value is not None and not isinstance(value, kind):
            raise ReflogUsageError(f"reflog_cluster marker: {name} must be a {kind.__name__}, got {value!r}")
    return {
        "brokers": brokers,
        "broker_config": broker_config,
        "controller_config": controller_config,
        "writeback_policy": writeback_policy,
    }


def _require_simulated_time() -> None:
    clock = trio.lowlevel.current_clock()
    if not isinstance(clock, trio.testing.MockClock) or math.isinf(clock.autojump_threshold):
        raise ReflogUsageError(
            "reflog_cluster needs simulated time: trio.testing.MockClock with autojump "
            f"(autojump_threshold=0, pytest-trio's autojump_clock fixture), not {clock!r}"
        )


class ProducerFactory:
    """``reflog_producer(**kafka_settings)``: a new :class:`RecordingProducer` on the cluster.

    Settings are Kafka's producer settings (``acks="all"``, ``enable_idempotence``, ``linger_ms``,
    ...; :meth:`ProducerConfig.from_settings`); ``linger_ms`` defaults to 0 here, so each send goes
    out at once. Processes are named ``producer-1``, ``producer-2``, ... unless ``process`` is given.
    An unknown or invalid setting is a :class:`ReflogUsageError`.
    """

    def __init__(self, cluster: Cluster, history: History) -> None:
        self.cluster = cluster
        self.history = history
        self.made = 0

    def __call__(self, *, process: str | None = None, **kafka_settings: object) -> RecordingProducer:
        self.made += 1
        settings: dict[str, object] = {"linger_ms": 0, **kafka_settings}
        producer = self.cluster.producer(config=ProducerConfig.from_settings(settings))
        return RecordingProducer(producer, self.history, process or f"producer-{self.made}")


class ConsumerFactory:
    """``reflog_consumer(topic_partition, offset=0)``: a :class:`RecordingConsumer` assigned to it.

    A topic name means its partition 0. Processes are named ``consumer-1``, ... unless ``process``
    is given. :class:`Checker` counts a consumer's reads only against the topic it was made for.
    """

    def __init__(self, cluster: Cluster, history: History) -> None:
        self.cluster = cluster
        self.history = history
        self.made = 0
        self.topics: dict[str, str] = {}
        """Process name -> the topic its consumer reads."""

    def __call__(
        self, topic_partition: TopicPartitionLike, *, offset: int = 0, process: str | None = None
    ) -> RecordingConsumer:
        tp = _topic_partition(topic_partition)
        self.made += 1
        name = process or f"consumer-{self.made}"
        consumer = self.cluster.consumer()
        consumer.assign([tp])
        consumer.seek(tp, offset)
        self.topics[name] = tp.topic
        return RecordingConsumer(consumer, self.history, name)


class Checker:
    """``await reflog_check(topic_partition, excuse=None)``: the checker's verdict on one partition.

    By default it first ends every fault (:meth:`FaultInjector.heal_all`: heal the network, clear
    disk faults, restart every broker that is down), waits until the topic's partitions have
    running leaders, and lets the replicas converge for ``settle`` simulated seconds; then it reads
    :func:`~faults.recording.final_state` and runs :func:`~faults.checker.check` on the history's
    sends to this topic (and the polls of consumers not made for another topic). Pass ``excuse``
    when the test's faults go beyond the guarantee: losses are then reported as allowed. Raises
    :class:`trio.TooSlowError` when no leader is elected within ``leader_timeout`` simulated
    seconds, and :class:`ReflogUsageError` for an unknown partition.
    """

    def __init__(
        self, cluster: Cluster, history: History, faults: FaultInjector, consumers: ConsumerFactory
    ) -> None:
        self.cluster = cluster
        self.history = history
        self.faults = faults
        self.consumers = consumers

    async def __call__(
        self,
        topic_partition: TopicPartitionLike,
        *,
        excuse: str | None = None,
        heal: bool = True,
        settle: float = SETTLE_SECONDS,
        leader_timeout: float = 120.0,
    ) -> CheckReport:
        tp = _topic_partition(topic_partition)
        self.cluster.controller.partition(tp.topic, tp.partition)  # unknown -> ReflogUsageError
        if heal:
            await self.faults.heal_all()
        await self.cluster.wait_for_leaders(tp.topic, timeout=leader_timeout)
        await trio.sleep(settle)
        replicas, leader = final_state(self.cluster, tp)
        return check(self._history_of(tp.topic), replicas, leader, partition=tp.partition, excuse=excuse)

    def _history_of(self, topic: str) -> History:
        """The history without other topics' sends and other topics' consumers' polls."""
        foreign: set[int] = set()
        for event in self.history.events:
            if not isinstance(event, Operation) or event.type != "invoke":
                continue
            if event.f == "send" and event.value.get("topic", topic) != topic:
                foreign.add(event.op_id)
            if event.f == "poll" and self.consumers.topics.get(event.process, topic) != topic:
                foreign.add(event.op_id)
        mine = History()
        mine.events = [
            e for e in self.history.events if not (isinstance(e, Operation) and e.op_id in foreign)
        ]
        return mine


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def reflog_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this run: ``--reflog-seed N``, or :data:`DEFAULT_SEED`.

    Promise: the same seed with the same test code replays the same run (simulated storage, network
    faults and trio's scheduler all draw from it). A failing test using reflog fixtures prints it
    and the command that replays it. Never fails.
    """
    seed = request.config.getoption("reflog_seed")
    assert isinstance(seed, int)
    return seed


@pytest.fixture
async def reflog_cluster(request: pytest.FixtureRequest, reflog_seed: int) -> AsyncIterator[Cluster]:
    """A running cluster seeded with ``reflog_seed``: brokers 1..3, simulated storage and network.

    Configure it with ``@pytest.mark.reflog_cluster(brokers=N, broker_config=BrokerConfig(...),
    controller_config=ControllerConfig(...), writeback_policy=WritebackPolicy(...))`` on the test,
    its class or module (the closest marker wins). Promise: every broker is registered and unfenced
    when the test starts; no topic exists yet (``await reflog_cluster.create_topic(...)``);
    everything stops when the test ends. Failure modes: :class:`ReflogUsageError` when the test
    does not run under an autojump ``MockClock`` or the marker's arguments are wrong (the test
    errors before it starts); :class:`trio.TooSlowError` when the brokers do not register within 30
    simulated seconds; a crash of a cluster task fails the test (pytest-trio cancels it).
    """
    _require_simulated_time()
    marker = request.node.get_closest_marker("reflog_cluster")
    try:
        options = _cluster_options(*marker.args, **marker.kwargs) if marker else _cluster_options()
    except TypeError as exc:
        message = str(exc).replace(f"{_cluster_options.__name__}()", "reflog_cluster()")
        raise ReflogUsageError(f"reflog_cluster marker: {message}") from None
    async with open_cluster(seed=reflog_seed, storage="sim", **options) as cluster:
        yield cluster


@pytest.fixture
def reflog_history(request: pytest.FixtureRequest) -> History:
    """A fresh, empty :class:`History` that the other reflog fixtures record into.

    Promise: it holds exactly this test's operations and faults, in order, in simulated time; a
    failing test's report lists its faults. Never fails (usable from sync tests too).
    """
    history = History()
    request.node.stash[_HISTORY] = history
    return history


@pytest.fixture
def reflog_faults(reflog_cluster: Cluster, reflog_history: History) -> FaultInjector:
    """A :class:`FaultInjector` on ``reflog_cluster`` that records every fault in ``reflog_history``.

    Promise: faults act only through reflog's seams (broker lifecycle, simulated network, simulated
    disks) at the current simulated time. Failure modes: :class:`ReflogUsageError` for a fault the
    cluster cannot take (an unknown broker, a restart of a running broker, a power loss of no
    broker); ``FileNotFoundError`` for a disk fault on a partition the broker holds no log of.
    """
    return FaultInjector(reflog_cluster, reflog_history)


@pytest.fixture
def reflog_producer(reflog_cluster: Cluster, reflog_history: History) -> ProducerFactory:
    """A factory of :class:`RecordingProducer` s: ``producer = reflog_producer(acks="all")``.

    Promise: every ``await producer.send(topic, "text")`` is recorded as invoked, then ``ok``,
    ``fail`` or ``info`` (indeterminate) in ``reflog_history``. Failure modes: an unknown or invalid
    producer setting is a :class:`ReflogUsageError`; sends never raise for broker or network
    faults, they return a failed or indeterminate ``SendResult``.
    """
    return ProducerFactory(reflog_cluster, reflog_history)


@pytest.fixture
def reflog_consumer(reflog_cluster: Cluster, reflog_history: History) -> ConsumerFactory:
    """A factory of :class:`RecordingConsumer` s: ``consumer = reflog_consumer("orders")``.

    Promise: every ``await consumer.poll()`` is recorded with the records it saw, which the checker
    compares with the final log (a read that vanished is a violation). Never fails to build.
    """
    return ConsumerFactory(reflog_cluster, reflog_history)


@pytest.fixture
def reflog_check(
    reflog_cluster: Cluster,
    reflog_history: History,
    reflog_faults: FaultInjector,
    reflog_consumer: ConsumerFactory,
) -> Checker:
    """``report = await reflog_check("orders", excuse=None)``: heal, converge, check one partition.

    Promise: the :class:`CheckReport` covers every acknowledged send to that topic and partition in
    ``reflog_history``; ``report.valid and not report.lost`` means nothing acknowledged was lost,
    duplicated, reordered or corrupted. Failure modes: see :class:`Checker`.
    """
    return Checker(reflog_cluster, reflog_history, reflog_faults, reflog_consumer)


__all__ = [
    "DEFAULT_SEED",
    "SETTLE_SECONDS",
    "Checker",
    "ConsumerFactory",
    "ProducerFactory",
    "reflog_check",
    "reflog_cluster",
    "reflog_consumer",
    "reflog_faults",
    "reflog_history",
    "reflog_producer",
    "reflog_seed",
    "replay_command",
]
