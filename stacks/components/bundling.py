"""Lambda code asset for `lambdas/`, with third-party dependencies bundled locally (no Docker).

`LocalPipBundling.try_bundle` installs `lambdas/requirements.txt` as manylinux aarch64 / CPython 3.13
wheels with pip into the asset output, then copies the source tree. The wheels come from the local
wheelhouse that `make install` fills (`.venv/wheelhouse`, `pip download` for the Lambda platform), with
`--no-index`, so synthesis needs no network. Without a wheelhouse bundling stops and says to run
`make install`; only AUTOPILOT_BUNDLE_FROM_INDEX=1 lets pip read the package index instead. The asset bundles
boto3/botocore too (lambdas/requirements.txt): the runtime's copy lags the HealthOmics batch API.

The asset ships bytecode for the Lambda's Python (3.13), so a cold start does not compile every module
(the host's Python is another version, whose bytecode Lambda would ignore). The compiler is CPython 3.13
itself, as Pyodide (WebAssembly) from the npm registry, run by the Node.js the CDK already needs
(`make install` puts it in `.venv/node`; compile_pyc.mjs, which keeps a memory snapshot of the started
interpreter beside it for the next compile). Without it the asset ships sources only.
CDK only falls back to the Docker
image in `BundlingOptions` when local bundling returns False, which happens only if pip fails; in that
case we raise instead, so a deploy never silently needs Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from stacks.node_support import plain_node
from stacks.runtime_contract import LAMBDA_REQUIREMENTS, LAMBDAS_DIR, PROJECT_ROOT

PYTHON_VERSION = "3.13"
PIP_PLATFORM = "manylinux2014_aarch64"
WHEELHOUSE = PROJECT_ROOT / ".venv" / "wheelhouse"
PYODIDE = PROJECT_ROOT / ".venv" / "node" / "node_modules" / "pyodide"
COMPILE_SCRIPT = Path(__file__).with_name("compile_pyc.mjs")
# Set to 1 to let pip download the Lambda's wheels from the package index when there is no wheelhouse.
INDEX_OPT_IN_ENV = "AUTOPILOT_BUNDLE_FROM_INDEX"
_SKIP = ("__pycache__", "*.pyc", "tests", ".pytest_cache", ".mypy_cache", "requirements*.txt")


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """Bundle `lambdas/` for Python 3.13 on arm64 with the host's pip."""

    def __init__(
        self,
        source: Path = LAMBDAS_DIR,
        requirements: Path = LAMBDA_REQUIREMENTS,
        wheelhouse: Path = WHEELHOUSE,
        pyodide: Path = PYODIDE,
    ) -> None:
        self._source = source
        self._requirements = requirements
        self._wheelhouse = wheelhouse
        self._pyodide = pyodide

    def pip_command(self, output_dir: str) -> list[str]:
        if self._wheelhouse.is_dir():
            offline = ["--no-index", "--find-links", str(self._wheelhouse)]
        elif os.environ.get(INDEX_OPT_IN_ENV) == "1":
            offline = []
        else:
            # Offline, pip's fallback to the index fails with a raw network error; online it would
            # silently bundle whatever the index serves today.
            raise RuntimeError(f"local bundling: no wheelhouse at {self._wheelhouse}: run `make install` "
                               f"(it downloads the Lambda's wheels), or set {INDEX_OPT_IN_ENV}=1 to let pip "
                               "read the package index")
        return [
            sys.executable, "-m", "pip", "install",
            "--platform", PIP_PLATFORM,
            "--implementation", "cp",
            "--python-version", PYTHON_VERSION,
            "--only-binary=:all:",
            *offline,
            "--no-compile",
            "--disable-pip-version-check",
            "--quiet",
            "--target", output_dir,
            "-r", str(self._requirements),
        ]  # fmt: skip

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_: object) -> bool:
        if self._requirements.exists():
            result = subprocess.run(self.pip_command(output_dir), capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"local bundling: pip install failed:\n{result.stdout}\n{result.stderr}")
        shutil.copytree(self._source, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_SKIP))
        self.compile_bytecode(output_dir)
        return True

    def compile_bytecode(self, output_dir: str) -> bool:
        """Write CPython 3.13 .pyc files beside every module of the asset; False when no compiler."""
        if not (self._pyodide / "pyodide.mjs").is_file():
            print(f"local bundling: no CPython {PYTHON_VERSION} compiler in {self._pyodide} (make install): "
                  "the asset ships sources only", file=sys.stderr)
            return False
        result = subprocess.run([plain_node(), str(COMPILE_SCRIPT), str(self._pyodide), output_dir],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"local bundling: bytecode compilation failed:\n{result.stdout}\n{result.stderr}")
        return True


def lambda_code(bundle: bool) -> lambda_.Code:
    """The one code asset every function uses; `bundle=False` uses the plain folder (tests, sandbox)."""
    if not bundle:
        return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=["**/__pycache__", "**/tests", "*.pyc"])
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash_type=cdk.AssetHashType.SOURCE,
        exclude=["**/__pycache__", "**/tests", "*.pyc"],
        bundling=cdk.BundlingOptions(
            # Required by the API but never pulled: LocalPipBundling always succeeds or raises.
            image=lambda_.Runtime.PYTHON_3_13.bundling_image,
            local=LocalPipBundling(),
            command=["false"],
        ),
    )
