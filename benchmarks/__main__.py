"""Run every benchmark module (benchmarks/bench_*.py) or the ones named: python -m benchmarks [name ...]."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))


ONE = "--one"  # run the one named benchmark in this interpreter


def main(argv: list[str]) -> int:
    if argv[:1] == [ONE]:
        importlib.import_module(f"benchmarks.{argv[1]}").main()
        return 0
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    failures = 0
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        # Each in a fresh interpreter: what one benchmark leaves in memory (moto's backends, a million-key
        # bucket) must not slow the next one's garbage collection or count in its memory figures.
        if subprocess.run([sys.executable, "-m", "benchmarks", ONE, name], check=False).returncode:
            failures += 1  # one broken benchmark must not hide the others' figures
            print(f"{name} FAILED", flush=True)
        print(f"--- {name}: {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
