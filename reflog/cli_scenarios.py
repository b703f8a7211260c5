"""``reflog scenarios``: run the fault-scenario catalogue on the embedded 3-broker cluster.

Each scenario runs under trio's ``MockClock`` with the given seed and prints one row: scenario,
settings, faults, acknowledged, survived, lost (allowed / violation), expected, verdict. The
command exits 1 when any verdict is unexpected and prints how to replay it.
"""

from __future__ import annotations

import json
import sys

import trio
import trio.testing

from faults.scenarios import CATALOGUE, ScenarioResult, run_scenario


def _row(result: ScenarioResult) -> list[str]:
    report = result.report
    allowed = sum(1 for lost in report.lost if lost.allowed)
    faults = ", ".join(sorted({f.kind for f in result.history.faults()}))
    return [
        result.scenario.name,
        result.scenario.settings,
        faults,
        str(report.acknowledged),
        str(report.survived),
        f"{allowed} / {len(report.violations)}",
        result.scenario.expected,
        "as expected" if result.as_expected else "UNEXPECTED",
    ]


def run_catalogue(*, seed: int, only: list[str], as_json: bool) -> int:
    """Run the selected scenarios; returns the exit code (1 on any unexpected verdict)."""
    chosen = [s for s in CATALOGUE if not only or s.name in only]
    unknown = set(only) - {s.name for s in CATALOGUE}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    results = []
    for index, scenario in enumerate(chosen, start=1):
        if not as_json:
            print(f"[{index}/{len(chosen)}] {scenario.name} ...", file=sys.stderr, flush=True)
        results.append(
            trio.run(run_scenario, scenario, seed, clock=trio.testing.MockClock(autojump_threshold=0))
        )
    if as_json:
        print(json.dumps([dict(zip(_HEADER, _row(r), strict=True)) for r in results], indent=2))
    else:
        rows = [_HEADER, *(_row(r) for r in results)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
        for n, row in enumerate(rows):
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
            if n == 0:
                print("  ".join("-" * w for w in widths))
    failed = [r for r in results if not r.as_expected]
    for result in failed:
        print(f"replay: reflog scenarios --seed {seed} --only {result.scenario.name}", file=sys.stderr)
    return 1 if failed else 0


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
