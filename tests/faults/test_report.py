"""The HTML report: one self-contained page, escaped text, a bar per operation and a marker per fault
on the right lane (HAR-7)."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import attrs
import pytest

from faults.history import History
from faults.report import MAX_SUBROWS, ReportRun, render_html, write_report

VOID = frozenset({"meta", "link", "br", "img", "hr", "input", "source", "wbr", "area", "base", "col"})


@attrs.define
class Node:
    tag: str
    attributes: dict[str, str]
    parent: Node | None = None
    children: list[Node] = attrs.field(factory=list)
    text: list[str] = attrs.field(factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(child.all_text() for child in self.children)

    def iter(self) -> list[Node]:
        found = [self]
        for child in self.children:
            found.extend(child.iter())
        return found

    def classes(self) -> list[str]:
        return self.attributes.get("class", "").split()

    def title(self) -> str:
        return next((c.all_text() for c in self.children if c.tag == "title"), "")


class TreeBuilder(HTMLParser):
    """Builds a tree and insists that every element is closed in order (the page is well formed)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attributes}, self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attributes}, self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    assert builder.doctype.lower() == "doctype html"
    return builder.root


def elements(root: Node, tag: str, cls: str | None = None) -> list[Node]:
    return [n for n in root.iter() if n.tag == tag and (cls is None or cls in n.classes())]


def lane_bands(root: Node) -> dict[str, tuple[float, float]]:
    """Lane name -> (top, bottom) from the lane background rectangles."""
    return {
        n.attributes["data-lane"]: (
            float(n.attributes["y"]),
            float(n.attributes["y"]) + float(n.attributes["height"]),
        )
        for n in elements(root, "rect", "lane-bg")
    }


def lane_labels(root: Node) -> list[str]:
    return [n.attributes["data-lane"] for n in elements(root, "text", "lane-label")]


def run_of(history: History, *, name: str = "s1", ok: bool = True, replay: str = "") -> ReportRun:
    return ReportRun(
        name=name,
        description="the leader loses power",
        settings="acks=all, min.insync.replicas=2",
        expected="no loss",
        verdict_ok=ok,
        summary={"acknowledged": "3", "lost (allowed / violation)": "0 / 0", "seed": "1"},
        history=history,
        replay=replay,
    )


def mixed_history() -> History:
    """producer-1: ok [0, 2], fail [1, 3], info [5, 6], never completed from 4;
    consumer-1: ok [2, 10] (the last event of the run)."""
    history = History()
    a = history.invoke("producer-1", "send", {"partition": 0, "value": "a"}, 0.0)
    b = history.invoke("producer-1", "send", {"partition": 0, "value": "b"}, 1.0)
    history.complete(a, "ok", {"offset": 0}, 2.0)
    c = history.invoke("consumer-1", "poll", {}, 2.0)
    history.complete(b, "fail", {"error": "NOT_ENOUGH_REPLICAS"}, 3.0)
    history.invoke("producer-1", "send", {"partition": 0, "value": "lost-in-flight"}, 4.0)
    d = history.invoke("producer-1", "send", {"partition": 0, "value": "d"}, 5.0)
    history.fault("power_loss", "broker-1", 5.5, mode="torn")
    history.complete(d, "info", {"error": "REQUEST_TIMED_OUT"}, 6.0)
    history.complete(c, "ok", {"records": [[0, 0, "a"]]}, 10.0)
    return history


def ops_by_id(root: Node) -> dict[str, Node]:
    return {n.attributes["data-op"]: n for n in elements(root, "rect", "op")}


@pytest.mark.req("HAR-7")
def test_the_page_is_well_formed_and_self_contained() -> None:
    page = render_html([run_of(mixed_history()), run_of(History(), name="s2", ok=False, replay="x")])
    root = parse(page)
    assert [n.tag for n in root.children] == ["html"]
    assert elements(root, "style") and len(elements(root, "svg")) == 2
    assert not elements(root, "script") and not elements(root, "link") and not elements(root, "img")
    assert not elements(root, "iframe") and not elements(root, "object") and not elements(root, "embed")
    lowered = page.lower()
    for forbidden in ("<script", "<link", "http://", "https://", "@import", "url(", "src="):
        assert forbidden not in lowered, forbidden
    ids = {n.attributes["id"] for n in root.iter() if "id" in n.attributes}
    hrefs = [n.attributes["href"] for n in elements(root, "a")]
    assert hrefs, "the overview links to each run"
    for href in hrefs:
        assert href.startswith("#") and href[1:] in ids, href


