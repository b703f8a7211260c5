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

The page lives here; the timeline model is :mod:`faults._report_timeline`, its SVG drawing
:mod:`faults._report_svg` and the text helpers :mod:`faults._report_text` (the ``MAX_*`` limits
are re-exported here, where they have always been documented).

Failure modes: :func:`render_html` raises nothing for any history, including an empty one, one
whose events all happen at the same instant, one with non-finite or non-numeric times, completions
without an invocation, and values that cannot be serialised as JSON (they are shown with
:func:`repr`). :func:`write_report` writes the page as UTF-8 and raises :class:`OSError` when the
file cannot be written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from faults._report_svg import LEGEND, render_svg
from faults._report_text import MAX_VALUE_CHARS, as_text, esc, fmt_time, slug
from faults._report_timeline import MAX_LABEL_CHARS, MAX_SUBROWS, Timeline
from faults.history import History

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


def _verdict(run: ReportRun) -> str:
    if run.verdict_ok:
        return '<span class="verdict-ok">as expected</span>'
    return '<span class="verdict-bad">UNEXPECTED</span>'


def _anchor(index: int, name: str) -> str:
    return f"run-{index + 1}-{slug(name)}"


def _overview(runs: Sequence[ReportRun]) -> list[str]:
    labels: dict[str, None] = {}
    for run in runs:
        for label in run.summary:
            labels.setdefault(as_text(label))
    out = ['<table class="overview" id="overview">', "<thead><tr>"]
    out.extend(f"<th>{esc(h)}</th>" for h in ("scenario", "settings", "expected", "verdict", *labels))
    out.append("</tr></thead>")
    out.append("<tbody>")
    for index, run in enumerate(runs):
        summary = {as_text(k): v for k, v in run.summary.items()}
        cells = [
            f'<td><a href="#{esc(_anchor(index, as_text(run.name)))}">{esc(run.name)}</a></td>',
            f"<td>{esc(run.settings)}</td>",
            f"<td>{esc(run.expected)}</td>",
            f"<td>{_verdict(run)}</td>",
            *(f"<td>{esc(summary.get(label, ''))}</td>" for label in labels),
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def _counts(timeline: Timeline) -> str:
    outcomes = {"ok": 0, "fail": 0, "info": 0, "open": 0}
    for bar in timeline.bars:
        outcomes[bar.outcome] += 1
    return (
        f"{len(timeline.bars)} operations (ok {outcomes['ok']}, fail {outcomes['fail']}, "
        f"info {outcomes['info']}, never completed {outcomes['open']}), "
        f"{len(timeline.markers)} fault markers, simulated time "
        f"{fmt_time(timeline.start)} to {fmt_time(timeline.end)} s"
    )


def _section(index: int, run: ReportRun) -> list[str]:
    name = as_text(run.name)
    out = [f'<section class="run" id="{esc(_anchor(index, name))}">']
    out.append(f"<h2>{esc(name)} · {_verdict(run)}</h2>")
    if run.description:
        out.append(f'<p class="description">{esc(run.description)}</p>')
    out.append(
        f'<p class="settings">settings: <code>{esc(run.settings)}</code> · expected: {esc(run.expected)}</p>'
    )
    if run.summary:
        out.append('<table class="summary"><tbody>')
        out.extend(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in run.summary.items())
        out.append("</tbody></table>")
    if not run.verdict_ok and run.replay:
        out.append(f'<p>Replay this run:</p><pre class="replay"><code>{esc(run.replay)}</code></pre>')
    timeline = Timeline(run.history)
    out.append(f'<p class="counts">{esc(_counts(timeline))}</p>')
    if not timeline.lanes:
        out.append('<p class="empty">The history is empty: nothing to draw.</p>')
    out.append('<div class="timeline">')
    out.append(render_svg(timeline, name))
    out.append("</div>")
    out.append(LEGEND)
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
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
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


__all__ = ["MAX_LABEL_CHARS", "MAX_SUBROWS", "MAX_VALUE_CHARS", "ReportRun", "render_html", "write_report"]
