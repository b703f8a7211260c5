"""The ``reflog`` pytest plugin gives a user's suite a seeded cluster, faults and the checker (HAR-12).

Each test writes a small user test file and runs pytest on it in-process with ``pytester``, in a
directory with no conftest: the plugin is found through its ``pytest11`` entry point only.
"""

from __future__ import annotations

import importlib.metadata
import re
import textwrap
from pathlib import Path

import pytest

import faults.pytest_plugin

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
README_SECTION = "## Testing your own code against reflog"

POWER_LOSS_TEST = """
import pytest

from reflog.client import SendStatus
from reflog.replication import ControllerConfig


async def test_leader_power_loss(reflog_cluster, reflog_faults, reflog_producer, reflog_consumer,
                                 reflog_history, reflog_check):
    await reflog_cluster.create_topic("orders", replication_factor=3, configs={"min.insync.replicas": 2})
    await reflog_cluster.create_topic("other", replication_factor=3)
    producer = reflog_producer(acks="all")
    for i in range(10):
        assert (await producer.send("orders", f"m{i}")).status is SendStatus.OK
        assert (await reflog_producer(acks=1).send("other", f"x{i}")).status is SendStatus.OK
    leader = reflog_cluster.controller.partition("orders", 0).leader
    await reflog_faults.power_off(leader)
    assert not reflog_cluster.broker(leader).running
    for i in range(10, 15):
        await producer.send("orders", f"m{i}")
    seen = await reflog_consumer("orders").poll()
    assert seen
    report = await reflog_check("orders")
    assert report.valid and not report.lost, report
    assert report.acknowledged == report.survived == 15
    assert [f.kind for f in reflog_history.faults()] == ["power_loss", "heal", "restart"]
    assert all(h.running for h in reflog_cluster.brokers)


@pytest.mark.reflog_cluster(controller_config=ControllerConfig(eligible_leader_replicas_enable=False))
async def test_losses_beyond_the_guarantee_are_reported(reflog_cluster, reflog_faults, reflog_producer,
                                                        reflog_check):
    await reflog_cluster.create_topic("orders", replication_factor=3, configs={"min.insync.replicas": 2})
    producer = reflog_producer(acks="all")
    for i in range(10):
        await producer.send("orders", f"m{i}")
    await reflog_faults.power_off(1, 2, 3)  # nothing was flushed: every replica loses it
    report = await reflog_check("orders", excuse="every replica lost power")
    assert report.lost and all(lost.allowed for lost in report.lost), report
    assert not report.violations
"""

FAILING_TEST = """
async def test_fails_after_a_fault(reflog_cluster, reflog_faults):
    await reflog_faults.power_off(2)
    assert 1 + 1 == 3
"""

SEED_TEST = """
import os
from pathlib import Path


async def test_seed(reflog_seed, reflog_cluster, reflog_faults, reflog_producer, reflog_history):
    assert reflog_seed == int(os.environ["EXPECTED_SEED"])
    assert [h.fs.seed for h in reflog_cluster.brokers] == [reflog_seed * 1000 + b for b in (1, 2, 3)]
    await reflog_cluster.create_topic("t", replication_factor=3, configs={"min.insync.replicas": 2})
    producer = reflog_producer(acks="all")
    for i in range(5):
        await producer.send("t", f"v{i}")
    await reflog_faults.power_off(1, 2)
    await reflog_faults.restart(1)
    await reflog_faults.restart(2)
    for i in range(5, 8):
        await producer.send("t", f"v{i}")
    Path(os.environ["HISTORY_FILE"]).write_text(reflog_history.to_jsonl())
"""


def run_user_tests(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=textwrap.dedent(source))
    return pytester.runpytest("-p", "no:cacheprovider", *args)


@pytest.mark.req("HAR-12")
def test_the_plugin_is_registered_through_its_entry_point(pytester: pytest.Pytester) -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert {(e.name, e.value) for e in entry_points if e.name == "reflog"} == {
        ("reflog", "faults.pytest_plugin")
    }
    config = pytester.parseconfigure()
    assert config.pluginmanager.get_plugin("reflog") is faults.pytest_plugin
    assert "reflog_cluster" in {line.split(":")[0].split("(")[0] for line in config.getini("markers")}


