"""The sans-IO core (reflog.replication, reflog.log) imports no trio, even indirectly (REP-46).

Each module is imported in a fresh interpreter, so a module whose import chain reaches trio is
caught even when another test already loaded trio into this process. The probe itself is checked
on a module that does import trio, so the property test cannot pass vacuously.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import reflog.log
import reflog.replication

ROOT = Path(__file__).resolve().parent.parent


def _sans_io_modules() -> list[str]:
    names = [reflog.replication.__name__, reflog.log.__name__]
    for package in (reflog.replication, reflog.log):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return sorted(names)


def _loads_trio(module: str) -> bool:
    """Whether importing ``module`` in a fresh interpreter loads trio."""
    probe = f"import sys; import {module}; print('trio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    answer = result.stdout.strip()
    assert answer in ("True", "False"), result.stdout
    return answer == "True"


@pytest.mark.req("REP-46")
def test_every_module_of_the_core_is_found() -> None:
    modules = _sans_io_modules()
    assert "reflog.replication.controller" in modules
    assert "reflog.log.log" in modules


@pytest.mark.req("REP-46")
@pytest.mark.parametrize("module", _sans_io_modules())
def test_importing_a_sans_io_module_loads_no_trio(module: str) -> None:
    assert not _loads_trio(module), f"importing {module} loads trio"


@pytest.mark.req("REP-46")
def test_the_probe_sees_trio_when_a_module_loads_it() -> None:
    assert _loads_trio("reflog.trio_clock")
