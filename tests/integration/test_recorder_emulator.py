"""The recorder handler against the HealthOmics emulator: the emulator's own events (shuffled and
duplicated, as a standard queue delivers them) through the real handler, HealthOmics answered by the
emulator through the real boto3 client, provenance compared with the emulator's truth."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import recorder.handler as handler_module
from sandbox.omics import FaultPlan, OmicsEmulator, RunFault, TaskSpec, VirtualClock, mock_omics
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.views import batch_view, run_view, unresolved_failures
from shared.settings import get_settings
from tests.factories import FakeLambdaContext, sqs_event

TASKS = [TaskSpec(name="align", duration_seconds=600), TaskSpec(name="call", depends_on=("align",)),
         TaskSpec(name="report", depends_on=("call",), duration_seconds=60)]


@pytest.fixture
def played(table_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Given 6 standalone runs (one fails at `call`) and a 4-sample batch (one fails), played to the end
    in the emulator, every event captured as the emulator emits it."""
    events: list[dict[str, Any]] = []
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="run-2"),
                             RunFault(reason="RUN_TASK_FAILED", at_task="report", run_setting_id="b3")])
    emulator = OmicsEmulator(clock=VirtualClock(), s3=boto3.client("s3"), event_sink=events.extend, faults=faults)
    workflow = emulator.register_workflow("wgs", tasks=TASKS)
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    monkeypatch.setenv("OMICS_RATE_LIMITS", '{"*": 100000}')
    get_settings.cache_clear()
    handler_module._recorder.cache_clear()
    with mock_omics(emulator):
        omics = boto3.client("omics")
        for i in range(6):
            omics.start_run(workflowId=workflow, roleArn="arn:aws:iam::123456789012:role/omics",
                            outputUri="s3://out/", requestId=f"run-{i}", name=f"run-{i}")
        batch = omics.start_run_batch(
            requestId="cohort", defaultRunSetting={"workflowId": workflow, "outputUri": "s3://out/",
                                                  "roleArn": "arn:aws:iam::123456789012:role/omics"},
            batchRunSettings={"inlineSettings": [{"runSettingId": f"b{i}", "parameters": {"n": i}}
                                                 for i in range(4)]})["id"]
        emulator.run_until_idle()
        yield {"emulator": emulator, "events": events, "batch_id": batch,
               "repository": ProvenanceRepository(table_name, boto3.client("dynamodb"))}
    handler_module._recorder.cache_clear()
    get_settings.cache_clear()


def _deliver(events: list[dict[str, Any]], seed: int) -> int:
    """When the events reach the recorder shuffled, a fifth of them twice, in SQS batches of 100."""
    rng = random.Random(seed)
    stream = events + rng.sample(events, len(events) // 5)
    rng.shuffle(stream)
    failures = 0
    for start in range(0, len(stream), 100):
        response = handler_module.lambda_handler(sqs_event(stream[start:start + 100]), FakeLambdaContext())
        failures += len(response["batchItemFailures"])
    return failures


@pytest.mark.parametrize("seed", [1, 2])
def test_provenance_matches_the_emulator_for_every_run_and_task(played: dict[str, Any], seed: int) -> None:
    emulator, repository = played["emulator"], played["repository"]
    before = sum(emulator.calls.values())
    assert _deliver(played["events"], seed) == 0
    for run in emulator.runs.values():
        view = run_view(repository, run.id)
        assert view is not None and view.status == run.status, run.id
        assert view.failure_reason == run.failure_reason
        assert {t.task_id: t.status for t in view.tasks} == {t.id: t.status for t in run.tasks.values()}
        assert [h["status"] for h in view.history][-1] == run.status
    # Then HealthOmics was asked once per run (GetRun + one ListRunTasks page) and once for the batch
    calls = {op: n for op, n in emulator.calls.items() if op in ("GetRun", "ListRunTasks", "ListRunsInBatch")}
    assert calls == {"GetRun": 10, "ListRunTasks": 10, "ListRunsInBatch": 1}
    assert sum(emulator.calls.values()) - before == 21
    # and the failures and the batch's members are answerable
    failed = {r.id for r in emulator.runs.values() if r.status == "FAILED"}
    assert {f["run_id"] for f in unresolved_failures(repository)} == failed and len(failed) == 2
    view = batch_view(repository, played["batch_id"])
    assert sorted(view.samples) == ["b0", "b1", "b2", "b3"]
    assert view.samples["b3"].final.status == "FAILED" and view.samples["b0"].final.status == "COMPLETED"
