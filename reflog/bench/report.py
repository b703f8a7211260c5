"""How ``reflog bench`` shows its sections: a text table, a JSON document, PNG plots (PERF-6).

Failure modes: :func:`write_plots` raises :class:`~reflog.errors.ReflogUsageError` naming the
missing extra when matplotlib is not installed (``pip install 'reflog[bench]'``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from reflog.bench.results import Figure, Section
from reflog.errors import ReflogUsageError


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.3g}"


def _verdict(fig: Figure) -> str:
    met = fig.target_met
    if met is None:
        return ""
    return f"{fig.target} {'met' if met else 'MISSED'}"


def format_section(section: Section) -> str:
    """The section as a fixed-width table, then its notes."""
    rows = [["group", "measure", "value", "unit", "runs", "vs", "ratio", "target"]]
    for fig in section.figures:
        rows.append(
            [
                fig.group,
                fig.label,
                _number(fig.value),
                fig.unit,
                " ".join(_number(r) for r in fig.runs) if len(fig.runs) > 1 else "",
                section.figure(fig.baseline).label if fig.baseline else "",
                f"{fig.ratio:.2f}" if fig.ratio is not None else "",
                _verdict(fig),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 6}
    lines = [f"[{section.name}] {section.title}"]
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines.extend(f"  * {note}" for note in section.notes)
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": cpus,
        "python": sys.version.split()[0],
        "openssl": ssl.OPENSSL_VERSION,
    }


def to_json(sections: Sequence[Section], settings: dict[str, Any]) -> str:
    """Every figure of every section, with its ratio, target and detail, as one JSON document."""
    document = {
        "machine": machine(),
        "settings": settings,
        "sections": [
            {
                "name": s.name,
                "title": s.title,
                "notes": list(s.notes),
                "figures": [
                    {
                        "key": f.key,
                        "group": f.group,
                        "label": f.label,
                        "value": None if math.isnan(f.value) else f.value,
                        "unit": f.unit,
                        "runs": list(f.runs),
                        "baseline": f.baseline,
                        "ratio": f.ratio,
                        "target": None
                        if f.target is None
                        else {"kind": f.target.kind, "bound": f.target.bound},
                        "target_met": f.target_met,
                        "higher_is_better": f.higher_is_better,
                        "detail": f.detail,
                    }
                    for f in s.figures
                ],
            }
            for s in sections
        ],
    }
    return json.dumps(document, indent=2, sort_keys=False)


def write_plots(sections: Sequence[Section], directory: str) -> list[str]:
    """One PNG per section (and per unit within it): grouped bars, ratios written on the bars."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency, imported only when plotting

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ReflogUsageError("plots need matplotlib: pip install 'reflog[bench]'") from exc
    os.makedirs(directory, exist_ok=True)
    written = []
    for section in sections:
        units = list(dict.fromkeys(f.unit for f in section.figures))
        fig, axes = plt.subplots(len(units), 1, figsize=(10, 3.6 * len(units)), squeeze=False)
        for ax, unit in zip(axes[:, 0], units, strict=True):
            figures = [f for f in section.figures if f.unit == unit]
            groups = list(dict.fromkeys(f.group for f in figures))
            labels = list(dict.fromkeys(f.label for f in figures))
            width = 0.8 / max(1, len(labels))
            for j, label in enumerate(labels):
                xs, heights, texts = [], [], []
                for i, group in enumerate(groups):
                    for f in figures:
                        if f.group == group and f.label == label and not math.isnan(f.value):
                            xs.append(i + (j - (len(labels) - 1) / 2) * width)
                            heights.append(f.value)
                            texts.append("" if f.ratio is None else f"{f.ratio:.2f}x")
                bars = ax.bar(xs, heights, width, label=label)
                for bar, text in zip(bars, texts, strict=True):
                    if text:
                        ax.annotate(
                            text,
                            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center",
                            va="bottom",
                            fontsize=7,
                        )
            ax.set_xticks(range(len(groups)), groups, fontsize=8)
            positive = [f.value for f in figures if f.value > 0 and not math.isnan(f.value)]
            if positive and max(positive) / min(positive) > 100:  # e.g. batched against unbatched
                ax.set_yscale("log")
            ax.set_ylabel(unit)
            ax.legend(fontsize=7, ncols=min(4, len(labels)))
            ax.grid(axis="y", alpha=0.3)
        axes[0, 0].set_title(section.title, fontsize=10)
        fig.tight_layout()
        path = os.path.join(directory, f"{section.name.replace(' ', '-')}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


__all__ = ["format_section", "machine", "to_json", "write_plots"]
