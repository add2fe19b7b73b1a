"""The README documents every configuration key and every command it promises."""

from __future__ import annotations

from pathlib import Path

from stacks.config import AutopilotConfig

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_configuration_key_is_documented() -> None:
    keys = [field.alias or name for name, field in AutopilotConfig.model_fields.items()]
    missing = [key for key in keys if f"`{key}`" not in README]
    assert not missing, f"configuration keys missing from README.md: {missing}"


def test_the_two_setup_commands_are_there() -> None:
    assert "make demo" in README and "make test" in README
    assert "npx aws-cdk@2 deploy" in README
