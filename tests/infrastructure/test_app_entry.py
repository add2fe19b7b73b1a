"""`make synth` (python app.py) output location and the Node.js notice that replaces jsii's banner."""

from __future__ import annotations

import app
from stacks import node_support
from stacks.runtime_contract import PROJECT_ROOT


def test_make_synth_writes_cdk_out_and_the_cli_chooses_its_own() -> None:
    # Given no CDK CLI around, when app.py synthesizes, then it writes ./cdk.out (template and
    # validation-report.json, where the README points), not a temporary folder deleted at exit.
    assert app.output_directory({}) == str(PROJECT_ROOT / "cdk.out")
    assert app.output_directory({"CDK_OUTDIR": "/tmp/cli-out"}) == "/tmp/cli-out"


def test_an_unsupported_node_is_reported_in_one_readable_line_and_jsii_is_silenced() -> None:
    env: dict[str, str] = {}
    message = node_support.quiet_jsii_node_banner(env, major=20)
    assert message is not None and "\n" not in message and "b'" not in message
    assert "Node.js 22 or 24" in message
    assert env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == "20"


def test_a_supported_node_changes_nothing_and_an_operator_choice_is_kept() -> None:
    env: dict[str, str] = {}
    assert node_support.quiet_jsii_node_banner(env, major=22) is None and env == {}
    chosen = {"JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"}
    assert node_support.quiet_jsii_node_banner(chosen, major=20) is None
    assert chosen == {"JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"}


def test_the_notice_points_at_the_readme_section_that_gives_the_node_requirement() -> None:
    import re

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for major in (None, 20):
        message = node_support.notice(major)
        assert message is not None
        (section,) = re.findall(r"see README, ([^)]+)\)", message)
        body = re.split(r"^## ", readme, flags=re.MULTILINE)
        (text,) = [part for part in body if part.startswith(section)]
        assert "Node.js 22 or 24" in text and "nvm install" in text, section
