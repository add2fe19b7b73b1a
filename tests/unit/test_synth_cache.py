"""The test run's shared synthesis cache (tests/synth_cache.py): one synthesis per context and sources."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.synth_cache import cached_synth, source_fingerprint


def _fake_synth(tmp_path: Path, calls: list[str]):  # type: ignore[no-untyped-def]
    def synth(frozen_context: str) -> tuple[str, str]:
        calls.append(frozen_context)
        assembly = tmp_path / f"assembly-{len(calls)}"
        assembly.mkdir()
        (assembly / "validation-report.json").write_text(json.dumps({"context": frozen_context}))
        (assembly / "asset.abc").mkdir()  # assets stay out of the cache
        return json.dumps({"Resources": {"For": frozen_context}}), str(assembly)

    return synth


def test_each_context_is_synthesized_once_across_processes(tmp_path: Path) -> None:
    """Given two processes' wrappers over one cache directory (an xdist run's workers),
    when both ask for the same context, then synthesis runs once and both see the same template and report."""
    calls: list[str] = []
    cache = tmp_path / "cache"
    first = cached_synth(_fake_synth(tmp_path, calls), cache, "sources-1")
    second = cached_synth(_fake_synth(tmp_path, calls), cache, "sources-1")

    template_a, assembly_a = first('{"a": 1}')
    template_b, assembly_b = second('{"a": 1}')
    other, _ = second('{"a": 2}')

    assert calls == ['{"a": 1}', '{"a": 2}']
    assert template_a == template_b == json.dumps({"Resources": {"For": '{"a": 1}'}})
    assert json.loads((Path(assembly_b) / "validation-report.json").read_text()) == {"context": '{"a": 1}'}
    assert assembly_a == assembly_b and not (Path(assembly_a) / "asset.abc").exists()
    assert json.loads(other)["Resources"]["For"] == '{"a": 2}'


def test_changed_sources_synthesize_again(tmp_path: Path) -> None:
    """Given a cached template, when the sources' fingerprint changes, then synthesis runs again."""
    calls: list[str] = []
    cache = tmp_path / "cache"
    cached_synth(_fake_synth(tmp_path, calls), cache, "sources-1")("{}")
    cached_synth(_fake_synth(tmp_path, calls), cache, "sources-2")("{}")

    assert calls == ["{}", "{}"]


def test_fingerprint_follows_stack_and_lambda_sources(tmp_path: Path) -> None:
    """Given a checkout, when a Lambda source changes (a cached __pycache__ file does not count),
    then the fingerprint changes."""
    for folder in ("stacks", "lambdas/shared/__pycache__"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "cdk.json").write_text("{}")
    (tmp_path / "stacks" / "stack.py").write_text("x = 1\n")
    (tmp_path / "lambdas" / "shared" / "settings.py").write_text("y = 1\n")
    before = source_fingerprint(tmp_path)

    (tmp_path / "lambdas" / "shared" / "__pycache__" / "settings.cpython-311.pyc").write_bytes(b"\0")
    unchanged = source_fingerprint(tmp_path)
    (tmp_path / "lambdas" / "shared" / "settings.py").write_text("y = 2\n")

    assert unchanged == before != source_fingerprint(tmp_path)


def test_a_cached_synthesis_does_not_start_the_cdk(tmp_path: Path) -> None:
    """Given a context already in the cache, when a fresh process (a served sandbox, an xdist worker) asks
    for its template, then it gets it without importing the CDK, whose import starts Node (jsii, seconds)."""
    import subprocess
    import sys

    from stacks.synth import _frozen
    from tests import synth_cache

    cache = tmp_path / "cache"
    entry = cache / synth_cache.entry_key(synth_cache.source_fingerprint(), _frozen({"x": 1}, None))
    entry.mkdir(parents=True)
    (entry / synth_cache.TEMPLATE).write_text(json.dumps({"Resources": {"Cached": {}}}))
    script = ("import json, sys\n"
              "from pathlib import Path\n"
              "from tests import synth_cache\n"
              "synth_cache.install(Path(sys.argv[1]))\n"
              "from stacks.synth import synth_template\n"
              "print(json.dumps([synth_template({'x': 1}), 'aws_cdk' in sys.modules, 'jsii' in sys.modules]))\n")
    result = subprocess.run([sys.executable, "-c", script, str(cache)], cwd=synth_cache.ROOT,
                            capture_output=True, text=True, timeout=120, check=True)

    template, cdk_imported, jsii_imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert template == {"Resources": {"Cached": {}}}
    assert not cdk_imported and not jsii_imported


def test_a_subprocess_asks_its_parent_to_synthesize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a subprocess started as `synth_cache.python_m` starts one (a served sandbox), when it needs a context
    the cache lacks, then the process that started it synthesizes it (its Node is warm) while waiting for it,
    and the subprocess gets the template without starting the CDK itself."""
    import subprocess
    import sys

    import stacks.synth
    from stacks.synth import _frozen
    from tests import synth_cache

    calls: list[str] = []
    cache = tmp_path / "cache"
    monkeypatch.setattr(synth_cache, "_installed", [cache])
    monkeypatch.setattr(stacks.synth, "_synth", cached_synth(_fake_synth(tmp_path, calls), cache, source_fingerprint()))
    script = ("import json, os, sys\n"
              "from pathlib import Path\n"
              "from tests import synth_cache\n"
              "synth_cache.install(Path(sys.argv[1]), parent_pid=os.getppid())\n"  # as `python -m tests.synth_cache`
              "from stacks.synth import synth_template\n"
              "print(json.dumps([synth_template({'x': 1}), 'aws_cdk' in sys.modules]))\n")
    output = tmp_path / "child.out"  # a file, not a pipe: a child that synthesized itself prints a whole template
    with output.open("w") as stdout:
        child = subprocess.Popen([sys.executable, "-c", script, str(cache)], cwd=synth_cache.ROOT, stdout=stdout)
    try:
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            synth_cache.answer_requests()
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()

    template, cdk_imported = json.loads(output.read_text().strip().splitlines()[-1])
    assert calls == [_frozen({"x": 1}, None)]
    assert template == {"Resources": {"For": calls[0]}} and not cdk_imported
    assert not list((cache / synth_cache.REQUESTS).iterdir())  # answered requests are gone


def test_an_asking_process_stops_waiting_when_another_process_made_the_entry(tmp_path: Path) -> None:
    """Given a subprocess waiting for its parent's answer, when another worker writes the entry first, then the
    subprocess stops waiting and withdraws its request (the parent has nothing left to do)."""
    import os
    import threading

    from tests import synth_cache

    cache, key = tmp_path / "cache", "k" * 32
    parent_pid = os.getppid()  # a live process that never answers

    def another_worker_synthesizes() -> None:
        while not synth_cache.request_path(cache, parent_pid, key).exists():
            time.sleep(0.01)
        (cache / key).mkdir()
        (cache / key / synth_cache.TEMPLATE).write_text("{}")

    worker = threading.Thread(target=another_worker_synthesizes)
    worker.start()
    synth_cache._ask_parent(cache, parent_pid, key, '{"x": 1}')
    worker.join(timeout=10)

    assert not synth_cache.request_path(cache, parent_pid, key).exists()
