"""`autopilot rightsize batch`: what the batch document says about the runs behind its figures."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from autopilot_cli.app import main
from autopilot_cli.rightsize import batch_document
from shared.cost.prices import load_snapshot
from shared.provenance.rightsizing_repository import DONE, ENTITY_RUN, MANIFEST_MISSING


def _run(run_id: str, **fields: object) -> dict[str, object]:
    return {"entity": ENTITY_RUN, "run_id": run_id, "run_uuid": f"u-{run_id}", **fields}


def test_runs_sized_from_a_partial_manifest_are_counted_apart() -> None:
    # Given three runs: one sized from its whole manifest, one sized at the right-sizer's last attempt from the
    # part of its manifest that was visible (README: `manifest_complete: false`), one whose manifest never came
    items = [_run("1", status=DONE, manifest_complete=True), _run("2", status=DONE, manifest_complete=False),
             _run("3", status=MANIFEST_MISSING)]
    # When the batch document is built
    doc = batch_document(items, load_snapshot(), None)
    # Then the operator is told that one recommendation rests on an incomplete manifest
    assert (doc["runs_sized"], doc["runs_sized_from_partial_manifest"], doc["runs_manifest_missing"]) == (2, 1, 1)


class _EmptyPriceTable:
    """A provenance table without any price list (no refresh has run): reads of the price items find nothing."""

    client = SimpleNamespace(meta=SimpleNamespace(region_name="us-east-1"))  # the boto3 client's region

    def get_item(self, pk: str, sk: str) -> None:
        return None


class _Target:
    description = "fake"
    repository = _EmptyPriceTable()


def test_without_a_list_in_the_table_the_snapshot_is_used_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    import autopilot_cli.rightsize as rightsize

    class Sized:
        def __init__(self, repository: Any) -> None:
            pass

        def batch_items(self, batch_id: str) -> list[dict[str, Any]]:
            return [_run("1", status=DONE, manifest_complete=True)]

    monkeypatch.setattr(rightsize, "RightsizingRepository", Sized)
    snapshot = load_snapshot()
    stdout, stderr = io.StringIO(), io.StringIO()
    assert main(["--json", "rightsize", "batch", "b-1"], target=_Target(), stdout=stdout, stderr=stderr) == 0
    assert json.loads(stdout.getvalue())["price_list"] == {
        "id": snapshot.list_id, "date": snapshot.date, "from": "repository snapshot (no list in the table)"}
    human = io.StringIO()
    assert main(["rightsize", "batch", "b-1"], target=_Target(), stdout=human, stderr=stderr) == 0
    assert "repository snapshot (no list in the table)" in " ".join(human.getvalue().split())
