"""What a benchmark section returns: named figures, each optionally divided by a raw baseline.

A :class:`Figure` is one measured number (the median of ``runs``) with its unit. When it has a
``baseline`` (the name of the raw loop measured in the same run), ``ratio`` is the figure
divided by the baseline's value, and ``target`` states what specs/performance.md asks of that
ratio: ``">= 0.9"`` means at least 0.9 times the baseline, ``"<= 1.2"`` at most 1.2 times.
Targets are reported, never asserted: a missed target prints ``MISSED`` and the section's notes
say what bounds it.
"""

from __future__ import annotations

import statistics
from typing import Literal

import attrs

TargetKind = Literal["min", "max"]


@attrs.frozen
class Target:
    """A bound on a ratio: ``kind == "min"`` means ratio >= bound, ``"max"`` means ratio <= bound."""

    kind: TargetKind
    bound: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.kind == "min" else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'>=' if self.kind == 'min' else '<='} {self.bound:g}"


@attrs.frozen
class Figure:
    """One measured number: ``value`` (the median of ``runs``) in ``unit``.

    ``group`` and ``label`` place it in the section's table and plot (``group`` is the
    plot's x category, e.g. "100 B batched"; ``label`` the series, e.g. "lz4").
    ``baseline`` names the figure (same section, same unit) it is divided by; ``ratio`` is
    then set by :meth:`Section.resolve`. ``higher_is_better`` orients the plot and the target.
    """

    key: str
    group: str
    label: str
    value: float
    unit: str
    runs: tuple[float, ...] = ()
    baseline: str | None = None
    ratio: float | None = None
    target: Target | None = None
    higher_is_better: bool = True
    detail: dict[str, float | int | str] = attrs.field(factory=dict)

    @property
    def target_met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.target.met(self.ratio)


def figure_from_runs(
    key: str, group: str, label: str, runs: list[float], unit: str, **kwargs: object
) -> Figure:
    """A :class:`Figure` whose value is the median of ``runs`` (NaN when there are none)."""
    value = statistics.median(runs) if runs else float("nan")
    return Figure(key, group, label, value, unit, tuple(runs), **kwargs)  # type: ignore[arg-type]


@attrs.frozen
class Section:
    """One benchmark section: a title, its figures, and notes on how to read them."""

    name: str
    title: str
    figures: tuple[Figure, ...]
    notes: tuple[str, ...] = ()

    def resolve(self) -> Section:
        """Fill every figure's ``ratio`` from its baseline (a missing baseline leaves it ``None``)."""
        by_key = {f.key: f for f in self.figures}
        resolved = []
        for fig in self.figures:
            base = by_key.get(fig.baseline) if fig.baseline else None
            ratio = fig.value / base.value if base is not None and base.value else None
            resolved.append(attrs.evolve(fig, ratio=ratio))
        return attrs.evolve(self, figures=tuple(resolved))

    def figure(self, key: str) -> Figure:
        for fig in self.figures:
            if fig.key == key:
                return fig
        raise KeyError(key)


__all__ = ["Figure", "Section", "Target", "figure_from_runs"]
