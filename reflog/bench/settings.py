"""What every benchmark section is given: sizes for a full or ``--quick`` run, a scratch
directory, a seed, and a progress callback."""

from __future__ import annotations

from typing import Protocol

import attrs

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class Progress(Protocol):
    """Told what a section is doing now; the CLI shows it beside the progress bar."""

    def __call__(self, text: str) -> None: ...


def no_progress(text: str) -> None:
    """A :class:`Progress` that shows nothing."""


@attrs.frozen
class BenchSettings:
    """One invocation of ``reflog bench``.

    ``quick`` asks every section for a run of a few seconds (sizes cut, one run instead of
    three): the smoke test in the default suite uses it, and no figure from it is quoted.
    ``directory`` is a scratch directory the section may fill and must leave empty.
    """

    quick: bool
    directory: str
    seed: int = 0

    @property
    def repeats(self) -> int:
        """Runs per measurement; a figure is their median."""
        return 1 if self.quick else 3


__all__ = ["GiB", "KiB", "MiB", "BenchSettings", "Progress", "no_progress"]
