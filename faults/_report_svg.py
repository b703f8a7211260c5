"""The SVG drawing of one report timeline (:class:`~faults._report_timeline.Timeline`).

:func:`render_svg` returns one inline ``<svg>`` element: lanes, a time axis with round ticks, a bar
per operation and a marker per fault, each with a ``data-lane`` attribute and a ``<title>``
tooltip; every text is escaped and every coordinate is finite. It raises nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from faults._report_text import cut, esc, fmt_time, num
from faults._report_timeline import Timeline

# Geometry of a timeline, in SVG user units.
_LABEL_WIDTH = 140.0
_PLOT_WIDTH = 960.0
_RIGHT_MARGIN = 20.0
_TOP_MARGIN = 8.0
_AXIS_HEIGHT = 28.0
_SUBROW_HEIGHT = 12.0
_BAR_HEIGHT = 9.0
_LANE_PADDING = 4.0
_FAULT_LANE_HEIGHT = 26.0
_MIN_BAR_WIDTH = 1.5
_MAX_TICKS = 12
_CHAR_WIDTH = 6.0


def _ticks(start: float, span: float) -> list[tuple[float, str]]:
    """About ten round tick times in [start, start + span], with their labels."""
    raw = span / 10
    step = 0.0
    if raw > 0 and math.isfinite(raw):
        magnitude = 10.0 ** math.floor(math.log10(raw))
        step = next((m * magnitude for m in (1, 2, 5) if m * magnitude >= raw), 10 * magnitude)
    if not (step > 0 and math.isfinite(step)) or start + step == start:
        return [(start, fmt_time(start)), (start + span, fmt_time(start + span))]
    decimals = min(12, max(0, -math.floor(math.log10(step))))
    ticks: list[tuple[float, str]] = []
    first = math.ceil(start / step) * step
    for k in range(_MAX_TICKS * 3):
        t = first + k * step
        if t > start + span + step * 1e-9:
            break
        label = f"{t:.{decimals}f}"
        if label.startswith("-") and float(label) == 0:
            label = label[1:]
        if not ticks or ticks[-1][1] != label:
            ticks.append((t, label))
    return ticks


def _lane_heights(timeline: Timeline) -> dict[str, float]:
    rows: dict[str, int] = {}
    for bar, subrow in zip(timeline.bars, timeline.subrows, strict=True):
        rows[bar.lane] = max(rows.get(bar.lane, 0), subrow + 1)
    heights: dict[str, float] = {}
    for lane in timeline.lanes:
        bars_height = rows[lane] * _SUBROW_HEIGHT + 2 * _LANE_PADDING if lane in rows else 0.0
        heights[lane] = max(bars_height, _FAULT_LANE_HEIGHT if lane not in rows else 0.0, 20.0)
    markers_on = {m.lane for m in timeline.markers}
    for lane in markers_on:
        heights[lane] = max(heights[lane], _FAULT_LANE_HEIGHT)
    return heights


def _label_place(x: float) -> tuple[float, str]:
    """Where a fault label goes: right of its marker, or left of it near the end of the axis."""
    if x > _LABEL_WIDTH + _PLOT_WIDTH * 0.75:
        return x - 6, "end"
    return x + 6, "start"


def _visible_labels(timeline: Timeline, x_of: Callable[[float], float]) -> set[int]:
    """The markers whose label does not overlap an earlier label on the same lane (left to right)."""
    order = sorted(
        range(len(timeline.markers)),
        key=lambda n: (timeline.markers[n].lane, x_of(timeline.markers[n].time), n),
    )
    right_edge: dict[str, float] = {}
    shown: set[int] = set()
    for n in order:
        marker = timeline.markers[n]
        text_x, anchor = _label_place(x_of(marker.time))
        width = _CHAR_WIDTH * len(marker.label)
        left = text_x if anchor == "start" else text_x - width
        if left > right_edge.get(marker.lane, -math.inf) + 4:
            shown.add(n)
            right_edge[marker.lane] = left + width
    return shown


def render_svg(timeline: Timeline, run_name: str) -> str:
    start = timeline.start
    span = timeline.end - timeline.start
    if not (span > 0 and math.isfinite(span)):
        span = 1.0

    def x_of(t: float) -> float:
        if math.isnan(t):
            t = start
        fraction = min(1.0, max(0.0, (t - start) / span))
        return _LABEL_WIDTH + fraction * _PLOT_WIDTH

    heights = _lane_heights(timeline)
    tops: dict[str, float] = {}
    y = _TOP_MARGIN + _AXIS_HEIGHT
    for lane in timeline.lanes:
        tops[lane] = y
        y += heights[lane]
    bottom = y
    width = _LABEL_WIDTH + _PLOT_WIDTH + _RIGHT_MARGIN
    height = bottom + _TOP_MARGIN
    out: list[str] = [
        f'<svg class="timeline-svg" width="{num(width)}" height="{num(height)}" '
        f'viewBox="0 0 {num(width)} {num(height)}" role="img" '
        f'aria-label="timeline of {esc(run_name)}">'
    ]
    out.append('<g class="lanes">')
    for n, lane in enumerate(timeline.lanes):
        top, h = tops[lane], heights[lane]
        parity = " odd" if n % 2 else ""
        out.append(
            f'<rect class="lane-bg{parity}" data-lane="{esc(lane)}" x="0" y="{num(top)}" '
            f'width="{num(width)}" height="{num(h)}"></rect>'
        )
        out.append(
            f'<text class="lane-label" data-lane="{esc(lane)}" x="6" y="{num(top + h / 2 + 4)}">'
            f"<title>{esc(lane)}</title>{esc(cut(lane, 22))}</text>"
        )
    out.append("</g>")
    out.append('<g class="axis">')
    axis_y = _TOP_MARGIN + _AXIS_HEIGHT
    out.append(
        f'<line x1="{num(_LABEL_WIDTH)}" y1="{num(axis_y)}" '
        f'x2="{num(_LABEL_WIDTH + _PLOT_WIDTH)}" y2="{num(axis_y)}"></line>'
    )
    out.append(f'<text x="6" y="{num(axis_y - 8)}">time (s)</text>')
    for t, label in _ticks(start, span):
        x = x_of(t)
        out.append(
            f'<line class="grid" x1="{num(x)}" y1="{num(axis_y - 4)}" x2="{num(x)}" y2="{num(bottom)}">'
            "</line>"
        )
        out.append(
            f'<text class="tick" x="{num(x)}" y="{num(axis_y - 8)}" text-anchor="middle">{esc(label)}</text>'
        )
    out.append("</g>")
    out.append('<g class="guides">')
    guides: set[str] = set()
    for marker in timeline.markers:
        x_text = num(x_of(marker.time))
        if x_text not in guides:
            guides.add(x_text)
            out.append(
                f'<line class="fault-guide" x1="{x_text}" y1="{num(axis_y)}" x2="{x_text}" '
                f'y2="{num(bottom)}"></line>'
            )
    out.append("</g>")
    out.append('<g class="ops">')
    for bar, subrow in zip(timeline.bars, timeline.subrows, strict=True):
        x0, x1 = sorted((x_of(bar.start), x_of(bar.end)))
        bar_y = tops[bar.lane] + _LANE_PADDING + subrow * _SUBROW_HEIGHT
        out.append(
            f'<rect class="op {bar.outcome}" data-lane="{esc(bar.lane)}" data-op="{esc(bar.op_id)}" '
            f'x="{num(x0)}" y="{num(bar_y)}" width="{num(max(_MIN_BAR_WIDTH, x1 - x0))}" '
            f'height="{num(_BAR_HEIGHT)}"><title>{esc(bar.tooltip)}</title></rect>'
        )
    out.append("</g>")
    out.append('<g class="faults">')
    shown = _visible_labels(timeline, x_of)
    for n, marker in enumerate(timeline.markers):
        x = x_of(marker.time)
        top, h = tops[marker.lane], heights[marker.lane]
        text = ""
        if n in shown:
            text_x, anchor = _label_place(x)
            text = (
                f'<text x="{num(text_x)}" y="{num(top + 11)}" text-anchor="{anchor}">'
                f"{esc(marker.label)}</text>"
            )
        out.append(
            f'<g class="fault" data-lane="{esc(marker.lane)}" data-kind="{esc(marker.kind)}">'
            f"<title>{esc(marker.tooltip)}</title>"
            f'<line x1="{num(x)}" y1="{num(top + 1)}" x2="{num(x)}" y2="{num(top + h - 1)}"></line>'
            f'<path d="M{num(x - 4)} {num(top + 2)}L{num(x + 4)} {num(top + 2)}L{num(x)} '
            f'{num(top + 9)}Z"></path>'
            f"{text}</g>"
        )
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


LEGEND = (
    '<div class="legend">'
    '<span class="item"><span class="swatch ok"></span>ok</span>'
    '<span class="item"><span class="swatch fail"></span>fail (definitely did not happen)</span>'
    '<span class="item"><span class="swatch info"></span>info (indeterminate)</span>'
    '<span class="item"><span class="swatch open"></span>never completed</span>'
    '<span class="item"><span class="swatch fault"></span>fault (on the lane it hit; '
    "a link fault on its source broker)</span>"
    '<span class="item">bars run from invocation to completion; hover for details</span>'
    "</div>"
)
