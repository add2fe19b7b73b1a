"""Lambda packaging without Docker: pip for the Lambda platform, source copied without tests/caches."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.components.bundling import INDEX_OPT_IN_ENV, LocalPipBundling
from stacks.runtime_contract import LAMBDA_REQUIREMENTS


def test_pip_targets_python313_on_arm64_with_binary_wheels_only() -> None:
    command = LocalPipBundling().pip_command("/out")
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--implementation cp" in joined
    assert "--python-version 3.13" in joined
    assert "--only-binary=:all:" in command
    assert "--target /out" in joined
    assert f"-r {LAMBDA_REQUIREMENTS}" in joined
    assert "--no-compile" in command  # the host's pip would write bytecode for the host's Python


def test_with_a_wheelhouse_pip_never_reaches_an_index(tmp_path: Path) -> None:
    command = LocalPipBundling(wheelhouse=tmp_path).pip_command("/out")
    assert "--no-index" in command and command[command.index("--find-links") + 1] == str(tmp_path)


def test_without_a_wheelhouse_bundling_fails_clearly_instead_of_reaching_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given no wheelhouse (`make install` not run) and no opt-in,
    When the asset is bundled,
    Then it stops with what to do, before pip silently reads the package index (offline: a raw pip error)."""
    monkeypatch.delenv(INDEX_OPT_IN_ENV, raising=False)
    bundling = LocalPipBundling(wheelhouse=tmp_path / "absent")
    with pytest.raises(RuntimeError, match=r"run `make install`.*" + INDEX_OPT_IN_ENV):
        bundling.pip_command("/out")
    with pytest.raises(RuntimeError, match="make install"):
        bundling.try_bundle(str(tmp_path / "out"), image=cdk.DockerImage.from_registry("unused"))
    assert not (tmp_path / "out").exists()


def test_the_package_index_is_used_only_when_explicitly_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INDEX_OPT_IN_ENV, "1")
    command = LocalPipBundling(wheelhouse=tmp_path / "absent").pip_command("/out")
    assert "--no-index" not in command and "--find-links" not in command


def test_source_tree_is_copied_without_tests_or_bytecode(tmp_path: Path) -> None:
    source = tmp_path / "lambdas"
    (source / "recorder" / "__pycache__").mkdir(parents=True)
    (source / "recorder" / "handler.py").write_text("def lambda_handler(event, context): ...\n")
    (source / "recorder" / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\0")
    (source / "shared" / "tests").mkdir(parents=True)
    (source / "shared" / "tests" / "test_x.py").write_text("")
    (source / "shared" / "__init__.py").write_text("")
    output = tmp_path / "asset"
    output.mkdir()

    bundled = LocalPipBundling(source=source, requirements=tmp_path / "absent.txt",
                               pyodide=tmp_path / "no-compiler").try_bundle(
        str(output), image=cdk.DockerImage.from_registry("unused")
    )

    assert bundled is True
    copied = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())
    assert copied == ["recorder/handler.py", "shared/__init__.py"]
