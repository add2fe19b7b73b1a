"""Where a run's tags place it (shared/lineage.py, pure): a claim beyond what the service says about the run (another
run's chain, a root batch that is not its own batch, an attempt number) places it only once proven."""

from __future__ import annotations

from typing import Any

import pytest

from shared.lineage import Lineage, RunClaim, placement_proven


def _claim(lineage: dict[str, Any], batch_id: str | None = None, source: str | None = None) -> RunClaim | None:
    return RunClaim.of("C", "uc", Lineage(**{"root_run_id": "C", **lineage}), batch_id, source)


def test_a_run_placed_only_where_the_service_says_claims_nothing() -> None:
    assert _claim({}) is None  # its own root, attempt 0, no batch
    assert _claim({"root_batch_id": "B1"}, batch_id="B1") is None  # a member of its own batch
    assert _claim({"sample": "S-1", "submission_id": "sheet"}) is None  # a label is no place in our records


@pytest.mark.parametrize("lineage, batch_id, rerun, link, placed", [
    # another run's chain: by the proof that it re-ran its parent
    ({"root_run_id": "P", "parent_run_id": "P", "attempt": 1}, None, True, None, True),
    ({"root_run_id": "P", "parent_run_id": "P", "attempt": 1}, None, False, None, False),
    ({"root_run_id": "R", "attempt": 0}, None, True, None, False),  # a root named without a parent: never
    # a root batch that is not its own: by its batch's LINK
    ({"parent_run_id": "P", "root_run_id": "P", "attempt": 1, "root_batch_id": "B1"}, "B2", True, "B1", True),
    ({"parent_run_id": "P", "root_run_id": "P", "attempt": 1, "root_batch_id": "B1"}, "B2", True, None, False),
    ({"parent_run_id": "P", "root_run_id": "P", "attempt": 1, "root_batch_id": "B1"}, None, True, None, False),
    ({"parent_run_id": "P", "root_run_id": "P", "attempt": 1, "root_batch_id": "B1"}, "B2", True, "B9", False),
    # a follow-up member whose submission failed: no parent, its attempt proven by its batch's LINK
    ({"attempt": 2, "root_batch_id": "B1"}, "B2", False, "B1", True),
    ({"attempt": 2, "root_batch_id": "B1"}, "B2", False, None, False),
    # an attempt number alone (no chain, no batch to prove it): never
    ({"attempt": 5}, None, True, None, False),
    ({"attempt": 5, "root_batch_id": "X"}, "X", True, None, False),
], ids=["re-run proven", "re-run unproven", "root without parent", "follow-up linked", "follow-up not linked yet",
        "no batch", "linked elsewhere", "failed submission linked", "failed submission not linked",
        "attempt alone", "attempt in its own batch"])
def test_a_claim_places_its_run_once_proven(lineage: dict[str, Any], batch_id: str | None, rerun: bool,
                                            link: str | None, placed: bool) -> None:
    claim = _claim(lineage, batch_id)
    assert claim is not None
    assert placement_proven(claim, rerun, link) is placed


def test_a_copy_of_its_parent_is_proven_by_the_service_even_without_the_parent_s_uuid() -> None:
    claim = _claim({"root_run_id": "P", "parent_run_id": "P", "attempt": 1}, source="P")
    assert claim is not None and claim.copies_parent and claim.rerun() is None  # no uuid: nothing to supersede
    other = _claim({"root_run_id": "P", "parent_run_id": "P", "parent_run_uuid": "up", "attempt": 1}, source="Q")
    assert other is not None and not other.copies_parent and other.rerun() is not None


@pytest.mark.parametrize("rerun, parent_root, placed", [
    (True, "B1", True),  # a person's copy of a failed member of B1: settles it where it was
    (True, "B9", False),  # its parent is placed under another root batch
    (True, None, False),  # its parent is placed under none (or is itself an unproven claim)
    (False, "B1", False),  # the parent's place proves nothing of a run not proven its re-run
], ids=["parent's root batch", "parent under another", "parent under none", "re-run unproven"])
def test_a_proven_re_run_s_root_batch_is_proven_by_its_parent_s_place(rerun: bool, parent_root: str | None,
                                                                      placed: bool) -> None:
    claim = _claim({"parent_run_id": "P", "root_run_id": "P", "attempt": 1, "root_batch_id": "B1"}, source="P")
    assert claim is not None
    assert placement_proven(claim, rerun, None, parent_root) is placed
