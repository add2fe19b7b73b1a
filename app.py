#!/usr/bin/env python3
"""CDK entry point: validated configuration from context -> stack -> cdk-nag validation plugins."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stacks.app_builder import build_app, default_context
from stacks.config import ConfigError


def main() -> None:
    # cdk.json's context as defaults, so `python app.py` synthesizes what `cdk synth` does.
    app = cdk.App(context=default_context())
    try:
        build_app(app)
    except ConfigError as exc:
        sys.exit(str(exc))
    app.synth()


if __name__ == "__main__":
    main()
