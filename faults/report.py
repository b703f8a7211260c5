"""An HTML report of fault-scenario runs: one self-contained page with a Jepsen-style timeline per run.

What it promises:

* :func:`render_html` returns one HTML5 document that needs nothing else: the CSS is in a
  ``<style>`` element, the timelines are inline ``<svg>`` elements, and there is no script, no
  external style sheet, font or image, and no ``http(s)`` reference; the only links are the
  overview table's ``#`` anchors to each run's section.
* The page has a heading, an overview table (one row per run: name linking to its section,
  settings, expected outcome, verdict, then the summary values, one column per summary label in
  the order labels first appear), and per run a section with the description, the summary, the
  command that replays the run when its verdict was unexpected, and a timeline with a legend.
* A timeline's x axis is simulated time in seconds, with tick labels. Its lanes are the client
  processes of the history (natural order: ``producer-2`` before ``producer-10``), then one lane per
  broker a fault is aimed at (its ``brokers``, link destinations included; numeric order), then a
  ``cluster`` lane for faults on the whole cluster or network (:attr:`~faults.kinds.Scope.CLUSTER`)
  and for faults aimed at no broker. Each completed
  operation is a bar (``<rect class="op ok|fail|info">``) from its invocation to its completion on
  its process's lane; an operation never completed is a grey bar (``class="op open"``) up to the end
  of the run. Operations of one process that overlap in time are stacked on up to
  :data:`MAX_SUBROWS` sub-rows of the lane. Each fault is a marker (``<g class="fault">``: a
  vertical line across the lane, a glyph and the fault's kind) on the lane of each broker it is
  aimed at; a link fault (:attr:`~faults.kinds.Scope.LINK`) goes on its source broker's lane only
  and its label names the link (its target). The brokers come from :attr:`faults.history.Fault.brokers`,
  never from parsing the target, which is only shown; a fault of a kind that is no
  :class:`~faults.kinds.FaultKind` is drawn on the lanes of its brokers. A
  label that would overlap an earlier one on the same lane is left out (the marker and its tooltip
  stay). Every bar and marker carries a ``data-lane`` attribute naming its lane and a ``<title>``
  tooltip (an operation's id, process, ``f``, outcome, times, invocation and completion values; a
  fault's kind, target, time and detail). Tooltip values longer than :data:`MAX_VALUE_CHARS`
  characters are cut with ``…``; the full values are in the history itself.
* Every text that comes from a run or a history (names, processes, values, fault kinds, targets,
  detail) is HTML-escaped with :func:`html.escape`; lone surrogates are written as ``\\udXXX``
  escapes so the page always encodes as UTF-8.
* The output is deterministic: the same runs give byte-identical HTML (no wall-clock time, no
  random ids; mappings are shown in their own order). Its size is linear in the number of events.

Failure modes: :func:`render_html` raises nothing for any history, including an empty one, one
whose events all happen at the same instant, one with non-finite or non-numeric times, completions
without an invocation, and values that cannot be serialised as JSON (they are shown with
:func:`repr`). :func:`write_report` writes the page as UTF-8 and raises :class:`OSError` when the
file cannot be written.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from faults.history import Fault, History, Operation
from faults.kinds import Scope, kind_of

MAX_SUBROWS = 8
"""At most this many sub-rows per process lane; more overlapping operations share sub-rows."""

MAX_VALUE_CHARS = 400
"""Longer values are cut in tooltips."""

MAX_LABEL_CHARS = 40
"""Longer fault labels are cut on the timeline (the tooltip has the whole text)."""

_CLUSTER_LANE = "cluster"

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

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1d232a;background:#fff}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-top:1px solid #ccd;padding-top:.8em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f2f5}
.verdict-ok{color:#1a7f37;font-weight:600}.verdict-bad{color:#c62828;font-weight:600}
pre.replay{background:#fff4f4;border:1px solid #e5b3b3;padding:.5em;overflow-x:auto}
.timeline{overflow-x:auto;border:1px solid #dde;margin:.6em 0}
.timeline svg{display:block;font-size:10px}
svg .lane-bg{fill:#fafbfc}svg .lane-bg.odd{fill:#f1f3f6}
svg .lane-label{fill:#1d232a;font-size:11px}
svg .axis line,svg .grid{stroke:#c4c9d0;stroke-width:.5}
svg .axis text{fill:#4a525c;font-size:10px}
svg .op.ok{fill:#2e9d4a}svg .op.fail{fill:#d93025}svg .op.info{fill:#f0ad00}svg .op.open{fill:#9aa0a6}
svg .fault line{stroke:#6a1b9a;stroke-width:1.5}
svg .fault path{fill:#6a1b9a}
svg .fault text{fill:#4a148c;font-size:10px}
svg .fault-guide{stroke:#6a1b9a;stroke-width:.5;stroke-dasharray:2 3;opacity:.5}
.legend{font-size:.85em;margin:.3em 0 1em}
.legend span.item{margin-right:1.2em;white-space:nowrap}
.swatch{display:inline-block;width:1.4em;height:.8em;margin-right:.35em;vertical-align:middle}
.swatch.ok{background:#2e9d4a}.swatch.fail{background:#d93025}.swatch.info{background:#f0ad00}
.swatch.open{background:#9aa0a6}.swatch.fault{background:#6a1b9a;width:.3em}
.empty{color:#666;font-style:italic}
"""


