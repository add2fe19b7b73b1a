"""Synthesize the app in-process (bundling off) and return the stack's CloudFormation template.

Tests and the sandbox use this; it builds the app exactly as app.py does (same builder, cdk-nag on),
so a cdk-nag finding raises here too. Results are cached per context: one synth per test session.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from stacks.app_builder import BUNDLING_CONTEXT_KEY, STACK_ID, build_app, default_context


def _freeze(context: dict[str, Any]) -> str:
    return json.dumps(context, sort_keys=True, default=str)


@lru_cache(maxsize=16)
def _synth(frozen_context: str) -> tuple[str, str]:
    context = {**default_context(), **json.loads(frozen_context), BUNDLING_CONTEXT_KEY: "false"}
    outdir = tempfile.mkdtemp(prefix="omics-autopilot-cdk-")
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)
    app = cdk.App(context=context, outdir=outdir)
    stack = build_app(app)
    assembly = app.synth()
    template = assembly.get_stack_artifact(stack.artifact_id).template
    return json.dumps(template), assembly.directory


def synth_template(context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The synthesized CloudFormation template of the autopilot stack (a fresh copy each call).

    `context` overrides cdk.json's context, like `-c key=value`; bundling is always off.
    """
    template_json, _ = _synth(_freeze(context or {}))
    return json.loads(template_json)


def synth_assembly_dir(context: dict[str, Any] | None = None) -> Path:
    """The cloud assembly directory of the cached synth (holds validation-report.json, if any)."""
    _, directory = _synth(_freeze(context or {}))
    return Path(directory)


__all__ = ["STACK_ID", "default_context", "synth_assembly_dir", "synth_template"]
