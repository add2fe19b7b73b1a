"""A run's or batch's autopilot:attempt tag is set by whoever starts it: it may count more attempts than the chain
has (fewer re-runs), never fewer. A negative or malformed tag counts as the chain's first attempt it can be, so no
tag buys re-runs beyond the deployer's maxAttempts (tests/integration/test_rerun_foreign.py plays it through)."""

from __future__ import annotations

from typing import Any

import pytest

from rerunner.follow_up import _BatchRecords
from shared.lineage import TAG_ATTEMPT, TAG_PARENT_RUN, TAG_ROOT_BATCH, TAG_STACK, lineage_of


@pytest.mark.parametrize(("tag", "parent", "attempt"), [
    ("-20", None, 0), ("-20", "1111111", 1), ("0", "1111111", 1), ("abc", None, 0), ("abc", "1111111", 1),
    ("", None, 0), ("2", "1111111", 2), ("7", None, 7),
])
def test_a_runs_attempt_tag_never_counts_below_its_chains_first_attempt(tag: str, parent: str | None,
                                                                        attempt: int) -> None:
    tags = {TAG_ATTEMPT: tag, **({TAG_PARENT_RUN: parent} if parent else {})}
    assert lineage_of("2222222", tags, None, None, "uuid-2").attempt == attempt


class _Nothing:
    """Provenance lost the batch's LINK and request; GetBatch answers with the given tags."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def get_batch_link(self, batch_id: str) -> None:
        return None

    def get_batch_request(self, batch_id: str) -> None:
        return None

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        return {"id": batch_id, "tags": self.tags}


@pytest.mark.parametrize(("tag", "attempt"), [("-20", 0), ("abc", 0), ("2", 2)])
def test_a_batch_placed_by_its_tags_takes_no_attempt_below_zero(tag: str, attempt: int) -> None:
    # Given a batch of this stack by its tags alone (its LINK and request lost), with a hand-set attempt tag
    source = _Nothing({TAG_STACK: "stack-1", TAG_ROOT_BATCH: "1000001", TAG_ATTEMPT: tag})
    records = _BatchRecords(source, source, "stack-1", "1000002")  # type: ignore[arg-type]
    # Then its place in the root's history counts from attempt 0 (a malformed tag no longer raises)
    assert records.place == {"root_batch_id": "1000001", "attempt": attempt}
