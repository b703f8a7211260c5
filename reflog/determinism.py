"""Deterministic trio scheduling for simulated runs.

trio picks the order of tasks that are ready at the same moment from a private
``random.Random``; importing Hypothesis switches trio to its deterministic mode but seeds that
generator only inside ``@given``. :func:`seed_trio_scheduler` seeds it, so that a simulated
cluster run under ``trio.testing.MockClock`` replays exactly from its seed.

This reaches into trio's private ``trio._core._run._r``; if a trio release moves it, the call
raises :class:`ReflogUsageError` instead of silently running non-deterministically.
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
    generator.seed(seed)
