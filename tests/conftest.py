"""Suite-wide configuration: Hypothesis profiles and the specs/ traceability check.

Hypothesis profiles (select with ``pytest --hypothesis-profile=NAME``):

* ``dev`` (default): quick, random, with the example database;
* ``ci``: derandomized (the seed comes from each test's name, so every run is the same),
  no database, sized so the whole suite stays under 10 minutes on 2 cores;
* ``deep``: opt-in, 100x the ``ci`` examples; see README.

Every failure prints a ``@reproduce_failure`` blob that replays it.

Hypothesis also draws "interesting" constants from the source of every local module that is
loaded (its constant pool), so which examples a derandomized test sees depends on which of
reflog's modules happen to be imported. This conftest imports every module of ``reflog`` and
``faults`` up front, so a test selected alone sees the same examples as in the whole suite.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.spectrace import SpecTraceError, format_report, load_requirements, trace

CI_EXAMPLES = 100

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    max_examples=CI_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=True,
    max_examples=CI_EXAMPLES * 100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, print_blob=True, max_examples=50)
settings.load_profile("dev")

SPEC_DIR = Path(__file__).resolve().parent.parent / "specs"


def _import_every_module(*packages: str) -> None:
    for name in packages:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)


_import_every_module("reflog", "faults")


def _is_whole_suite(config: pytest.Config) -> bool:
    option = config.option
    if getattr(option, "keyword", "") or getattr(option, "markexpr", ""):
        return False
    if getattr(option, "lf", False) or getattr(option, "deselect", None):
        return False
    rootdir = Path(str(config.rootpath))
    args = [a for a in config.args if not a.startswith("-")]
    return all(Path(a).resolve() in {rootdir, rootdir / "tests"} for a in args)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Fail collection when tests cite unknown requirements, or (whole suite) a requirement is untested."""
    try:
        requirements = load_requirements(SPEC_DIR)
    except SpecTraceError as exc:
        raise pytest.UsageError(f"specs/ traceability: {exc}") from exc
    citations: dict[str, list[str]] = {}
    for item in items:
        for marker in item.iter_markers("req"):
            for req_id in marker.args:
                citations.setdefault(item.nodeid, []).append(str(req_id))
    message = format_report(trace(requirements, citations), check_untested=_is_whole_suite(config))
    if message is not None:
        raise pytest.UsageError(f"specs/ traceability check failed:\n{message}")
