"""jsii (the CDK's bridge to Node.js) prints an 11-line banner when Node is not a release it supports.

The banner reaches Python through jsii's stderr forwarding, which prints lines that are not its JSON
protocol as raw bytes (`b'!!...\\n'`). We silence it with jsii's own switch for the running Node major
(`JSII_SILENCE_WARNING_*_NODE_VERSION`) before the jsii runtime starts, and say the same thing in one
readable line instead (app.py prints it). The supported releases are jsii's (its NodeRelease table):
Node 22 and 24 for the jsii this project pins.

It also has jsii start Node through stacks/jsii-node, with V8 flags for a short burst of work (one thread,
baseline WebAssembly): in one process, the default app's synthesis with CDK's CloudFormation validation, a
second one validated and a third not: 18.6 -> 10.8 CPU-s (Node 14.9 -> 7.4; mean of two runs each, 2 busy cores).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

SUPPORTED_NODE_MAJORS = (22, 24)
JSII_NODE = "JSII_NODE"  # jsii's switch: the Node.js executable it starts
TUNED_NODE = Path(__file__).with_name("jsii-node")
_SILENCE = (
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION",  # a list of majors
    "JSII_SILENCE_WARNING_KNOWN_BROKEN_NODE_VERSION",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION",
)


def node_major(node: str | None = None) -> int | None:
    """The major version of the Node.js jsii will run (`$JSII_NODE` or `node`), None when absent."""
    try:
        out = subprocess.run([node or os.environ.get(JSII_NODE, "node"), "--version"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.", out.strip())
    return int(match.group(1)) if match else None


def notice(major: int | None) -> str | None:
    """One readable line about an unsupported Node, or None when it is supported."""
    if major is None:
        return "Node.js not found: the CDK needs Node.js 22 or 24 (see README, Quick start)."
    if major in SUPPORTED_NODE_MAJORS:
        return None
    supported = " or ".join(str(m) for m in SUPPORTED_NODE_MAJORS)
    return (f"Node.js {major} is not supported by the CDK's jsii runtime; use Node.js {supported} "
            "(see README, Quick start).")


def quiet_jsii_node_banner(environ: dict[str, str] | None = None, major: int | None = None) -> str | None:
    """Silence jsii's banner for the running Node major (before the jsii runtime starts) and return
    the one-line notice to show instead (None when Node is supported or the operator set the switch)."""
    env = os.environ if environ is None else environ
    if any(name in env for name in _SILENCE):
        return None  # the operator chose: leave jsii's own behaviour
    major = node_major() if major is None else major
    message = notice(major)
    if message is not None and major is not None:
        for name in _SILENCE:
            env[name] = str(major)
    return message


def tune_jsii_node(environ: dict[str, str] | None = None) -> None:
    """Have jsii start Node through stacks/jsii-node (before the jsii runtime starts), unless the operator chose
    a Node (JSII_NODE) or the system runs no shell scripts."""
    env = os.environ if environ is None else environ
    if JSII_NODE not in env and os.name == "posix":
        env[JSII_NODE] = str(TUNED_NODE)


def plain_node(environ: dict[str, str] | None = None) -> str:
    """The Node.js jsii runs, without stacks/jsii-node's flags: for other scripts (a long compile gains from
    V8's optimizing compiler and its threads)."""
    node = (os.environ if environ is None else environ).get(JSII_NODE, "node")
    return "node" if node == str(TUNED_NODE) else node


tune_jsii_node()
NOTICE = quiet_jsii_node_banner()
