"""Lambda code asset for `lambdas/`, with third-party dependencies bundled locally (no Docker).

`LocalPipBundling.try_bundle` installs `lambdas/requirements.txt` as manylinux aarch64 / CPython 3.13
wheels with pip into the asset output, then copies the source tree. The wheels come from the local
wheelhouse that `make install` fills (`.venv/wheelhouse`, `pip download` for the Lambda platform), with
`--no-index`, so synthesis needs no network; without a wheelhouse pip reads the index. The asset bundles
boto3/botocore too (lambdas/requirements.txt): the runtime's copy lags the HealthOmics batch API.
CDK only falls back to the Docker
image in `BundlingOptions` when local bundling returns False, which happens only if pip fails; in that
case we raise instead, so a deploy never silently needs Docker.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from stacks.runtime_contract import LAMBDA_REQUIREMENTS, LAMBDAS_DIR, PROJECT_ROOT

PYTHON_VERSION = "3.13"
PIP_PLATFORM = "manylinux2014_aarch64"
WHEELHOUSE = PROJECT_ROOT / ".venv" / "wheelhouse"
_SKIP = ("__pycache__", "*.pyc", "tests", ".pytest_cache", ".mypy_cache", "requirements*.txt")


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """Bundle `lambdas/` for Python 3.13 on arm64 with the host's pip."""

    def __init__(
        self, source: Path = LAMBDAS_DIR, requirements: Path = LAMBDA_REQUIREMENTS, wheelhouse: Path = WHEELHOUSE
    ) -> None:
        self._source = source
        self._requirements = requirements
        self._wheelhouse = wheelhouse

    def pip_command(self, output_dir: str) -> list[str]:
        offline = ["--no-index", "--find-links", str(self._wheelhouse)] if self._wheelhouse.is_dir() else []
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
