"""The page sizes and the StartRun requestId length our HealthOmics calls use are botocore's omics service
model's (the oracle, read here independently of our code), and reading them costs a cold start nothing:
nothing loads the model at import."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from reconciler.logic import Reconciler, SweepReport

from rerunner.dal import AwsAccess
from rerunner.logic import run_request_id
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]


def _model_max(operation: str, member: str) -> int:
    model = botocore.session.get_session().get_service_model("omics")
    return int(model.operation_model(operation).input_shape.members[member].metadata["max"])


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client("omics", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_the_rerunner_lists_with_the_largest_pages_the_model_allows(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_response("list_runs", {"items": []},
                         {"batchId": "1234567", "status": "FAILED", "maxResults": _model_max("ListRuns", "maxResults")})
    stubber.add_response("list_runs_in_batch", {"runs": []},
                         {"batchId": "1234567", "maxItems": _model_max("ListRunsInBatch", "maxItems")})
    access = AwsAccess(omics=lambda: client)
    assert list(access.failed_run_ids("1234567")) == []
    assert list(access.batch_members("1234567")) == []


def test_the_recorder_lists_batch_members_with_the_largest_page(stubbed, table_name) -> None:
    client, stubber = stubbed
    stubber.add_response("list_runs_in_batch", {"runs": []},
                         {"batchId": "1234567", "maxItems": _model_max("ListRunsInBatch", "maxItems")})
    recorder = Recorder(ProvenanceRepository(table_name), omics=lambda: client)
    assert recorder._record_members("1234567", {}) == 0


def test_the_reconciler_lists_active_runs_with_the_largest_page(stubbed, table_name) -> None:
    client, stubber = stubbed
    page = _model_max("ListRuns", "maxResults")
    for status in ("PENDING", "STARTING", "RUNNING", "STOPPING"):
        stubber.add_response("list_runs", {"items": []}, {"status": status, "maxResults": page})
    recorder = Recorder(ProvenanceRepository(table_name), omics=lambda: client)
    reconciler = Reconciler(recorder, stale_after=timedelta(hours=1), list_runs_above=0)
    assert reconciler._listed_active([{"run_id": "1"}], SweepReport(now="", threshold="")) == {}


def test_a_rerun_request_id_stays_within_startruns_length() -> None:
    limit = _model_max("StartRun", "requestId")
    prefix = len(run_request_id("1234567", "", 1))
    fits = "u" * (limit - prefix)
    assert run_request_id("1234567", fits, 1).endswith(f"{fits}-1")  # at the limit: kept as it is
    longer = run_request_id("1234567", fits + "u", 1)
    assert len(longer) <= limit and fits not in longer  # one over: the uuid is hashed


def test_importing_the_functions_loads_no_service_model() -> None:
    code = ("import recorder.handler, reconciler.handler, rerunner.handler, shared.api_limits\n"
            "from shared.omics_model import omics_model\n"
            "print(omics_model.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "lambdas", capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT / "lambdas"), "AWS_DEFAULT_REGION": "us-east-1"})
    assert out.stdout.strip() == "0"
