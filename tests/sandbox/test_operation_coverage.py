"""Every HealthOmics operation the product calls (anywhere under lambdas/) is one the emulator serves.

Issue #3, contract tests: "a test that finds every HealthOmics operation called anywhere under
`lambdas/` and fails if the emulator lacks it". The scan reads the source AST, so it keeps working as
capabilities land without anyone maintaining a list:

- a method call ``<receiver>.<name>(...)`` whose name is the snake_case form (botocore's ``xform_name``)
  of an operation of botocore's omics service model counts when the receiver is an omics client: its
  source mentions ``omics`` (``self.omics``, ``omics_client(...)``), or it is a name bound in the same
  module from an expression that mentions ``omics`` (``client = omics_client(tps)``). A name that is
  *distinctive* -- not also an operation of another AWS service the product uses and not a method the
  product defines itself (``start_run_batch``, ``list_runs_in_batch``...) -- counts on any receiver;
- ``get_paginator("<op>")`` and ``paginate(<client>, "<op>", ...)`` (shared.omics.paginate) count by
  their string argument, in snake_case or CamelCase, under the same receiver rule.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Set
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from botocore import xform_name

from sandbox.omics import OmicsEmulator

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
# Other services the product's code talks to: an operation name shared with one of them (e.g.
# tag_resource) is not proof of an omics call by itself.
OTHER_SERVICES = ("s3", "dynamodb", "sqs", "events", "scheduler", "cloudwatch", "sns", "sts", "lambda", "kms")


@dataclass(frozen=True)
class OmicsCall:
    operation: str  # CamelCase, as in the service model
    path: str
    line: int


@functools.cache  # read only; a new botocore session for each scanned module was a sixth of the scan
def _omics_operations() -> dict[str, str]:
    """snake_case and CamelCase spellings -> CamelCase operation name, from botocore's model."""
    names = botocore.session.get_session().get_service_model("omics").operation_names
    return {**{xform_name(n): n for n in names}, **{n: n for n in names}}


@functools.cache
def _other_service_methods() -> frozenset[str]:
    session = botocore.session.get_session()
    return frozenset(xform_name(op) for service in OTHER_SERVICES
                     for op in session.get_service_model(service).operation_names)


def _defined_methods(trees: Iterable[ast.AST]) -> set[str]:
    return {node.name for tree in trees for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _omics_bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names (and self attributes) assigned from an expression that mentions omics."""
    bound: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None \
                and "omics" in ast.unparse(node.value).lower():
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(ast.unparse(t) for t in targets)
    return bound


def scan_source(source: str, path: str, ambiguous: Set[str]) -> list[OmicsCall]:
    """The omics operations called in one module's source (see the module docstring for the rules)."""
    return scan_tree(ast.parse(source, filename=path), path, ambiguous)


def scan_tree(tree: ast.AST, path: str, ambiguous: Set[str]) -> list[OmicsCall]:
    """The omics operations called in one module's parsed source."""
    operations = _omics_operations()
    nodes = list(ast.walk(tree))  # walked once for both passes
    bound = _omics_bound_names(nodes)

    def is_omics(receiver: ast.expr) -> bool:
        text = ast.unparse(receiver)
        return "omics" in text.lower() or text in bound

    found: list[OmicsCall] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if isinstance(func, ast.Attribute) and func.attr == "get_paginator":
            for text in strings[:1]:
                if text in operations and (is_omics(func.value) or xform_name(text) not in ambiguous):
                    found.append(OmicsCall(operations[text], path, node.lineno))
        elif (isinstance(func, ast.Name) and func.id == "paginate") or \
                (isinstance(func, ast.Attribute) and func.attr == "paginate"):
            client = node.args[0] if node.args else None
            for text in strings[:1]:
                if text in operations and ((client is not None and is_omics(client))
                                           or xform_name(text) not in ambiguous):
                    found.append(OmicsCall(operations[text], path, node.lineno))
        elif isinstance(func, ast.Attribute) and func.attr in operations and func.attr == xform_name(func.attr) \
                and (is_omics(func.value) or func.attr not in ambiguous):
            found.append(OmicsCall(operations[func.attr], path, node.lineno))
    return found


def scan_lambdas() -> list[OmicsCall]:
    files = sorted(p for p in LAMBDAS.rglob("*.py") if ".venv" not in p.parts)
    paths = {p: str(p.relative_to(ROOT)) for p in files}
    # each module parsed once, for the methods the product defines and for its calls
    trees = {p: ast.parse(p.read_text(encoding="utf-8"), filename=path) for p, path in paths.items()}
    ambiguous = _other_service_methods() | _defined_methods(trees.values())
    calls: list[OmicsCall] = []
    for p, tree in trees.items():
        calls += scan_tree(tree, paths[p], ambiguous)
    return calls


def test_every_omics_operation_called_under_lambdas_is_served_by_the_emulator() -> None:
    calls = scan_lambdas()
    # The scan must see the calls we know exist (the recorder's GetRun and ListRunTasks pages), or it
    # would pass vacuously after a refactor that hides calls from it.
    assert {"GetRun", "ListRunTasks"} <= {c.operation for c in calls}, calls
    missing = sorted({f"{c.operation} ({c.path}:{c.line})" for c in calls
                      if c.operation not in OmicsEmulator().operations})
    assert not missing, f"HealthOmics operations called under lambdas/ that the emulator lacks: {missing}"


def test_scanner_recognises_the_call_shapes_the_product_uses() -> None:
    source = '''
from shared.omics import omics_client, paginate

class Dal:
    def __init__(self, client):
        self.omics = client
        self.table = None

    def go(self, run_id):
        self.omics.get_run(id=run_id)
        for task in paginate(self.omics, "list_run_tasks", "items", id=run_id):
            pass
        self.omics.get_paginator("ListRunsInBatch")
        self.table.get_item(Key={})          # DynamoDB, not omics
        self.table.tag_resource(ResourceArn="x", Tags=[])   # ambiguous name on a non-omics receiver

def standalone(tps, unknown):
    client = omics_client(tps)
    client.cancel_run(id="1")
    unknown.start_run_batch(defaultRunSetting={})      # distinctive: counts on any receiver
    unknown.delete_run(id="2")                         # ambiguous here (the module defines delete_run)

def delete_run():
    return None
'''
    ambiguous = _other_service_methods() | _defined_methods([ast.parse(source)])
    calls = scan_source(source, "snippet.py", ambiguous)
    assert sorted(c.operation for c in calls) == ["CancelRun", "GetRun", "ListRunTasks", "ListRunsInBatch",
                                                  "StartRunBatch"]
    lines = source.splitlines()
    for call in calls:  # each finding points at the line that makes the call
        text = lines[call.line - 1]
        assert call.operation in text or xform_name(call.operation) in text, (call, text)


def test_scanner_reports_an_operation_the_emulator_lacks() -> None:
    source = "def f(omics):\n    omics.create_sequence_store(name='s')\n"
    calls = scan_source(source, "snippet.py", _other_service_methods())
    assert [c.operation for c in calls] == ["CreateSequenceStore"]
    assert "CreateSequenceStore" not in OmicsEmulator().operations
