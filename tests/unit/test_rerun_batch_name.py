"""Follow-up batch names keep to StartRunBatch's batchName bounds, read from botocore's service model."""

from __future__ import annotations

import botocore.session

from rerunner.logic import follow_up_batch_name


def test_a_follow_up_batch_name_fits_the_api_however_long_its_parts() -> None:
    """Given a batch id and a group label that together exceed the API's batchName length,
    When the re-runner names the follow-up batch,
    Then the name is within botocore's model of StartRunBatch.batchName (max 64, not 127) and its
    pattern, and two follow-ups that differ only past the cut still get different names."""
    shape = botocore.session.get_session().get_service_model("omics").operation_model(
        "StartRunBatch").input_shape.members["batchName"]
    longest = int(shape.metadata["max"])
    batch_id = "9" * 40
    names = {follow_up_batch_name(batch_id, 3, f"static{capacity}-d3600") for capacity in (1200, 2400)}
    assert len(names) == 2
    for name in names:
        assert int(shape.metadata.get("min", 1)) <= len(name) <= longest
        assert name.startswith(f"rerun-{batch_id[:10]}")
    assert follow_up_batch_name("1234567", 1, "same") == "rerun-1234567-a1-same"  # short names are kept whole
