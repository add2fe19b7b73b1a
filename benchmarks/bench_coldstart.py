"""Cold start as deployed (issue 13): each handler's import time divided by `import boto3`.

The handlers are imported from a copy of the asset's layout, not from the checkout: the source tree
(copied with the bundler's own skip patterns) plus the bundled distributions of lambdas/requirements.txt
(the host's installed copies of the same pinned versions: the asset's own wheels are for CPython 3.13 on
arm64, which this host cannot import). Two variants of that layout:
- "bytecode": compiled as the bundler compiles the asset (compileall, unchecked hash-based .pyc; see
  stacks/components/compile_pyc.mjs), here for the host's Python, since the asset's 3.13 .pyc would be
  ignored by it;
- "sources": no .pyc at all, as the asset shipped before it carried bytecode.
Lambda's /var/task is read-only, so nothing is written at run time: the copies are made read-only and
every interpreter runs with -B; -S -E keep the host's site-packages and environment out of sys.path.

The reference is `import boto3` from the bytecode layout (what a function that only imports boto3 pays).
Handler and reference alternate in fresh interpreters and the median (and min) of the pair ratios is
reported, so it holds while the shared machine's speed drifts. Two clocks: wall time (the goal's), and the
CPU time (user + system) the import costs its process, which a loaded machine disturbs far less (waiting
for a core is not in it). BENCH_COLDSTART_PAIRS sets the pairs (default 9);
BENCH_COLDSTART_PROFILE=1 also prints each handler's heaviest imports (-X importtime, bytecode layout);
BENCH_COLDSTART_BASELINE=<git revision> also measures that revision's lambdas/ (bytecode) in the same pairs;
BENCH_COLDSTART_SOURCES=0 leaves out the sources-only layout; BENCH_COLDSTART_HANDLERS=recorder,launcher
measures only those handlers.
BENCH_COLDSTART_INSTRUCTIONS=1 counts instructions instead of timing (valgrind's cachegrind, no cache
simulation: one run each, which machine load does not disturb): each import's count minus an empty
interpreter's, divided by `import boto3`'s, for every variant.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
GOAL = 2.0


def handler_modules() -> list[str]:
    return sorted(f"{p.parent.name}.handler" for p in LAMBDAS.glob("*/handler.py"))


def _distributions() -> list[metadata.Distribution]:
    """lambdas/requirements.txt and everything it requires (markers evaluated for this host, no extras)."""
    lines = (LAMBDAS / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        found[name] = metadata.distribution(requirement.name)
        pending.extend(Requirement(r) for r in found[name].requires or [])
    return list(found.values())


def build_layout(destination: Path, *, bytecode: bool, sources: Path = LAMBDAS) -> Path:
    """The asset's layout in `destination`: bundled distributions, then the sources, then (optionally) .pyc."""
    from stacks.components.bundling import _SKIP  # the bundler's skip patterns (imports the CDK: ~4 s)

    for distribution in _distributions():
        for file in distribution.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue  # console scripts outside site-packages; the host's own bytecode
            target = destination / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(distribution.locate_file(file), target)
    shutil.copytree(sources, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_SKIP))
    if bytecode:  # as compile_pyc.mjs does with CPython 3.13
        compileall.compile_dir(str(destination), quiet=1, workers=1,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    for path in destination.rglob("*"):  # read-only, as /var/task is
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return destination


def _interpreter(*options: str) -> list[str]:
    return [sys.executable, "-S", "-E", "-B", *options, "-c"]


def import_seconds(layout: Path, statement: str) -> tuple[float, float]:
    """(wall, CPU) seconds `statement` takes in a fresh interpreter whose only import path besides the stdlib
    is `layout`; CPU = user + system time of that process during the statement."""
    code = (f"import resource, sys, time; sys.path.insert(0, {str(layout)!r}); "
            "cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2]); c = cpu(); t = time.perf_counter(); "
            f"{statement}; print(time.perf_counter() - t, cpu() - c)")
    result = subprocess.run([*_interpreter(), code], cwd=layout, capture_output=True, text=True, check=True)
    wall, cpu = result.stdout.split()
    return float(wall), float(cpu)


def import_instructions(layout: Path, statement: str) -> int:
    """Instructions a fresh interpreter (as in import_seconds) executes to run `statement` and exit."""
    code = f"import sys; sys.path.insert(0, {str(layout)!r}); {statement}"
    result = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                             *_interpreter(), code], cwd=layout, capture_output=True, text=True, check=True)
    line = next(line for line in result.stderr.splitlines() if "I" in line and "refs:" in line)
    return int(line.split("refs:")[1].replace(",", ""))


def instruction_ratios(variants: dict[str, Path], reference: Path, modules: list[str]) -> None:
    """Print each module's import instructions / `import boto3`'s, both net of an empty interpreter."""
    empty = import_instructions(reference, "pass")
    boto3 = import_instructions(reference, "import boto3") - empty
    print(f"import boto3: {boto3 / 1e6:.0f} M instructions (empty interpreter {empty / 1e6:.0f} M, subtracted)")
    for module in modules:
        counts = {name: import_instructions(layout, f"import {module}") - empty for name, layout in variants.items()}
        print(f"import {module} / import boto3 (instructions): " + "; ".join(
            f"{name}: {count / boto3:.2f}x ({count / 1e6:.0f} M)" for name, count in counts.items()))


