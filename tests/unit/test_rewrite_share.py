"""The second xdist worker's rewriting of the test modules' asserts ahead of collection (tests/rewrite_share.py), with
pytest itself as the oracle: in a project of its own, pytest must take the rewritten modules from the cache as if it
had rewritten them (the same introspected assert failures, its cache left as it was)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAILING = "def test_one():\n    found = {'reads': 1}\n    assert found == {'reads': %d}\n"
# The project's conftest rewrites its three test modules backwards, as the second worker does, and says which.
CONFTEST = f"""
import json, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from tests import rewrite_share

def pytest_configure(config):
    modules = rewrite_share.test_modules(config)
    rewritten = rewrite_share.rewrite_backwards(config, modules)
    Path("rewritten.json").write_text(json.dumps([[m.name for m in modules], [m.name for m in rewritten]]))
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          cwd=project, capture_output=True, text=True, check=False, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": ""})


def test_modules_are_rewritten_backwards_to_the_first_cached_and_pytest_takes_them_from_the_cache(
        tmp_path: Path) -> None:
    # Given a project of three test modules, the second of which the first worker has already collected (pytest
    # cached its rewrite)
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    for number, name in enumerate(("test_a.py", "test_b.py", "test_c.py"), start=2):
        (tests / name).write_text(FAILING % number)
    assert _pytest(tmp_path, "tests/test_b.py").returncode == 1
    cache = tests / "__pycache__"
    cached_first = {p.name for p in cache.iterdir()}
    assert len(cached_first) == 1 and next(iter(cached_first)).startswith("test_b.")

    # When the second worker's configure runs (nothing collected: --co of a module that does not exist)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    _pytest(tmp_path, "--co", "tests/absent.py")
    modules, rewritten = json.loads((tmp_path / "rewritten.json").read_text())

    # Then it rewrote the modules from the last backwards and stopped at the one already cached (the first worker
    # rewrites those before it)
    assert modules == ["test_a.py", "test_b.py", "test_c.py"]
    assert rewritten == ["test_c.py"]
    pycs = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(pycs) == 2

    # And pytest runs the one rewritten ahead from its cache, unchanged, with the introspected failure of a
    # rewritten assert
    (tmp_path / "conftest.py").unlink()
    result = _pytest(tmp_path, "tests/test_c.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "{'reads': 1} == {'reads': 4}" in result.stdout
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == pycs
