"""Deterministic trio scheduling for simulated runs.

trio picks the order of tasks that are ready at the same moment from a private
``random.Random``. Tasks become ready in an order that can depend on memory addresses (timers
that expire at the same simulated instant are ordered by ``id()``), so trio's deterministic mode,
which Hypothesis switches on when it is imported, first sorts each batch by task creation order.
:func:`seed_trio_scheduler` switches that mode on and seeds the generator, so that a simulated
cluster run under ``trio.testing.MockClock`` replays exactly from its seed, in any process.

This reaches into trio's private ``trio._core._run._r`` and ``_ALLOW_DETERMINISTIC_SCHEDULING``;
if a trio release moves them, the call raises :class:`ReflogUsageError` instead of silently
running non-deterministically.
"""

from __future__ import annotations

import random

from trio._core import _run as trio_run_internals

from reflog.errors import ReflogUsageError


def seed_trio_scheduler(seed: int) -> None:
    """Seed the random source trio uses to order ready tasks (call inside or before ``trio.run``)."""
    generator = getattr(trio_run_internals, "_r", None)
    if not isinstance(generator, random.Random):
        raise ReflogUsageError(
            "this trio version has no seedable scheduler random source (trio._core._run._r)"
        )
    if not hasattr(trio_run_internals, "_ALLOW_DETERMINISTIC_SCHEDULING"):
        raise ReflogUsageError("this trio version has no deterministic scheduling switch")
    trio_run_internals._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]  # what trio's Hypothesis plugin does
    generator.seed(seed)
