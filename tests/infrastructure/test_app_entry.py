"""`make synth` (python app.py) output location and the Node.js notice that replaces jsii's banner."""

from __future__ import annotations

import json

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


def test_jsii_starts_node_with_the_tuned_v8_flags_unless_the_operator_chose_a_node() -> None:
    import subprocess

    env: dict[str, str] = {}
    node_support.tune_jsii_node(env)
    assert env == {"JSII_NODE": str(node_support.TUNED_NODE)}
    assert node_support.plain_node(env) == "node"  # other scripts (the asset's bytecode compile) run Node as is
    chosen = {"JSII_NODE": "/opt/node22/bin/node"}
    node_support.tune_jsii_node(chosen)
    assert chosen == {"JSII_NODE": "/opt/node22/bin/node"} and node_support.plain_node(chosen) == "/opt/node22/bin/node"
    # The script runs Node with its flags and the caller's arguments (jsii's runtime passes its own flags on to
    # the Node it starts, process.execArgv)
    result = subprocess.run([str(node_support.TUNED_NODE), "--max-old-space-size=4069", "-e",
                             "console.log(JSON.stringify(process.execArgv))"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == ["--single-threaded", "--liftoff-only", "--max-old-space-size=4069", "-e",
                                         "console.log(JSON.stringify(process.execArgv))"]
