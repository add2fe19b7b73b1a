"""Synthesize the app in-process (bundling off) and return the stack's CloudFormation template.

Tests and the sandbox use this; it builds the app exactly as app.py does (same builder, cdk-nag on),
so a cdk-nag finding raises here too. Results are cached per context: one synth per test session.

CDK's built-in CloudFormation validation (aws-cdk-lib's rule engine in WebAssembly, on in `cdk synth`) takes
4.2-4.6 s to start in each process and 1.3 s per synthesis (a Node CPU profile), a third of a synthesis: it
runs for the default app, as `cdk synth` builds it, and wherever a caller asks for it (the infrastructure
tests' fully configured app); the sandbox's and the tests' other contexts skip it (cfn-lint checks both
templates in every HealthOmics region, tests/infrastructure/test_real_account.py).
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aws_cdk as cdk


def _freeze(context: dict[str, Any]) -> str:
    return json.dumps(context, sort_keys=True, default=str)


# Not a context key of the app: whether this synthesis runs CDK's built-in CloudFormation validation.
BUILTIN_VALIDATION = "builtinCloudFormationValidation"


def _new_app(context: dict[str, Any], outdir: str) -> cdk.App:
    """The app of a synthesis: cdk.json's context under `context`, bundling off, CDK's built-in validation as
    `context[BUILTIN_VALIDATION]` says (the key is not passed on as context)."""
    # Imported here, not at the top: importing the CDK starts Node (jsii, seconds), which a caller whose
    # synthesis is already at hand (the tests' shared cache, tests/synth_cache.py) does not need.
    import aws_cdk as cdk

    from stacks.app_builder import BUNDLING_CONTEXT_KEY, default_context

    context = {**default_context(), **context, BUNDLING_CONTEXT_KEY: "false"}
    builtin_validation = bool(context.pop(BUILTIN_VALIDATION, False))
    return cdk.App(context=context, outdir=outdir, builtin_cloud_formation_validation=builtin_validation)


@lru_cache(maxsize=16)
def _synth(frozen_context: str) -> tuple[str, str]:
    outdir = tempfile.mkdtemp(prefix="omics-autopilot-cdk-")
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)
    from stacks.app_builder import build_app

    app = _new_app(json.loads(frozen_context), outdir)
    stack = build_app(app)
    assembly = app.synth()
    template = assembly.get_stack_artifact(stack.artifact_id).template
    return json.dumps(template), assembly.directory


def _frozen(context: dict[str, Any] | None, builtin_validation: bool | None) -> str:
    context = context or {}
    return _freeze({**context, BUILTIN_VALIDATION: not context if builtin_validation is None else builtin_validation})


def synth_template(context: dict[str, Any] | None = None, *, builtin_validation: bool | None = None) -> dict[str, Any]:
    """The synthesized CloudFormation template of the autopilot stack (a fresh copy each call).

    `context` overrides cdk.json's context, like `-c key=value`; bundling is always off. CDK's built-in
    CloudFormation validation runs if `builtin_validation`, by default for the default context only.
    """
    template_json, _ = _synth(_frozen(context, builtin_validation))
    return json.loads(template_json)


def synth_assembly_dir(context: dict[str, Any] | None = None, *, builtin_validation: bool | None = None) -> Path:
    """The cloud assembly directory of the cached synth (holds validation-report.json, if any)."""
    _, directory = _synth(_frozen(context, builtin_validation))
    return Path(directory)


__all__ = ["BUILTIN_VALIDATION", "synth_assembly_dir", "synth_template"]
