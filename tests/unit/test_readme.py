"""The README documents every configuration key and every command it promises."""

from __future__ import annotations

from pathlib import Path

from launcher.validation import MAX_TAGS_PER_RUN, MAX_USER_TAGS, RESERVED_TAGS
from stacks.app_builder import BUNDLING_CONTEXT_KEY
from stacks.config import AutopilotConfig

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_configuration_key_is_documented() -> None:
    # and the one build switch stacks/app_builder.py reads beside the validated configuration
    keys = [field.alias or name for name, field in AutopilotConfig.model_fields.items()] + [BUNDLING_CONTEXT_KEY]
    missing = [key for key in keys if f"`{key}`" not in README]
    assert not missing, f"configuration keys missing from README.md: {missing}"


def test_the_two_setup_commands_are_there() -> None:
    assert "make demo" in README and "make test" in README
    assert "npx aws-cdk@2 deploy" in README


def test_the_tag_limits_are_the_launchers() -> None:
    text = " ".join(README.split())
    assert f"≤ {MAX_USER_TAGS} tags of your own per run ({RESERVED_TAGS} of HealthOmics' {MAX_TAGS_PER_RUN}" in text
    assert f"{RESERVED_TAGS} are reserved for `autopilot:*` tags, so a sheet's own run tags may number " \
           f"{MAX_USER_TAGS}" in text