@attrs.frozen
class ReportRun:
    """One scenario run as the report shows it."""

    name: str
    """The scenario's name."""
    description: str
    settings: str
    """e.g. ``"acks=all, min.insync.replicas=2"``."""
    expected: str
    """``"no loss"`` or ``"loss allowed"``."""
    verdict_ok: bool
    """True when the run ended as expected."""
    summary: Mapping[str, str]
    """Ordered label -> value, e.g. ``{"acknowledged": "40", "seed": "1"}``."""
    history: History
    replay: str = ""
    """A command line that replays the run, shown when not ``verdict_ok``."""


# ---------------------------------------------------------------------- text helpers
def _text(value: object) -> str:
    """``value`` as text that encodes as UTF-8 (lone surrogates become backslash escapes)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = "<unprintable>"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _esc(value: object) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape(_text(value), quote=True)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: object) -> str:
    """A value as compact JSON in its own key order, or its ``repr`` when that fails."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=True)
    except Exception:
        try:
            text = repr(value)
        except Exception:
            text = "<unprintable>"
    return _cut(_text(text), MAX_VALUE_CHARS)


def _time(value: object) -> float:
    """A time as a float; NaN when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    try:
        return float(str(value))
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _fmt_time(t: float) -> str:
    return f"{t:.6g}" if math.isfinite(t) else str(t)


def _num(x: float) -> str:
    """An SVG coordinate."""
    return f"{x:.1f}"


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "run"


# ---------------------------------------------------------------------- timeline model
@attrs.frozen
class _Bar:
    lane: str
    start: float
    end: float
    outcome: str
    """``ok``, ``fail``, ``info`` or ``open`` (never completed)."""
    op_id: str
    tooltip: str


@attrs.frozen
class _Marker:
    lane: str
    time: float
    kind: str
    label: str
    tooltip: str


def _broker_lane(broker: int) -> str:
    return f"broker-{broker}"


def _op_tooltip(invoke: Operation | None, done: Operation | None, end_of_run: float) -> str:
    first = invoke if invoke is not None else done
    if first is None:  # pragma: no cover - callers pass at least one
        return ""
    outcome = "never completed" if done is None else _text(done.type)
    lines = [f"op {_text(first.op_id)} · {_text(first.process)} · {_text(first.f)} · {outcome}"]
    if invoke is None:
        lines.append(f"time {_fmt_time(_time(first.time))} s (no invocation recorded)")
    else:
        finished = (
            _fmt_time(_time(done.time)) if done is not None else f"end of run ({_fmt_time(end_of_run)})"
        )
        lines.append(f"time {_fmt_time(_time(invoke.time))} → {finished} s")
        lines.append(f"invoke: {_show(invoke.value)}")
    if done is not None:
        lines.append(f"{_text(done.type)}: {_show(done.value)}")
    return "\n".join(lines)


def _fault_tooltip(fault: Fault) -> str:
    detail: object = fault.detail
    if isinstance(detail, Mapping):
        shown = ", ".join(f"{_text(k)}={_show(v)}" for k, v in detail.items())
    else:
        shown = _show(detail)
    lines = [
        f"fault {_text(fault.kind)}",
        f"target {_text(fault.target)}",
        f"time {_fmt_time(_time(fault.time))} s",
    ]
    if shown:
        lines.append(f"detail {_cut(shown, MAX_VALUE_CHARS)}")
    return "\n".join(lines)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _sort_time(t: float) -> float:
    return -math.inf if math.isnan(t) else t


class _Timeline:
    """The lanes, bars and markers of one history, and the time span they cover."""

    def __init__(self, history: History) -> None:
        events: list[object] = list(getattr(history, "events", ()))
        times = [_time(getattr(e, "time", math.nan)) for e in events]
        finite = [t for t in times if math.isfinite(t)]
        self.start = min(finite) if finite else 0.0
        self.end = max(finite) if finite else 0.0
        self.bars: list[_Bar] = []
        self.markers: list[_Marker] = []
        processes: dict[str, None] = {}
        brokers: dict[int, None] = {}
        cluster = False
        pending: dict[object, tuple[int, Operation]] = {}
        unfinished: list[tuple[int, Operation]] = []
        for index, event in enumerate(events):
            if isinstance(event, Operation):
                process = _text(event.process)
                processes.setdefault(process)
                key = event.op_id if _hashable(event.op_id) else ("unhashable", index)
                if event.type == "invoke":
                    earlier = pending.pop(key, None)
                    if earlier is not None:  # the same id invoked twice: the first never completed
                        unfinished.append(earlier)
                    pending[key] = (index, event)
                    continue
                found = pending.pop(key, None)
                invoke = found[1] if found is not None else None
                outcome = event.type if event.type in ("ok", "fail", "info") else "info"
                self.bars.append(
                    _Bar(
                        lane=process if invoke is None else _text(invoke.process),
                        start=_time(event.time if invoke is None else invoke.time),
                        end=_time(event.time),
                        outcome=outcome,
                        op_id=_text(event.op_id),
                        tooltip=_op_tooltip(invoke, event, self.end),
                    )
                )
            elif isinstance(event, Fault):
                target = _text(event.target)
                kind = _text(event.kind)
                tooltip = _fault_tooltip(event)
                known = kind_of(event.kind) if isinstance(event.kind, str) else None
                scope = known.scope if known is not None else Scope.BROKERS
                aimed = [b for b in event.brokers if isinstance(b, int)]
                if scope is Scope.CLUSTER or not aimed:
                    cluster = True
                    lanes_hit = [_CLUSTER_LANE]
                else:
                    for broker in aimed:
                        brokers.setdefault(broker)
                    lanes_hit = [_broker_lane(b) for b in (aimed[:1] if scope is Scope.LINK else aimed)]
                for lane in dict.fromkeys(lanes_hit):
                    shows_target = scope is Scope.LINK or (
                        lane == _CLUSTER_LANE and target.strip() != _CLUSTER_LANE
                    )
                    label = f"{kind} {target}" if shows_target else kind
                    self.markers.append(
                        _Marker(lane, _time(event.time), kind, _cut(label, MAX_LABEL_CHARS), tooltip)
                    )
        unfinished.extend(pending.values())
        unfinished.sort(key=lambda item: item[0])
        for _, invoke in unfinished:
            self.bars.append(
                _Bar(
                    lane=_text(invoke.process),
                    start=_time(invoke.time),
                    end=self.end,
                    outcome="open",
                    op_id=_text(invoke.op_id),
                    tooltip=_op_tooltip(invoke, None, self.end),
                )
            )
        self.lanes: list[str] = []
        seen: set[str] = set()
        ordered = [
            *sorted(processes, key=_natural_key),
            *(_broker_lane(b) for b in sorted(brokers)),
            *([_CLUSTER_LANE] if cluster else []),
        ]
        for name in ordered:
            if name not in seen:
                seen.add(name)
                self.lanes.append(name)
        self.subrows = self._stack()

    def _stack(self) -> list[int]:
        """Each bar's sub-row: a process's overlapping bars go on different sub-rows (at most
        :data:`MAX_SUBROWS`; beyond that the sub-row that frees up first is shared)."""
        order = sorted(
            range(len(self.bars)), key=lambda i: (self.bars[i].lane, _sort_time(self.bars[i].start), i)
        )
        row_ends: dict[str, list[float]] = {}
        subrows = [0] * len(self.bars)
        for i in order:
            bar = self.bars[i]
            ends = row_ends.setdefault(bar.lane, [])
            start = _sort_time(bar.start)
            free = next((r for r, end in enumerate(ends) if end < start), None)
            if free is None:
                if len(ends) < MAX_SUBROWS:
                    ends.append(-math.inf)
                    free = len(ends) - 1
                else:
                    free = min(range(len(ends)), key=lambda r: ends[r])
            ends[free] = max(ends[free], start, _sort_time(bar.end))
            subrows[i] = free
        return subrows


# ---------------------------------------------------------------------- SVG
def _ticks(start: float, span: float) -> list[tuple[float, str]]:
    """About ten round tick times in [start, start + span], with their labels."""
    raw = span / 10
    step = 0.0
    if raw > 0 and math.isfinite(raw):
        magnitude = 10.0 ** math.floor(math.log10(raw))
        step = next((m * magnitude for m in (1, 2, 5) if m * magnitude >= raw), 10 * magnitude)
    if not (step > 0 and math.isfinite(step)) or start + step == start:
        return [(start, _fmt_time(start)), (start + span, _fmt_time(start + span))]
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


def _lane_heights(timeline: _Timeline) -> dict[str, float]:
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


def _visible_labels(timeline: _Timeline, x_of: Callable[[float], float]) -> set[int]:
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


def _render_svg(timeline: _Timeline, run_name: str) -> str:
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
        f'<svg class="timeline-svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" '
        f'aria-label="timeline of {_esc(run_name)}">'
    ]
    out.append('<g class="lanes">')
    for n, lane in enumerate(timeline.lanes):
        top, h = tops[lane], heights[lane]
        parity = " odd" if n % 2 else ""
        out.append(
            f'<rect class="lane-bg{parity}" data-lane="{_esc(lane)}" x="0" y="{_num(top)}" '
            f'width="{_num(width)}" height="{_num(h)}"></rect>'
        )
        out.append(
            f'<text class="lane-label" data-lane="{_esc(lane)}" x="6" y="{_num(top + h / 2 + 4)}">'
            f"<title>{_esc(lane)}</title>{_esc(_cut(lane, 22))}</text>"
        )
    out.append("</g>")
    out.append('<g class="axis">')
    axis_y = _TOP_MARGIN + _AXIS_HEIGHT
    out.append(
        f'<line x1="{_num(_LABEL_WIDTH)}" y1="{_num(axis_y)}" '
        f'x2="{_num(_LABEL_WIDTH + _PLOT_WIDTH)}" y2="{_num(axis_y)}"></line>'
    )
    out.append(f'<text x="6" y="{_num(axis_y - 8)}">time (s)</text>')
    for t, label in _ticks(start, span):
        x = x_of(t)
        out.append(
            f'<line class="grid" x1="{_num(x)}" y1="{_num(axis_y - 4)}" x2="{_num(x)}" y2="{_num(bottom)}">'
            "</line>"
        )
        out.append(
            f'<text class="tick" x="{_num(x)}" y="{_num(axis_y - 8)}" text-anchor="middle">'
            f"{_esc(label)}</text>"
        )
    out.append("</g>")
    out.append('<g class="guides">')
    guides: set[str] = set()
    for marker in timeline.markers:
        x_text = _num(x_of(marker.time))
        if x_text not in guides:
            guides.add(x_text)
            out.append(
                f'<line class="fault-guide" x1="{x_text}" y1="{_num(axis_y)}" x2="{x_text}" '
                f'y2="{_num(bottom)}"></line>'
            )
    out.append("</g>")
    out.append('<g class="ops">')
    for bar, subrow in zip(timeline.bars, timeline.subrows, strict=True):
        x0, x1 = sorted((x_of(bar.start), x_of(bar.end)))
        bar_y = tops[bar.lane] + _LANE_PADDING + subrow * _SUBROW_HEIGHT
        out.append(
            f'<rect class="op {bar.outcome}" data-lane="{_esc(bar.lane)}" data-op="{_esc(bar.op_id)}" '
            f'x="{_num(x0)}" y="{_num(bar_y)}" width="{_num(max(_MIN_BAR_WIDTH, x1 - x0))}" '
            f'height="{_num(_BAR_HEIGHT)}"><title>{_esc(bar.tooltip)}</title></rect>'
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
                f'<text x="{_num(text_x)}" y="{_num(top + 11)}" text-anchor="{anchor}">'
                f"{_esc(marker.label)}</text>"
            )
        out.append(
            f'<g class="fault" data-lane="{_esc(marker.lane)}" data-kind="{_esc(marker.kind)}">'
            f"<title>{_esc(marker.tooltip)}</title>"
            f'<line x1="{_num(x)}" y1="{_num(top + 1)}" x2="{_num(x)}" y2="{_num(top + h - 1)}"></line>'
            f'<path d="M{_num(x - 4)} {_num(top + 2)}L{_num(x + 4)} {_num(top + 2)}L{_num(x)} '
            f'{_num(top + 9)}Z"></path>'
            f"{text}</g>"
        )
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


_LEGEND = (
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


# ---------------------------------------------------------------------- page
def _verdict(run: ReportRun) -> str:
    if run.verdict_ok:
        return '<span class="verdict-ok">as expected</span>'
    return '<span class="verdict-bad">UNEXPECTED</span>'


def _anchor(index: int, name: str) -> str:
    return f"run-{index + 1}-{_slug(name)}"


def _overview(runs: Sequence[ReportRun]) -> list[str]:
    labels: dict[str, None] = {}
    for run in runs:
        for label in run.summary:
            labels.setdefault(_text(label))
    out = ['<table class="overview" id="overview">', "<thead><tr>"]
    out.extend(f"<th>{_esc(h)}</th>" for h in ("scenario", "settings", "expected", "verdict", *labels))
    out.append("</tr></thead>")
    out.append("<tbody>")
    for index, run in enumerate(runs):
        summary = {_text(k): v for k, v in run.summary.items()}
        cells = [
            f'<td><a href="#{_esc(_anchor(index, _text(run.name)))}">{_esc(run.name)}</a></td>',
            f"<td>{_esc(run.settings)}</td>",
            f"<td>{_esc(run.expected)}</td>",
            f"<td>{_verdict(run)}</td>",
            *(f"<td>{_esc(summary.get(label, ''))}</td>" for label in labels),
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def _counts(timeline: _Timeline) -> str:
    outcomes = {"ok": 0, "fail": 0, "info": 0, "open": 0}
    for bar in timeline.bars:
        outcomes[bar.outcome] += 1
    return (
        f"{len(timeline.bars)} operations (ok {outcomes['ok']}, fail {outcomes['fail']}, "
        f"info {outcomes['info']}, never completed {outcomes['open']}), "
        f"{len(timeline.markers)} fault markers, simulated time "
        f"{_fmt_time(timeline.start)} to {_fmt_time(timeline.end)} s"
    )


def _section(index: int, run: ReportRun) -> list[str]:
    name = _text(run.name)
    out = [f'<section class="run" id="{_esc(_anchor(index, name))}">']
    out.append(f"<h2>{_esc(name)} · {_verdict(run)}</h2>")
    if run.description:
        out.append(f'<p class="description">{_esc(run.description)}</p>')
    out.append(
        f'<p class="settings">settings: <code>{_esc(run.settings)}</code> · '
        f"expected: {_esc(run.expected)}</p>"
    )
    if run.summary:
        out.append('<table class="summary"><tbody>')
        out.extend(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in run.summary.items())
        out.append("</tbody></table>")
    if not run.verdict_ok and run.replay:
        out.append(f'<p>Replay this run:</p><pre class="replay"><code>{_esc(run.replay)}</code></pre>')
    timeline = _Timeline(run.history)
    out.append(f'<p class="counts">{_esc(_counts(timeline))}</p>')
    if not timeline.lanes:
        out.append('<p class="empty">The history is empty: nothing to draw.</p>')
    out.append('<div class="timeline">')
    out.append(_render_svg(timeline, name))
    out.append("</div>")
    out.append(_LEGEND)
    out.append('<p><a href="#overview">back to the overview</a></p>')
    out.append("</section>")
    return out


def render_html(runs: Sequence[ReportRun], *, title: str = "reflog scenarios") -> str:
    """The whole report as one self-contained HTML page; see the module docstring. Raises nothing."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
    ]
    unexpected = sum(1 for run in runs if not run.verdict_ok)
    out.append(
        f'<p class="totals">{len(runs)} runs, {unexpected} with an unexpected verdict. '
        "Times are simulated seconds.</p>"
    )
    out.extend(_overview(runs))
    for index, run in enumerate(runs):
        out.extend(_section(index, run))
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"


def write_report(
    path: str | os.PathLike[str], runs: Sequence[ReportRun], *, title: str = "reflog scenarios"
) -> None:
    """Write :func:`render_html` of ``runs`` to ``path`` as UTF-8. Raises :class:`OSError` on failure."""
    Path(path).write_text(render_html(runs, title=title), encoding="utf-8")


__all__ = ["ReportRun", "render_html", "write_report"]
