"""``reflog bench``: every benchmark section in one run, as a table, JSON and PNG plots (PERF-6)."""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reflog.bench.results import Section
from reflog.bench.settings import BenchSettings, Progress

#: (name, module, function) of every section, in the order they run and print.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("fetch", "reflog.bench.fetch", "fetch_section"),
    ("produce", "reflog.bench.produce", "produce_section"),
    ("append", "reflog.bench.storage", "append_section"),
    ("write-back", "reflog.bench.storage", "writeback_section"),
    ("page cache", "reflog.bench.storage", "page_cache_section"),
    ("durability", "reflog.bench.durability", "durability_section"),
)

SectionFn = Callable[[BenchSettings, Progress], Section]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a few seconds per section (smoke run)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    parser.add_argument("--plots", metavar="DIR", help="write one PNG plot per section into DIR")
    parser.add_argument(
        "--only",
        action="extend",
        nargs="+",
        default=[],
        metavar="SECTION",
        help=f"run only these sections ({', '.join(repr(n) for n, _, _ in SECTIONS)})",
    )
    parser.add_argument("--dir", help="scratch directory (default: a new one under the temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated sections")


def load(module: str, function: str) -> SectionFn:
    fn: SectionFn = getattr(importlib.import_module(module), function)
    return fn


class Steps:
    """Where the run is: sections done, and the current section's latest news."""

    def __init__(self) -> None:
        self.done = 0
        self.show: Callable[[str], None] = lambda text: None

    def __call__(self, text: str) -> None:
        self.show(text)


@contextmanager
def progress_bar(total: int) -> Iterator[Steps]:
    """A rich progress bar on a terminal; plain lines on stderr otherwise."""
    steps = Steps()
    if sys.stderr.isatty():
        try:
            from rich.progress import Progress as RichProgress  # noqa: PLC0415 - optional

            with RichProgress(transient=True) as bar:
                task = bar.add_task("reflog bench", total=total)

                def show(text: str) -> None:
                    bar.update(task, description=text, completed=steps.done)

                steps.show = show
                yield steps
                return
        except ImportError:
            pass
    start = time.monotonic()

    def say(text: str) -> None:
        elapsed = time.monotonic() - start
        print(f"[{steps.done}/{total} sections, {elapsed:5.0f} s] {text}", file=sys.stderr, flush=True)

    steps.show = say
    yield steps


def run(args: argparse.Namespace) -> int:
    """Run the chosen sections and report them; returns 2 on a bad option."""
    from reflog.bench.report import format_section, to_json, write_plots  # noqa: PLC0415

    wanted = [name.strip() for arg in args.only for name in arg.split(",") if name.strip()]
    known = [name for name, _, _ in SECTIONS]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        print(f"reflog bench: unknown section(s) {unknown}; choose from {known}", file=sys.stderr)
        return 2
    chosen = [s for s in SECTIONS if not wanted or s[0] in wanted]
    scratch = args.dir or tempfile.mkdtemp(prefix="reflog-bench-")
    settings = BenchSettings(quick=args.quick, directory=scratch, seed=args.seed)
    sections: list[Section] = []
    print(
        f"reflog bench{' --quick' if args.quick else ''}: {len(chosen)} section(s), scratch {scratch}",
        flush=True,
    )
    try:
        with progress_bar(len(chosen)) as steps:
            for name, module, function in chosen:

                def progress(text: str, name: str = name) -> None:
                    steps(f"{name}: {text}")

                progress("starting")
                section = load(module, function)(settings, progress)
                sections.append(section)
                steps.done += 1
                print("\n" + format_section(section), flush=True)
    finally:
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)
    missed = [f"{s.name}/{f.key}" for s in sections for f in s.figures if f.target_met is False]
    met = sum(1 for s in sections for f in s.figures if f.target_met)
    print(f"\ntargets: {met} met, {len(missed)} missed" + (f" ({', '.join(missed)})" if missed else ""))
    if args.json:
        with open(args.json, "w") as out:
            out.write(
                to_json(
                    sections, {"quick": args.quick, "seed": args.seed, "sections": [s.name for s in sections]}
                )
            )
        print(f"JSON: {args.json}")
    if args.plots:
        for path in write_plots(sections, args.plots):
            print(f"plot: {path}")
    return 0


__all__ = ["SECTIONS", "add_arguments", "run"]
