"""botocore's omics service model, read on first use: the API's own bounds (page sizes, string lengths)
instead of numbers typed by hand. Nothing is loaded at import (a cold start that only routes an event does
not pay for it; this module imports nothing heavy so the recorder can import it), then once per process.
The StartRunBatch checks built on the same model are in shared.api_limits."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any


@lru_cache(maxsize=1)
def omics_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("omics")


@cache
def input_max(operation: str, member: str) -> int:
    """The model's `max` for one input member of an omics operation: a list call's largest page
    (ListRuns maxResults, ListRunsInBatch maxItems) or a string's length (StartRun requestId)."""
    return int(omics_model().operation_model(operation).input_shape.members[member].metadata["max"])
