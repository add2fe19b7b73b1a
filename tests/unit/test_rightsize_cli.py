"""`autopilot rightsize batch`: what the batch document says about the runs behind its figures."""

from __future__ import annotations

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
