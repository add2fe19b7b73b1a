"""The two xdist workers of `make test` share the rewriting of the test modules' asserts.

Each worker collects every test module, and pytest rewrites a module's asserts when it first imports it, caching the
result in `__pycache__` (a `*-pytest-<version>.pyc`). On a fresh clone both workers rewrite every module, ~3 CPU-s
each for the same files. The second worker first rewrites them from the last backwards, while the first collects
(and rewrites) from the first onwards, and stops at a module whose rewritten code is already cached: the two meet
near the middle, each module is rewritten about once, and each worker then collects from the cache.

The rewriting is pytest's own (`_pytest.assertion.rewrite`, the steps of its import hook's `exec_module`); if a pytest
version moves them, nothing is rewritten ahead and each worker rewrites as it collects, as before.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SECOND_WORKER = "gw1"


def rewrite_backwards(config: pytest.Config, modules: list[Path]) -> list[Path]:
    """Rewrite `modules` from the last backwards into pytest's cache, up to one already cached. Returns those
    rewritten here (none where bytecode is not written or asserts are not rewritten)."""
    if sys.dont_write_bytecode or config.getoption("assertmode") != "rewrite":
        return []
    try:
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        rewritten = []
        for module in reversed(modules):
            cache_dir = rewrite.get_cache_dir(module)
            pyc = cache_dir / (module.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(module, pyc, state.trace) is not None:
                break  # the first worker got here
            source_hash, code = rewrite._rewrite_test(module, config)
            if not (rewrite.try_makedirs(cache_dir) and rewrite._write_pyc(state, code, source_hash, pyc)):
                break
            rewritten.append(module)
        return rewritten
    except (AttributeError, ImportError, KeyError, TypeError):
        return []


def test_modules(config: pytest.Config) -> list[Path]:
    """The test modules under the run's test paths, in the order pytest collects them (each folder's entries by
    name), as far as its order matters here: the first worker starts at the first."""
    found: list[Path] = []
    for test_path in config.getini("testpaths"):
        found += sorted((p for p in (config.rootpath / test_path).rglob("test_*.py") if "__pycache__" not in p.parts),
                        key=lambda p: p.parts)
    return found


def share_with_the_first_worker(config: pytest.Config, worker: str | None) -> None:
    if worker == SECOND_WORKER:
        rewrite_backwards(config, test_modules(config))