@pytest.mark.req("HAR-12")
def test_fixtures_run_a_cluster_inject_faults_and_check_it(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, POWER_LOSS_TEST)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["reflog seed: 1 (replay with --reflog-seed 1)"])


@pytest.mark.req("HAR-12")
def test_a_failing_test_prints_its_seed_the_replay_command_and_its_faults(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, FAILING_TEST, "--reflog-seed", "9")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- reflog -*",
            "reflog seed: 9 (replay with --reflog-seed 9)",
            "replay: pytest test_user.py::test_fails_after_a_fault --reflog-seed 9",
            "faults injected (simulated time):",
            "  t=*s power_loss broker-2 *mode=clean*",
        ]
    )


@pytest.mark.req("HAR-12")
def test_reflog_seed_seeds_the_cluster_and_replays_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    histories: dict[str, str] = {}
    runs: list[tuple[str, tuple[str, ...]]] = [
        ("default", ()),
        ("42", ("--reflog-seed", "42")),
        ("42 again", ("--reflog-seed", "42")),
    ]
    for label, args in runs:
        seed = args[1] if args else str(faults.pytest_plugin.DEFAULT_SEED)
        history_file = pytester.path / f"history-{len(histories)}.jsonl"
        monkeypatch.setenv("EXPECTED_SEED", seed)
        monkeypatch.setenv("HISTORY_FILE", str(history_file))
        result = run_user_tests(pytester, SEED_TEST, *args)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"reflog seed: {seed} (replay with --reflog-seed {seed})"])
        histories[label] = history_file.read_text()
    assert histories["42"] == histories["42 again"]
    assert "power_loss" in histories["42"]


@pytest.mark.req("HAR-12")
@pytest.mark.parametrize("trio_mode", [False, True])
def test_tests_run_under_simulated_time_and_misuse_is_refused(
    pytester: pytest.Pytester, trio_mode: bool
) -> None:
    if trio_mode:
        pytester.makeini("[pytest]\ntrio_mode = true\n")
    source = """
        import pytest
        import trio
        import trio.testing
        from reflog.broker.config import BrokerConfig


        @pytest.mark.trio
        async def test_marked(reflog_cluster):
            clock = trio.lowlevel.current_clock()
            assert isinstance(clock, trio.testing.MockClock) and clock.autojump_threshold == 0
            start = trio.current_time()
            await trio.sleep(60)
            assert trio.current_time() - start == 60


        async def test_own_autojump_clock(reflog_cluster, autojump_clock):
            assert trio.lowlevel.current_clock() is autojump_clock


        @pytest.mark.reflog_cluster(brokers=1, broker_config=BrokerConfig())
        async def test_marker_configures_the_cluster(reflog_cluster):
            assert [h.broker_id for h in reflog_cluster.brokers] == [1]


        def test_sync(reflog_cluster):
            pass


        async def test_clock_without_autojump(reflog_cluster, mock_clock):
            pass


        @pytest.mark.reflog_cluster(storage="os")
        async def test_bad_marker(reflog_cluster):
            pass
    """
    result = run_user_tests(pytester, source, "-rA")
    result.assert_outcomes(passed=3, failed=2, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED test_user.py::test_marked",
            "PASSED test_user.py::test_own_autojump_clock",
            "PASSED test_user.py::test_marker_configures_the_cluster",
            "ERROR test_user.py::test_sync - *",
            "reflog_cluster: a test using reflog's cluster fixtures must be `async def`",
            "*ReflogUsageError: reflog_cluster needs simulated time: trio.testing.MockClock with autojump*",
            "*ReflogUsageError: reflog_cluster marker: reflog_cluster() got an unexpected keyword*'storage'",
            "FAILED test_user.py::test_clock_without_autojump - *",
            "FAILED test_user.py::test_bad_marker - *",
        ]
    )


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section holds exactly one Python example"
    return str(blocks[0])


@pytest.mark.req("HAR-12", "PRJ-3")
def test_the_readme_example_test_file_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_orders=readme_example())
    # In-process, reflog's packages are already imported, so pytest cannot rewrite their asserts.
    ignore_rewrite = "ignore::pytest.PytestAssertRewriteWarning"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--strict-markers", "-W", "error", "-W", ignore_rewrite
    )
    result.assert_outcomes(passed=1)
