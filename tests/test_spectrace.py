"""The specs/ traceability checker catches each kind of mismatch (PRJ-1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spectrace import SpecTraceError, format_report, load_requirements, parse_requirements, trace

SPEC = """# Example
- **STO-1** the first rule
- **STO-2** the second rule
  continued on a second line that mentions STO-3 without defining it
* **LOG-10** a third rule
"""


@pytest.mark.req("PRJ-1")
def test_parses_only_requirement_lines() -> None:
    assert sorted(parse_requirements(SPEC)) == ["LOG-10", "STO-1", "STO-2"]


@pytest.mark.req("PRJ-1")
def test_reports_untested_and_unknown_requirements() -> None:
    report = trace(["STO-1", "STO-2"], {"t::a": ["STO-1"], "t::b": ["STO-9"]})
    assert report.untested == ("STO-2",)
    assert report.unknown == {"STO-9": ("t::b",)}
    message = format_report(report, check_untested=True)
    assert message is not None and "STO-2" in message and "STO-9" in message and "t::b" in message
    assert "STO-2" not in (format_report(report, check_untested=False) or "")


@pytest.mark.req("PRJ-1")
def test_clean_trace_reports_nothing() -> None:
    assert format_report(trace(["A-1"], {"t::a": ["A-1"]}), check_untested=True) is None


@pytest.mark.req("PRJ-1")
def test_duplicate_definitions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecTraceError):
        parse_requirements("- **STO-1** a\n- **STO-1** b\n")
    (tmp_path / "a.md").write_text("- **STO-1** a\n")
    (tmp_path / "b.md").write_text("- **STO-1** b\n")
    with pytest.raises(SpecTraceError):
        load_requirements(tmp_path)


@pytest.mark.req("PRJ-1")
def test_the_repository_specs_define_requirements() -> None:
    found = load_requirements(Path(__file__).resolve().parent.parent / "specs")
    assert {"LOG-1", "PRJ-1", "FLT-1"} <= set(found)