class Figure(NamedTuple):
    """One variant of one module over the pairs: median ms, and the min / median of the pair ratios."""

    wall_ms: float
    wall_min: float
    wall_median: float
    cpu_ms: float
    cpu_min: float
    cpu_median: float


def ratios(variants: dict[str, Path], reference: Path, modules: list[str], pairs: int) -> dict[str, dict[str, Figure]]:
    """{module: {variant: Figure, "boto3": Figure of the reference (ratios 1)}}.

    Each pair imports the module from every variant's layout, then `import boto3` from `reference`; a
    variant's ratio in a pair divides by that pair's boto3 time, so all variants share the same drift."""
    figures = {}
    for module in modules:
        samples = []
        for _ in range(pairs):
            times = {name: import_seconds(layout, f"import {module}") for name, layout in variants.items()}
            samples.append((times, import_seconds(reference, "import boto3")))
        figures[module] = {}
        for name in [*variants, "boto3"]:
            pick = (lambda t, b, name=name: t[name]) if name != "boto3" else (lambda t, b: b)
            wall = [pick(t, b)[0] / b[0] for t, b in samples]
            cpu = [pick(t, b)[1] / b[1] for t, b in samples]
            figures[module][name] = Figure(statistics.median(pick(t, b)[0] for t, b in samples) * 1000, min(wall),
                                           statistics.median(wall),
                                           statistics.median(pick(t, b)[1] for t, b in samples) * 1000, min(cpu),
                                           statistics.median(cpu))
    return figures


def _baseline_sources(revision: str, destination: Path) -> Path:
    """lambdas/ as of a git revision (BENCH_COLDSTART_BASELINE), to measure before and after in one run."""
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision, "lambdas"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination / "lambdas"


def heaviest_imports(layout: Path, module: str, top: int = 8) -> list[tuple[int, str]]:
    """The top-level imports `module` pays most for (cumulative microseconds, -X importtime)."""
    result = subprocess.run([*_interpreter("-X", "importtime"),
                             f"import sys; sys.path.insert(0, {str(layout)!r}); import {module}"],
                            cwd=layout, capture_output=True, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[1:top + 1]  # [0] is the module itself


def main() -> None:
    pairs = int(os.environ.get("BENCH_COLDSTART_PAIRS", "9"))
    baseline = os.environ.get("BENCH_COLDSTART_BASELINE")
    chosen = [name for name in os.environ.get("BENCH_COLDSTART_HANDLERS", "").split(",") if name]
    modules = [m for m in handler_modules() if not chosen or m.split(".")[0] in chosen]
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        work = Path(scratch)
        try:
            variants = {"bytecode": build_layout(work / "bytecode", bytecode=True)}
            if os.environ.get("BENCH_COLDSTART_SOURCES", "1") != "0":
                variants["sources only"] = build_layout(work / "sources", bytecode=False)
            if baseline:
                old = _baseline_sources(baseline, work / "baseline-src")
                variants[f"{baseline} bytecode"] = build_layout(work / "baseline", bytecode=True, sources=old)
            if os.environ.get("BENCH_COLDSTART_INSTRUCTIONS") == "1":
                instruction_ratios(variants, variants["bytecode"], modules)
                return
            load_before = os.getloadavg()
            figures = ratios(variants, variants["bytecode"], modules, pairs)
            print(f"load average before: {' '.join(f'{x:.1f}' for x in load_before)}; {pairs} pairs; "
                  "ratios as min/median of the pairs; wall is the goal's clock, CPU the load-robust one")
            for module in modules:
                boto3, ours = figures[module]["boto3"], figures[module]["bytecode"]
                print(f"import {module} / import boto3 ({boto3.wall_ms:.0f} ms wall, {boto3.cpu_ms:.0f} ms CPU): "
                      f"{ours.wall_min:.2f}/{ours.wall_median:.2f}x wall, {ours.cpu_min:.2f}/{ours.cpu_median:.2f}x "
                      f"CPU with bytecode ({'ok' if ours.wall_median <= GOAL else 'OVER'}; goal <= {GOAL:g}x); "
                      + "; ".join(f"{name}: {f.wall_ms:.0f} ms, {f.wall_min:.2f}/{f.wall_median:.2f}x wall, "
                                  f"{f.cpu_min:.2f}/{f.cpu_median:.2f}x CPU"
                                  for name, f in figures[module].items() if name not in ("boto3", "bytecode")))
            print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            if os.environ.get("BENCH_COLDSTART_PROFILE") == "1":
                for module in modules:
                    print(f"{module} heaviest imports: " + ", ".join(
                        f"{name} {us / 1000:.0f} ms" for us, name in heaviest_imports(variants["bytecode"], module)))
        finally:
            for path in work.rglob("*"):  # writable again so the scratch directory can be removed
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