@pytest.mark.req("HAR-7")
def test_every_text_from_a_run_or_history_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    history = History()
    op = history.invoke("alice & bob", "send", {"partition": 0, "value": evil}, 0.0)
    history.complete(op, "ok", {"offset": 0, "note": '"quoted" <b>'}, 1.0)
    history.fault("<img src=x>", "broker-1", 0.5, why=evil)
    history.fault("block", "broker-1->broker-<2>", 0.7)
    run = ReportRun(
        name="<i>name</i>",
        description=evil,
        settings="a<b",
        expected="no loss",
        verdict_ok=False,
        summary={"<th>label": "<td>value"},
        history=history,
        replay="reflog scenarios --only '<x>' && echo",
    )
    page = render_html([run], title="<h1>title")
    for raw in (evil, "alice & bob", "<img src=x>", "<i>name</i>", "<th>label", "<td>value", "<b>", "a<b"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "alice &amp; bob" in page
    root = parse(page)
    assert not elements(root, "script") and not elements(root, "img") and not elements(root, "i")
    # The parsed text gives the original strings back.
    assert "alice & bob" in lane_labels(root)
    (bar,) = elements(root, "rect", "op")
    assert bar.attributes["data-lane"] == "alice & bob"
    assert evil in bar.title() and json.dumps('"quoted" <b>') in bar.title()  # values are shown as JSON
    tooltips = [g.title() for g in elements(root, "g", "fault")]
    assert any("<img src=x>" in t and evil in t for t in tooltips)
    assert elements(root, "title")[0].all_text() == "<h1>title"
    assert "reflog scenarios --only '<x>' && echo" in elements(root, "pre", "replay")[0].all_text()


@pytest.mark.req("HAR-7")
def test_one_bar_per_operation_coloured_by_outcome_on_its_process_lane() -> None:
    root = parse(render_html([run_of(mixed_history())]))
    bars = ops_by_id(root)
    outcomes = {op_id: [c for c in bar.classes() if c != "op"] for op_id, bar in bars.items()}
    assert outcomes == {"0": ["ok"], "1": ["fail"], "2": ["ok"], "3": ["open"], "4": ["info"]}
    lanes = {op_id: bar.attributes["data-lane"] for op_id, bar in bars.items()}
    assert lanes == {
        "0": "producer-1",
        "1": "producer-1",
        "2": "consumer-1",
        "3": "producer-1",
        "4": "producer-1",
    }
    assert lane_labels(root)[:2] == ["consumer-1", "producer-1"]
    bands = lane_bands(root)
    for bar in bars.values():
        top, bottom = bands[bar.attributes["data-lane"]]
        y, height = float(bar.attributes["y"]), float(bar.attributes["height"])
        assert top <= y and y + height <= bottom
    # x follows simulated time: a bar spans invocation to completion, proportionally.
    left = {op_id: float(bar.attributes["x"]) for op_id, bar in bars.items()}
    right = {
        op_id: float(bar.attributes["x"]) + float(bar.attributes["width"]) for op_id, bar in bars.items()
    }
    unit = (right["0"] - left["0"]) / 2  # op 0 lasts 2 s from t=0
    assert unit > 0
    assert left["1"] == pytest.approx(left["0"] + unit, abs=0.2)
    assert right["4"] - left["4"] == pytest.approx(unit, abs=0.2)  # info op: 1 s
    # The op never completed runs from its invocation (t=4) to the end of the run (t=10).
    assert left["3"] == pytest.approx(left["0"] + 4 * unit, abs=0.2)
    assert right["3"] == pytest.approx(right["2"], abs=0.2) == pytest.approx(left["0"] + 10 * unit, abs=0.2)
    # Overlapping operations of one process do not cover each other.
    assert bars["0"].attributes["y"] != bars["1"].attributes["y"]
    # Tooltips: op id, f, invocation and completion values.
    assert "op 1" in bars["1"].title() and "send" in bars["1"].title()
    assert '"value": "b"' in bars["1"].title() and "NOT_ENOUGH_REPLICAS" in bars["1"].title()
    assert "never completed" in bars["3"].title() and "lost-in-flight" in bars["3"].title()
    # The legend names every outcome.
    legend = elements(root, "div", "legend")[0].all_text()
    for word in ("ok", "fail", "info", "never completed", "fault"):
        assert word in legend


@pytest.mark.req("HAR-7")
def test_the_time_axis_has_tick_labels_in_seconds() -> None:
    root = parse(render_html([run_of(mixed_history())]))
    ticks = {t.all_text(): float(t.attributes["x"]) for t in elements(root, "text", "tick")}
    assert {"0", "2", "4", "6", "8", "10"} <= set(ticks)
    assert ticks["0"] < ticks["2"] < ticks["10"]
    assert ticks["4"] - ticks["2"] == pytest.approx(ticks["2"] - ticks["0"], abs=0.2)
    bars = ops_by_id(root)
    assert float(bars["0"].attributes["x"]) == pytest.approx(ticks["0"], abs=0.2)


@pytest.mark.req("HAR-7")
def test_each_fault_is_marked_on_the_lane_it_hit() -> None:
    history = History()
    op = history.invoke("producer-1", "send", {"partition": 0, "value": "a"}, 0.0)
    history.fault("crash", "broker-2", 1.0)
    history.fault("block", "broker-1->broker-3", 2.0)
    history.fault("power_loss", "broker-10,broker-1", 3.0, mode="clean")
    history.fault("split", "cluster", 4.0, left=["broker-1"])
    history.fault("heal", "network", 8.0)
    history.complete(op, "ok", {"offset": 0}, 9.0)
    root = parse(render_html([run_of(history)]))
    assert lane_labels(root) == ["producer-1", "broker-1", "broker-2", "broker-3", "broker-10", "cluster"]
    markers = elements(root, "g", "fault")
    placed = sorted((g.attributes["data-lane"], g.attributes["data-kind"]) for g in markers)
    assert placed == [
        ("broker-1", "block"),
        ("broker-1", "power_loss"),
        ("broker-10", "power_loss"),
        ("broker-2", "crash"),
        ("cluster", "heal"),
        ("cluster", "split"),
    ]
    bands = lane_bands(root)
    for g in markers:
        (line,) = [c for c in g.children if c.tag == "line"]
        top, bottom = bands[g.attributes["data-lane"]]
        assert top <= float(line.attributes["y1"]) < float(line.attributes["y2"]) <= bottom
    (block,) = [g for g in markers if g.attributes["data-kind"] == "block"]
    assert "broker-1->broker-3" in "".join(c.all_text() for c in block.children if c.tag == "text")
    tooltip = block.title()
    assert "block" in tooltip and "broker-1->broker-3" in tooltip and "2" in tooltip
    (split,) = [g for g in markers if g.attributes["data-kind"] == "split"]
    assert 'left=["broker-1"]' in split.title() and "time 4 s" in split.title()
    # Marker x follows time: the crash at t=1 is left of the heal at t=8.
    x = {
        g.attributes["data-kind"]: float(next(c for c in g.children if c.tag == "line").attributes["x1"])
        for g in markers
    }
    assert x["crash"] < x["block"] < x["power_loss"] < x["split"] < x["heal"]


@pytest.mark.req("HAR-7")
def test_empty_and_degenerate_histories_render() -> None:
    same_time = History()
    for process in ("p", "q"):
        op = same_time.invoke(process, "send", {"value": "v"}, 3.0)
        same_time.complete(op, "ok", {"offset": 0}, 3.0)
    same_time.invoke("p", "send", {"value": "w"}, 3.0)
    same_time.fault("crash", "broker-1", 3.0)
    # A completion without its invocation, non-finite times, a lone surrogate, a value JSON cannot show.
    odd = History.from_jsonl(
        '{"event":"op","op_id":7,"process":"p","type":"ok","f":"send","value":{},"time":1.0}\n'
        '{"event":"op","op_id":8,"process":"p","type":"invoke","f":"send","value":{"v":"\\ud800"},"time":NaN}\n'
        '{"event":"fault","kind":"crash","target":"","time":Infinity,"detail":{}}\n'
    )
    odd.invoke("p", "send", {"value": {1, 2}}, 2.0)
    runs = [run_of(History(), name="empty"), run_of(same_time, name="same"), run_of(odd, name="odd")]
    page = render_html(runs)
    root = parse(page)
    page.encode("utf-8")
    svgs = elements(root, "svg")
    assert len(svgs) == 3
    empty_svg, same_svg, odd_svg = svgs
    assert not elements(empty_svg, "rect", "op") and not elements(empty_svg, "g", "fault")
    assert len(elements(same_svg, "rect", "op")) == 3 and len(elements(same_svg, "g", "fault")) == 1
    assert len(elements(odd_svg, "rect", "op")) == 3 and len(elements(odd_svg, "g", "fault")) == 1
    for node in root.iter():
        for name in ("x", "y", "width", "height", "x1", "x2", "y1", "y2"):
            if name in node.attributes:
                assert math.isfinite(float(node.attributes[name])), (node.tag, node.attributes)
    assert not re.search(r"\b(nan|inf)\b", " ".join(n.attributes.get("d", "") for n in root.iter()))


@pytest.mark.req("HAR-7")
def test_the_same_input_renders_byte_identical_html() -> None:
    first = render_html([run_of(mixed_history()), run_of(mixed_history(), name="s2", ok=False, replay="r")])
    second = render_html([run_of(mixed_history()), run_of(mixed_history(), name="s2", ok=False, replay="r")])
    assert first == second
    other = mixed_history()
    other.fault("crash", "broker-2", 7.0)
    assert render_html([run_of(other)]) != render_html([run_of(mixed_history())])


@pytest.mark.req("HAR-7")
def test_the_overview_links_each_run_and_failed_runs_show_their_replay() -> None:
    runs = [
        run_of(mixed_history(), name="good", ok=True, replay="never shown"),
        run_of(History(), name="bad", ok=False, replay="reflog scenarios --seed 1 --only bad"),
        run_of(History(), name="bad", ok=True),  # a repeated name still gets its own anchor
    ]
    root = parse(render_html(runs, title="my runs"))
    assert elements(root, "h1")[0].all_text() == "my runs"
    (overview,) = elements(root, "table", "overview")
    headers = [th.all_text() for th in elements(overview, "th")]
    assert headers == [
        "scenario",
        "settings",
        "expected",
        "verdict",
        "acknowledged",
        "lost (allowed / violation)",
        "seed",
    ]
    rows = elements(overview, "tr")[1:]
    assert len(rows) == 3
    assert [td.all_text() for td in elements(rows[1], "td")] == [
        "bad",
        "acks=all, min.insync.replicas=2",
        "no loss",
        "UNEXPECTED",
        "3",
        "0 / 0",
        "1",
    ]
    assert "as expected" in rows[0].all_text()
    targets = [a.attributes["href"][1:] for a in elements(overview, "a")]
    sections = elements(root, "section", "run")
    assert targets == [s.attributes["id"] for s in sections] and len(set(targets)) == 3
    replays = [[p.all_text() for p in elements(s, "pre", "replay")] for s in sections]
    assert replays == [[], ["reflog scenarios --seed 1 --only bad"], []]
    assert "the leader loses power" in sections[0].all_text()


@pytest.mark.req("HAR-7")
def test_thousands_of_operations_stay_linear_and_stacked_within_bounds() -> None:
    def history_of(n: int) -> History:
        history = History()
        ops = [history.invoke("producer-1", "send", {"value": f"v{i}"}, i * 0.001) for i in range(n)]
        for i, op in enumerate(ops):
            history.complete(op, "ok", {"offset": i}, 5.0 + i * 0.001)
        return history

    small, large = (render_html([run_of(history_of(n))]) for n in (1000, 2000))
    assert 1.8 < len(large) / len(small) < 2.2
    root = parse(large)
    bars = elements(root, "rect", "op")
    assert len(bars) == 2000
    assert 1 < len({bar.attributes["y"] for bar in bars}) <= MAX_SUBROWS


@pytest.mark.req("HAR-7")
def test_write_report_writes_the_page_as_utf8(tmp_path: Path) -> None:
    runs = [run_of(mixed_history(), name="δ-scenario")]
    path = tmp_path / "report.html"
    write_report(path, runs, title="résumé")
    data = path.read_bytes()
    assert data.decode("utf-8") == render_html(runs, title="résumé")
    assert "δ-scenario".encode() in data
    write_report(str(tmp_path / "again.html"), runs, title="résumé")
    assert (tmp_path / "again.html").read_bytes() == data
    with pytest.raises(OSError):
        write_report(tmp_path, runs)  # a directory
    with pytest.raises(OSError):
        write_report(tmp_path / "missing" / "report.html", runs)
