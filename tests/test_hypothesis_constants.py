"""The ``ci`` profile's examples depend on each test alone (tests/conftest.py)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.internal.conjecture import providers


@pytest.mark.req("PRJ-6")
def test_a_derandomized_run_draws_no_constants_from_local_source() -> None:
    if not settings.default.derandomize:
        pytest.skip("only the derandomized profiles (ci) empty the pool")
    assert len(providers._get_local_constants()) == 0
