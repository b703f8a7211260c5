"""``reflog scenarios``: run the fault-scenario catalogue on the embedded 3-broker cluster.

Each scenario runs under trio's ``MockClock`` with the given seed and prints one row: scenario,
settings, faults, acknowledged, survived, lost (allowed / violation), expected, verdict; figures a
scenario measured follow the table. A progress bar runs on standard error while it works.
``--report FILE`` also writes a self-contained HTML page with a timeline of every run, and
``--history-dir DIR`` saves each run's history as JSON lines. The command exits 1 when any
verdict is unexpected (and prints the command that replays it), 2 on a usage error.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import trio
import trio.testing

from faults.catalogue import CATALOGUE
from faults.kinds import kind_of
from faults.report import ReportRun, write_report
from faults.scenarios import ScenarioResult, run_scenario

_HEADER = [
    "scenario",
    "settings",
    "faults",
    "acknowledged",
    "survived",
    "lost (allowed / violation)",
    "expected",
    "verdict",
]


def _row(result: ScenarioResult) -> list[str]:
    report = result.report
    allowed = sum(1 for lost in report.lost if lost.allowed)
    faults = ", ".join(sorted({str(f.kind) for f in result.history.faults() if not _is_repair(f.kind)}))
    return [
        result.scenario.name,
        result.scenario.settings,
        faults or "-",
        str(report.acknowledged),
        str(report.survived),
        f"{allowed} / {len(report.violations)}",
        result.scenario.expected,
        _verdict(result),
    ]


def _is_repair(kind: str) -> bool:
    """Whether ``kind`` ends faults (a heal, a restart): the faults column leaves those out."""
    known = kind_of(kind)
    return known is not None and known.is_repair


def _verdict(result: ScenarioResult) -> str:
    """``as expected``, or ``UNEXPECTED`` with every anomaly the checker found besides losses."""
    if result.as_expected:
        return "as expected"
    report = result.report
    anomalies = [
        f"{len(found)} {label}"
        for found, label in (
            (report.duplicates, "duplicated"),
            (report.reordered, "reordered"),
            (report.vanished_reads, "vanished reads"),
            (report.divergent, "diverged replica pairs"),
            (report.corrupt, "replicas holding corrupt batches"),
        )
        if found
    ]
    return "UNEXPECTED" + (f" ({', '.join(anomalies)})" if anomalies else "")


class ProgressBar:
    """A one-line progress bar on ``stream``: redrawn in place on a terminal, a line per step otherwise."""

    def __init__(self, total: int, stream: TextIO, width: int = 24) -> None:
        self.total = total
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.interactive = stream.isatty()

    def show(self, done: int, label: str) -> None:
        filled = self.width * done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} {time.monotonic() - self.started:5.1f}s {label}"
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _report_run(result: ScenarioResult) -> ReportRun:
    row = dict(zip(_HEADER, _row(result), strict=True))
    summary = {k: row[k] for k in ("acknowledged", "survived", "lost (allowed / violation)")}
    summary["seed"] = str(result.seed)
    if result.excuse:
        summary["excuse"] = result.excuse
    if result.scenario.protection:
        summary["protection"] = result.scenario.protection
    summary.update(result.metrics)
    return ReportRun(
        name=result.scenario.name,
        description=result.scenario.description,
        settings=result.scenario.settings,
        expected=result.scenario.expected,
        verdict_ok=result.as_expected,
        summary=summary,
        history=result.history,
        replay=result.replay,
    )


def run_catalogue(
    *,
    seed: int,
    only: Sequence[str],
    as_json: bool,
    report: str | os.PathLike[str] | None = None,
    history_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Run the selected scenarios; returns the exit code (1 on any unexpected verdict)."""
    chosen = [s for s in CATALOGUE if not only or s.name in only]
    unknown = set(only) - {s.name for s in CATALOGUE}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    progress = ProgressBar(len(chosen), sys.stderr)
    results = []
    for index, scenario in enumerate(chosen):
        progress.show(index, scenario.name)
        results.append(
            trio.run(run_scenario, scenario, seed, clock=trio.testing.MockClock(autojump_threshold=0))
        )
    progress.show(len(chosen), "done")
    progress.finish()
    elapsed = time.monotonic() - progress.started
    if history_dir is not None:
        Path(history_dir).mkdir(parents=True, exist_ok=True)
        for result in results:
            result.history.save(Path(history_dir) / f"{result.scenario.name}.seed{seed}.jsonl")
    if report is not None:
        write_report(report, [_report_run(r) for r in results], title=f"reflog scenarios, seed {seed}")
    if as_json:
        rows = []
        for result in results:
            row: dict[str, object] = dict(zip(_HEADER, _row(result), strict=True))
            row["excuse"] = result.excuse
            row["metrics"] = dict(result.metrics)
            rows.append(row)
        print(json.dumps(rows, indent=2))
    else:
        rows_text = [_HEADER, *(_row(r) for r in results)]
        widths = [max(len(row[i]) for row in rows_text) for i in range(len(_HEADER))]
        for n, row_text in enumerate(rows_text):
            print("  ".join(cell.ljust(w) for cell, w in zip(row_text, widths, strict=True)).rstrip())
            if n == 0:
                print("  ".join("-" * w for w in widths))
        measured = [(r.scenario.name, k, v) for r in results for k, v in r.metrics.items()]
        if measured:
            print("\nmeasured:")
            for name, label, value in measured:
                print(f"  {name}: {label} = {value}")
        as_expected = sum(1 for r in results if r.as_expected)
        print(f"\n{as_expected} of {len(results)} scenarios as expected, in {elapsed:.1f} s (seed {seed})")
        if report is not None:
            print(f"report: {report}")
    failed = [r for r in results if not r.as_expected]
    for result in failed:
        print(f"replay: {result.replay}", file=sys.stderr)
    return 1 if failed else 0
