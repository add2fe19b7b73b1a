"""Builds the app the same way for `cdk synth` (app.py) and for tests/sandbox (stacks.synth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from stacks.autopilot_stack import AutopilotStack
from stacks.config import AutopilotConfig

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
STACK_ID = "OmicsAutopilot"
BUNDLING_CONTEXT_KEY = "bundling"


def default_context() -> dict[str, Any]:
    """cdk.json's context (configuration defaults and feature flags).

    The CDK CLI passes it to the app itself; `python app.py` and in-process synths pass it as the
    App's `context=` argument, where values given by the CLI (`-c key=value`) still take precedence.
    """
    return dict(json.loads(CDK_JSON.read_text()).get("context", {}))


def new_app(*, context: dict[str, Any], outdir: str | None = None) -> cdk.App:
    return cdk.App(context=context, outdir=outdir)


def _flag(value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("false", "0", "no", "off")


def build_app(app: cdk.App) -> AutopilotStack:
    """Validate config from the app's context, add the stack, and register cdk-nag.

    cdk-nag 3 packs are CDK policy-validation plugins (not Aspects as in v2): a finding fails
    `app.synth()` and is written to `validation-report.json` in the cloud assembly. Findings are
    acknowledged per construct with `Validations.of(construct).acknowledge(...)` (see components/nag.py).
    """
    context = app.node.get_all_context()  # one call into Node (jsii), not one per key
    config = AutopilotConfig.from_context(context)
    stack = AutopilotStack(
        app,
        STACK_ID,
        config=config,
        bundle_lambdas=_flag(context.get(BUNDLING_CONTEXT_KEY), default=True),
        description="Event-driven autopilot for AWS HealthOmics: launch, re-run, prune, record provenance",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app))
    return stack
