"""One CDK synthesis per stack context for a whole test run, shared by every pytest-xdist worker.

Synthesis runs jsii/Node and takes seconds; each worker process used to synthesize the same contexts
again (and every run from scratch). The cache keeps each synthesized template (and the small JSON
files of its cloud assembly, e.g. cdk-nag's validation report) in `.pytest_cache/`, keyed by the
context AND a hash of everything synthesis reads (stacks/, lambdas/, cdk.json, the CDK packages'
versions), so an edit to any of them synthesizes afresh. A file lock makes the workers wait for the
one that synthesizes instead of doing the same work twice.

A subprocess started with `python_m` (a served sandbox) asks the process that started it to synthesize what the
cache lacks, and waits: that process's Node is usually started already (a cold one costs ~4 CPU-s more than a
warm synthesis), and it answers while it waits for the subprocess to start (`answer_requests`).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.abc
import importlib.machinery
import os
import runpy
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("stacks", "lambdas")
FILES = ("cdk.json", "app.py")
PACKAGES = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii")
TEMPLATE = "template.json"
MODULE = "stacks.synth"
REQUESTS = "requests"  # the cache directory's folder of the contexts that subprocesses ask their parents for
ASK_POLL_SECONDS = 0.05
_installed: list[Path] = []  # the cache directory this process uses, once install() ran


def source_fingerprint(root: Path = ROOT) -> str:
    """A hash of every input of synthesis: the stack and Lambda sources, cdk.json, the CDK versions."""
    digest = hashlib.sha256()
    paths = [root / name for name in FILES]
    for folder in SOURCES:
        paths += sorted(p for p in (root / folder).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    for package in PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    digest.update(repr(sorted((k, v) for k, v in os.environ.items() if k.startswith("CDK_"))).encode())
    return digest.hexdigest()


def entry_key(fingerprint: str, frozen_context: str) -> str:
    """The name of a synthesis's entry in the cache directory: its sources and its context."""
    return hashlib.sha256(f"{fingerprint}\0{frozen_context}".encode()).hexdigest()[:32]


def request_path(cache_dir: Path, parent_pid: int, key: str) -> Path:
    """Where a subprocess asks the process `parent_pid` for the cache entry `key`."""
    return cache_dir / REQUESTS / f"{parent_pid}-{key}.json"


def _ask_parent(cache_dir: Path, parent_pid: int, key: str, frozen_context: str) -> None:
    """Ask the parent for an entry and wait until it is there, the parent has answered (even by failing: then
    this process synthesizes, and meets the same error) or the parent is gone."""
    request = request_path(cache_dir, parent_pid, key)
    request.parent.mkdir(parents=True, exist_ok=True)
    staging = request.with_suffix(f".{os.getpid()}")
    staging.write_text(frozen_context)
    os.replace(staging, request)  # the parent reads a whole request or none
    try:
        while request.exists() and not (cache_dir / key / TEMPLATE).exists() and os.getppid() == parent_pid:
            time.sleep(ASK_POLL_SECONDS)
    finally:
        request.unlink(missing_ok=True)


def cached_synth(synth: Callable[[str], tuple[str, str]], cache_dir: Path,
                 fingerprint: str, parent_pid: int | None = None) -> Callable[[str], tuple[str, str]]:
    """Wrap `stacks.synth._synth(frozen_context) -> (template_json, assembly_dir)` with the file cache; with
    `parent_pid`, a missing entry is asked of that process first (`answer_requests`)."""

    @functools.lru_cache(maxsize=32)
    def _synth(frozen_context: str) -> tuple[str, str]:
        key = entry_key(fingerprint, frozen_context)
        entry = cache_dir / key
        cache_dir.mkdir(parents=True, exist_ok=True)
        if parent_pid is not None and not (entry / TEMPLATE).exists():
            _ask_parent(cache_dir, parent_pid, key, frozen_context)
        with open(cache_dir / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait here for the one synthesizing
            if not (entry / TEMPLATE).exists():
                template_json, assembly = synth(frozen_context)
                staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_dir))
                for path in Path(assembly).glob("*.json"):  # the assembly's small files, not its assets
                    shutil.copyfile(path, staging / path.name)
                (staging / TEMPLATE).write_text(template_json)
                shutil.rmtree(entry, ignore_errors=True)
                os.replace(staging, entry)
        return (entry / TEMPLATE).read_text(), str(entry)

    return _synth


def _wrap(module: ModuleType, cache_dir: Path, parent_pid: int | None) -> None:
    if not getattr(module._synth, "shared_cache", False):
        wrapped = cached_synth(module._synth, cache_dir, source_fingerprint(), parent_pid)
        wrapped.shared_cache = True  # type: ignore[attr-defined]
        module._synth = wrapped  # type: ignore[attr-defined]


class _WrapOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Wraps `stacks.synth`'s `_synth` when something first imports the module, before anything calls it:
    the hook itself imports nothing (a run of unit tests alone imports no synthesis at all)."""

    def __init__(self, cache_dir: Path, parent_pid: int | None) -> None:
        self.cache_dir = cache_dir
        self.parent_pid = parent_pid
        self._loader: importlib.abc.Loader | None = None

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        assert self._loader is not None
        self._loader.exec_module(module)
        _wrap(module, self.cache_dir, self.parent_pid)


def install(cache_dir: Path, *, parent_pid: int | None = None) -> None:
    """Route `stacks.synth`'s synthesis through the shared cache in this process, now or on import; with
    `parent_pid`, through that process first."""
    _installed[:] = [cache_dir]
    if MODULE in sys.modules:
        _wrap(sys.modules[MODULE], cache_dir, parent_pid)
    elif not any(isinstance(f, _WrapOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _WrapOnImport(cache_dir, parent_pid))


def python_m(module: str, *args: str) -> list[str]:
    """The command line of `python -m <module> <args>` for a subprocess (a served sandbox) that synthesizes
    through this run's cache too, and through this process: whoever starts it calls `answer_requests()` while
    waiting for it to start."""
    if not _installed:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", __name__, str(_installed[0]), module, *args]


def answer_requests() -> None:
    """Synthesize (into the cache) the contexts that this process's `python_m` subprocesses asked for; a failed
    synthesis raises here (its subprocess then synthesizes itself)."""
    if not _installed:
        return
    from stacks import synth  # wrapped by install(): what this process synthesizes goes into the cache

    for request in sorted((_installed[0] / REQUESTS).glob(f"{os.getpid()}-*.json")):
        try:
            frozen_context = request.read_text()
        except FileNotFoundError:  # the subprocess found its entry made by another process, and withdrew
            continue
        try:
            synth._synth(frozen_context)
        finally:
            request.unlink(missing_ok=True)


if __name__ == "__main__":  # python -m tests.synth_cache CACHE_DIR MODULE ARGS...: MODULE as `python -m` runs it
    install(Path(sys.argv[1]), parent_pid=os.getppid())
    sys.argv = [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
