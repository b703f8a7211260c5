"""Traceability between specs/ and the tests: every requirement is checked, every citation exists.

A requirement is a line in ``specs/*.md`` of the form ``- **STO-4** text...``. A test
cites requirements with ``@pytest.mark.req("STO-4", ...)``. When the whole suite is
collected (no ``-k``, ``-m``, or explicit paths), collection fails if any requirement
has no test; a citation of an unknown requirement fails collection always.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REQUIREMENT_LINE = re.compile(r"^\s*[-*]\s+\*\*(?P<id>[A-Z]{2,6}-\d+)\*\*")
REQUIREMENT_ID = re.compile(r"^[A-Z]{2,6}-\d+$")


class SpecTraceError(Exception):
    """The specification and the tests disagree."""


@dataclass(frozen=True)
class TraceReport:
    """Requirements without tests, and citations without requirements."""

    untested: tuple[str, ...]
    unknown: Mapping[str, tuple[str, ...]]  # cited id -> test node ids


def parse_requirements(text: str, source: str = "<spec>") -> dict[str, str]:
    """Requirement ids defined in one spec file's text, mapped to their source.

    Raises :class:`SpecTraceError` when an id is defined twice in the text.
    """
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = REQUIREMENT_LINE.match(line)
        if match is None:
            continue
        req_id = match.group("id")
        if req_id in found:
            raise SpecTraceError(f"{req_id} defined twice ({found[req_id]} and {source}:{number})")
        found[req_id] = f"{source}:{number}"
    return found


def load_requirements(spec_dir: Path) -> dict[str, str]:
    """All requirement ids defined in ``spec_dir/*.md``; duplicates across files are an error."""
    found: dict[str, str] = {}
    for path in sorted(spec_dir.glob("*.md")):
        for req_id, where in parse_requirements(path.read_text(encoding="utf-8"), path.name).items():
            if req_id in found:
                raise SpecTraceError(f"{req_id} defined twice ({found[req_id]} and {where})")
            found[req_id] = where
    return found


def trace(requirements: Iterable[str], citations: Mapping[str, Iterable[str]]) -> TraceReport:
    """Compare the defined requirements with ``citations`` (test node id -> cited ids)."""
    defined = set(requirements)
    cited: set[str] = set()
    unknown: dict[str, list[str]] = {}
    for node_id, ids in citations.items():
        for req_id in ids:
            if req_id not in defined:
                unknown.setdefault(req_id, []).append(node_id)
            cited.add(req_id)
    return TraceReport(
        untested=tuple(sorted(defined - cited)),
        unknown={k: tuple(v) for k, v in sorted(unknown.items())},
    )


def format_report(report: TraceReport, *, check_untested: bool) -> str | None:
    """A human-readable failure message, or ``None`` when the report is clean."""
    lines: list[str] = []
    for req_id, nodes in report.unknown.items():
        more = f" and {len(nodes) - 3} more" if len(nodes) > 3 else ""
        lines.append(f"test cites unknown requirement {req_id}: {', '.join(nodes[:3])}{more}")
    if check_untested:
        for req_id in report.untested:
            lines.append(f"requirement {req_id} has no test citing it")
    return "\n".join(lines) if lines else None
