#!/usr/bin/env python3
"""CDK entry point: validated configuration from context -> stack -> cdk-nag validation plugins."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# The `stacks` package comes before aws_cdk is imported (through it): it quiets jsii's raw-bytes Node
# banner before the jsii runtime starts, and NODE_NOTICE says the same in one line.
from stacks import NODE_NOTICE
from stacks.app_builder import build_app, default_context, new_app
from stacks.config import ConfigError
from stacks.runtime_contract import PROJECT_ROOT


def output_directory(environ: Mapping[str, str] = os.environ) -> str:
    """The CDK CLI says where (CDK_OUTDIR); `python app.py` / `make synth` writes ./cdk.out (template
    and validation-report.json), where the README points."""
    return environ.get("CDK_OUTDIR") or str(PROJECT_ROOT / "cdk.out")


def main() -> None:
    if NODE_NOTICE:
        print(NODE_NOTICE, file=sys.stderr)
    # cdk.json's context as defaults, so `python app.py` synthesizes what `cdk synth` does.
    app = new_app(context=default_context(), outdir=output_directory())
    try:
        build_app(app)
    except ConfigError as exc:
        sys.exit(str(exc))
    app.synth()


if __name__ == "__main__":
    main()
