"""Suite-wide configuration: Hypothesis profiles and the specs/ traceability check.

Hypothesis profiles (select with ``pytest --hypothesis-profile=NAME``):

* ``dev`` (default): quick, random, with the example database;
* ``ci``: derandomized (the seed comes from each test's name, so every run is the same),
  no database, sized so the whole suite stays under 10 minutes on 2 cores;
* ``deep``: opt-in, 100x the ``ci`` examples; see README.

Every failure prints a ``@reproduce_failure`` blob that replays it.

Hypothesis also draws "interesting" constants from the source of every local module that is
loaded (its constant pool). Under a derandomized profile (``ci``) that pool is emptied, so the
examples a test sees depend on the test alone: not on which of reflog's modules are imported, nor
on an unrelated edit elsewhere (a new error code once changed which examples the end-to-end state
machine ran, and it stopped catching two planted bugs, tests/test_state_machines_catch_bugs.py).
The random profiles (``dev``, ``deep``) keep the pool, where it helps exploration.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

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


@pytest.hookimpl(trylast=True)  # after Hypothesis's plugin has loaded the chosen profile
def pytest_configure(config: pytest.Config) -> None:
    if settings.default.derandomize:
        _empty_local_constant_pool()


def _empty_local_constant_pool() -> None:
    """Make Hypothesis draw no constants from local source (see the module docstring).

    Relies on Hypothesis's internal ``_get_local_constants`` (6.170); fails loudly, rather than
    silently keeping the pool, if a Hypothesis release renames it.
    """
    if not callable(getattr(providers, "_get_local_constants", None)):
        raise RuntimeError("hypothesis.internal.conjecture.providers._get_local_constants is gone")
    providers._get_local_constants = Constants  # type: ignore[attr-defined]
    providers.CONSTANTS_CACHE.cache.clear()


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
