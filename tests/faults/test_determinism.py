"""One seed reproduces a scenario run exactly: byte-identical histories (HAR-13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from faults.catalogue import scenario
from faults.scenarios import run_scenario

# Many fault kinds, a nemesis, concurrent clients: the run most likely to expose a nondeterminism.
SCENARIO = "scripted-nemesis"


def history_of(name: str, seed: int) -> str:
    result = trio.run(run_scenario, scenario(name), seed, clock=trio.testing.MockClock(autojump_threshold=0))
    return result.history.to_jsonl()


@pytest.mark.req("HAR-13")
@pytest.mark.parametrize("name", [SCENARIO, "random-nemesis-within-budget"])
def test_the_same_seed_gives_a_byte_identical_history(name: str) -> None:
    first, second = history_of(name, 3), history_of(name, 3)
    assert first == second
    assert '"event":"fault"' in first  # the faults are part of what must repeat


@pytest.mark.req("HAR-13")
def test_another_seed_gives_another_history() -> None:
    assert history_of("random-nemesis-within-budget", 3) != history_of("random-nemesis-within-budget", 4)


def run_in_subprocess(directory: Path, hash_seed: str) -> bytes:
    """``reflog scenarios --history-dir`` in a fresh interpreter with its own ``PYTHONHASHSEED``."""
    command = [
        sys.executable,
        "-c",
        "import sys; from reflog.cli import main; sys.exit(main(sys.argv[1:]))",
        "scenarios",
        "--only",
        SCENARIO,
        "--seed",
        "3",
        "--history-dir",
        str(directory),
    ]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
    return (directory / f"{SCENARIO}.seed3.jsonl").read_bytes()


@pytest.mark.req("HAR-13")
def test_a_new_process_with_another_hash_seed_replays_the_same_history(tmp_path: Path) -> None:
    here = history_of(SCENARIO, 3).encode()
    assert run_in_subprocess(tmp_path / "a", "1") == here
    assert run_in_subprocess(tmp_path / "b", "2") == here
