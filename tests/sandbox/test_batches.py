"""Behaviour of batch runs (guide: HealthOmics 배치 실행)."""

from __future__ import annotations

from typing import Any

from sandbox.omics import BatchFault, OmicsEmulator, RunFault, SubmissionFault
from sandbox.omics.faults import RESUBMIT_FAILED_BATCH, RESUBMIT_SAME_BATCH
from tests.sandbox.conftest import BUCKET, OUT, ROLE, put_json


def default(workflow_id: str, **kw: Any) -> dict[str, Any]:
    return {"workflowId": workflow_id, "roleArn": ROLE, "outputUri": OUT, **kw}


def inline(n: int, prefix: str = "s") -> dict[str, Any]:
    return {"inlineSettings": [{"runSettingId": f"{prefix}{i}"} for i in range(n)]}


def batch_statuses(emu: OmicsEmulator, batch_id: str) -> list[str]:
    return [
        e["detail"]["status"]
        for e in emu.emitted_events
        if e["detail-type"] == "RunBatch Status Change" and e["detail"]["batchId"] == batch_id
    ]


def test_lifecycle_and_pacing_at_the_start_run_quota(
    client: Any, emu: OmicsEmulator, workflow_id: str
) -> None:
    """Guide: progressive submission (점진적 제출) — CREATING → PENDING → SUBMITTING → INPROGRESS → PROCESSED,
    runs submitted at the StartRun quota (5 per second by default)."""
    b = client.start_run_batch(
        requestId="pace", defaultRunSetting=default(workflow_id), batchRunSettings=inline(23)
    )
    emu.advance(3)  # created at t=0, PENDING at 1, validated at 3: first 5 submissions
    summary = client.get_batch(batchId=b["id"])["submissionSummary"]
    assert summary["successfulStartSubmissionCount"] == 5 and summary["pendingStartSubmissionCount"] == 18
    emu.advance(2)
    assert client.get_batch(batchId=b["id"])["submissionSummary"]["successfulStartSubmissionCount"] == 15
    emu.advance(2)
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "INPROGRESS" and got["submissionSummary"]["successfulStartSubmissionCount"] == 23
    assert "submittedTime" in got
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert (
        got["status"] == "PROCESSED"
        and got["runSummary"]["completedRunCount"] == 23
        and "processedTime" in got
    )
    assert batch_statuses(emu, b["id"]) == ["CREATING", "PENDING", "SUBMITTING", "INPROGRESS", "PROCESSED"]


def test_configurable_pace(s3: Any, clock: Any) -> None:
    """Guide: quotas (할당량) — the StartRun quota sets the pace; it is adjustable."""
    from sandbox.omics import FaultPlan

    emu = OmicsEmulator(clock=clock, s3=s3, faults=FaultPlan(start_run_tps=1))
    wf = emu.register_workflow("w")
    batch = emu.dispatch(
        "StartRunBatch", {"requestId": "r", "defaultRunSetting": default(wf), "batchRunSettings": inline(4)}
    )
    emu.advance(4)
    assert emu.submission_summary(emu.batches[batch["id"]])["successfulStartSubmissionCount"] == 2


def test_merge_rules_and_batch_tags(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: parameter merging (파라미터 병합) — per-run parameters and runTags merge over the
    defaults key by key;
    batch tags apply to the batch only."""
    d = default(
        workflow_id,
        parameters={"referenceUri": "s3://bucket/ref.fasta", "version": "v1"},
        runTags={"project": "cancer-research", "pipeline-version": "v2.1"},
    )
    settings = {
        "inlineSettings": [
            {
                "runSettingId": "p1",
                "name": "Sample-1",
                "outputUri": "s3://other/out",
                "parameters": {"inputUri": "s3://bucket/sample.fastq", "version": "v2"},
                "runTags": {"patient-id": "patient001", "pipeline-version": "v3.0"},
            }
        ]
    }
    b = client.start_run_batch(
        requestId="merge", tags={"batch": "only"}, defaultRunSetting=d, batchRunSettings=settings
    )
    emu.advance(5)
    (entry,) = client.list_runs_in_batch(batchId=b["id"])["runs"]
    run = client.get_run(id=entry["runId"])
    assert run["parameters"] == {
        "referenceUri": "s3://bucket/ref.fasta",
        "inputUri": "s3://bucket/sample.fastq",
        "version": "v2",
    }
    assert run["tags"] == {
        "project": "cancer-research",
        "patient-id": "patient001",
        "pipeline-version": "v3.0",
    }
    assert run["name"] == "Sample-1" and run["outputUri"] == "s3://other/out" and run["batchId"] == b["id"]
    assert client.get_batch(batchId=b["id"])["tags"] == {"batch": "only"}
    assert [r["id"] for r in client.list_runs(batchId=b["id"])["items"]] == [entry["runId"]]


def test_list_runs_in_batch_filters(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: ListRunsInBatch — one filter per call (submissionStatus | runSettingId | runId);
    failed submissions
    have no runId and carry submissionFailureReason/Message."""
    emu.faults.submissions.append(SubmissionFault(run_setting_ids=frozenset({"s3", "s7"})))
    b = client.start_run_batch(
        requestId="f", defaultRunSetting=default(workflow_id), batchRunSettings=inline(10)
    )
    emu.advance(10)
    failed = client.list_runs_in_batch(batchId=b["id"], submissionStatus="FAILED")["runs"]
    assert {r["runSettingId"] for r in failed} == {"s3", "s7"}
    assert all(
        "runId" not in r and r["submissionFailureReason"] == "ServiceQuotaExceededException" for r in failed
    )
    (one,) = client.list_runs_in_batch(batchId=b["id"], runSettingId="s5")["runs"]
    assert client.list_runs_in_batch(batchId=b["id"], runId=one["runId"])["runs"] == [one]
    pages, token = [], None
    while True:
        page = client.list_runs_in_batch(
            batchId=b["id"], maxItems=3, **({"startingToken": token} if token else {})
        )
        pages.append(page["runs"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert got["submissionSummary"]["failedStartSubmissionCount"] == 2
    assert got["runSummary"]["completedRunCount"] == 8 and got["totalRuns"] == 10


def test_run_summary_is_consistent_with_the_runs(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: monitoring (배치 진행 상황 모니터링) — runSummary counts per run status, exact at PROCESSED."""
    emu.faults.runs.append(RunFault(reason="RUN_TASK_FAILED", at_task="call", run_setting_id="s1"))
    b = client.start_run_batch(
        requestId="c", defaultRunSetting=default(workflow_id), batchRunSettings=inline(6)
    )
    for _ in range(30):
        emu.advance(40)
        got = client.get_batch(batchId=b["id"])
        statuses = [
            client.get_run(id=r["runId"])["status"]
            for r in client.list_runs_in_batch(batchId=b["id"])["runs"]
        ]
        for status in ("PENDING", "STARTING", "RUNNING", "STOPPING", "COMPLETED", "FAILED"):
            assert got["runSummary"][f"{status.lower()}RunCount"] == statuses.count(status)
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "PROCESSED"
    assert (got["runSummary"]["completedRunCount"], got["runSummary"]["failedRunCount"]) == (5, 1)


def test_s3_settings_etag_change_fails_the_batch(
    client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str
) -> None:
    """Guide: s3UriSettings — the ETag is recorded at StartRunBatch; a changed file fails the batch."""
    uri = put_json(s3, "cfg.json", [{"runSettingId": f"r{i}"} for i in range(50)])
    b = client.start_run_batch(
        requestId="etag", defaultRunSetting=default(workflow_id), batchRunSettings={"s3UriSettings": uri}
    )
    emu.advance(4)
    put_json(s3, "cfg.json", [{"runSettingId": "changed"}])
    emu.advance(2)
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "FAILED" and "s3UriConfigs was changed" in got["failureReason"]
    assert 0 < got["submissionSummary"]["successfulStartSubmissionCount"] < 50
    failed = [
        e
        for e in emu.emitted_events
        if e["detail"].get("batchId") == b["id"] and e["detail"]["status"] == "FAILED"
    ]
    assert failed[0]["detail"]["failureReason"] == "VALIDATION_EXCEPTION"


def test_asynchronous_validation_failures(client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str) -> None:
    """Guide: batch-level failures (배치 수준 실패) — duplicate runSettingIds, batch-level fields per run,
    invalid JSON: the batch FAILs before creating runs."""
    dup = put_json(s3, "dup.json", [{"runSettingId": "a"}, {"runSettingId": "a"}, {"runSettingId": "b"}])
    extra = put_json(s3, "extra.json", [{"runSettingId": "a", "workflowId": "1"}])
    s3.put_object(Bucket=BUCKET, Key="bad.json", Body=b"[not json")
    ids = {}
    for name, uri in (("dup", dup), ("extra", extra), ("bad", f"s3://{BUCKET}/bad.json")):
        ids[name] = client.start_run_batch(
            requestId=name, defaultRunSetting=default(workflow_id), batchRunSettings={"s3UriSettings": uri}
        )["id"]
    emu.run_until_idle()
    reasons = {k: client.get_batch(batchId=v)["failureReason"] for k, v in ids.items()}
    assert reasons["dup"] == "Expected 3 unique runSettingIds but there were 2"
    assert "batch-level field" in reasons["extra"] and "Invalid JSON" in reasons["bad"]
    assert emu.runs == {}


# Guide: 실패한 실행 처리 > 배치 수준 실패, 일시적인 서비스 오류 — "서비스에 일시적인 오류가 발생했습니다. 배치를
# 다시 시도합니다." / "동일한 배치를 다시 제출하여 재시도합니다. 멱등성 requestId에 동일한를 사용합니다" (retry by
# resubmitting the same batch, with the same idempotency requestId). What the service answers is not documented:
# the emulator plays each answer (FaultPlan.batch_resubmission).


def _doomed(client: Any, workflow_id: str) -> dict[str, Any]:
    return client.start_run_batch(
        batchName="doomed", requestId="d", defaultRunSetting=default(workflow_id), batchRunSettings=inline(2)
    )


def test_whole_batch_fault(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: batch-level failures (배치 수준 실패) — the batch itself fails, no runs are created."""
    emu.faults.batches.append(BatchFault(batch_name="doomed"))
    b = _doomed(client, workflow_id)
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "FAILED" and "failedTime" in got
    assert got["failureReason"] == "The service encountered a transient error. Retry the batch."
    assert batch_statuses(emu, b["id"]) == ["CREATING", "PENDING", "FAILED"]
    assert emu.runs == {}


def test_resubmitting_a_transient_failure_starts_a_new_batch_by_default(
    client: Any, emu: OmicsEmulator, workflow_id: str
) -> None:
    """Guide: 배치 수준 실패 > 일시적인 서비스 오류 — resubmit with the same requestId. Default answer: a new
    batch (FAILED is terminal in the guide's batch lifecycle)."""
    emu.faults.batches.append(BatchFault(batch_name="doomed", times=1))
    b = _doomed(client, workflow_id)
    emu.run_until_idle()
    again = _doomed(client, workflow_id)
    assert again["id"] != b["id"] and again["status"] == "CREATING"
    emu.run_until_idle()
    assert client.get_batch(batchId=b["id"])["status"] == "FAILED"
    assert client.get_batch(batchId=again["id"])["runSummary"]["completedRunCount"] == 2
    # from then on the requestId is idempotent again: it names the new batch
    assert _doomed(client, workflow_id)["id"] == again["id"]


def test_the_same_batch_answer_goes_back_through_submission(
    client: Any, emu: OmicsEmulator, workflow_id: str
) -> None:
    """Guide: 배치 수준 실패 > 일시적인 서비스 오류 — the SAME_BATCH answer: the failed batch, same id."""
    emu.faults.batch_resubmission = RESUBMIT_SAME_BATCH
    emu.faults.batches.append(BatchFault(batch_name="doomed", times=1))
    b = _doomed(client, workflow_id)
    emu.run_until_idle()
    again = _doomed(client, workflow_id)
    assert again["id"] == b["id"] and again["status"] == "PENDING"
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "PROCESSED" and got["runSummary"]["completedRunCount"] == 2
    assert "failureReason" not in got
    assert batch_statuses(emu, b["id"]) == [
        "CREATING", "PENDING", "FAILED", "PENDING", "SUBMITTING", "INPROGRESS", "PROCESSED"
    ]


def test_the_failed_batch_answer_restarts_nothing(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: 배치 수준 실패 > 일시적인 서비스 오류 — the FAILED_BATCH answer: idempotency returns it as is."""
    emu.faults.batch_resubmission = RESUBMIT_FAILED_BATCH
    emu.faults.batches.append(BatchFault(batch_name="doomed", times=1))
    b = _doomed(client, workflow_id)
    emu.run_until_idle()
    again = _doomed(client, workflow_id)
    assert again["id"] == b["id"] and again["status"] == "FAILED"
    emu.run_until_idle()
    assert emu.runs == {}


def test_a_persistent_batch_fault_fails_every_resubmission(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: 배치 수준 실패 — a failure that is not transient fails the resubmission too."""
    emu.faults.batches.append(BatchFault(batch_name="doomed"))  # times=None: every validation fails
    first = _doomed(client, workflow_id)
    emu.run_until_idle()
    second = _doomed(client, workflow_id)
    emu.run_until_idle()
    assert [client.get_batch(batchId=b["id"])["status"] for b in (first, second)] == ["FAILED", "FAILED"]


def test_retry_batch_is_a_new_attempt(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: handling failed runs (실패한 실행 처리) — resubmit only the failed runSettingIds
    in a new batch."""
    emu.faults.runs.append(RunFault(reason="SERVICE_ERROR", at_task="align", run_setting_id="s2"))
    first = client.start_run_batch(
        requestId="1", defaultRunSetting=default(workflow_id), batchRunSettings=inline(3)
    )
    emu.run_until_idle()
    assert client.get_batch(batchId=first["id"])["runSummary"]["failedRunCount"] == 1
    retry = client.start_run_batch(
        requestId="2",
        defaultRunSetting=default(workflow_id),
        batchRunSettings={"inlineSettings": [{"runSettingId": "s2"}]},
    )
    emu.run_until_idle()
    assert client.get_batch(batchId=retry["id"])["runSummary"]["completedRunCount"] == 1


def test_cancel_and_delete_preconditions(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: cancel (배치 취소) only PENDING/SUBMITTING/INPROGRESS;
    delete runs (배치 실행 삭제) only PROCESSED/CANCELLED;
    DeleteBatch (배치 메타데이터 삭제) only terminal, and it keeps the runs."""
    b = client.start_run_batch(
        requestId="cx", defaultRunSetting=default(workflow_id), batchRunSettings=inline(12)
    )
    emu.advance(4)
    client.cancel_run_batch(batchId=b["id"])
    assert client.get_batch(batchId=b["id"])["status"] == "STOPPING"
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "CANCELLED"
    assert got["submissionSummary"]["successfulCancelSubmissionCount"] == 10
    assert got["submissionSummary"]["pendingStartSubmissionCount"] == 2  # never submitted
    assert got["runSummary"]["cancelledRunCount"] == 10
    client.delete_run_batch(batchId=b["id"])
    emu.run_until_idle()
    got = client.get_batch(batchId=b["id"])
    assert (
        got["status"] == "RUNS_DELETED" and got["submissionSummary"]["successfulDeleteSubmissionCount"] == 10
    )
    assert got["runSummary"]["deletedRunCount"] == 10
    assert {r["submissionStatus"] for r in client.list_runs_in_batch(batchId=b["id"])["runs"]} == {
        "DELETE_SUCCESS"
    }
    assert batch_statuses(emu, b["id"])[-4:] == ["STOPPING", "CANCELLED", "RUNS_DELETING", "RUNS_DELETED"]


def test_run_summary_at_processed_counts_a_member_deleted_and_its_id_reused_as_deleted(
    client: Any, emu: OmicsEmulator, workflow_id: str
) -> None:
    """Guide, "Batch runs" (HealthOmics 배치 실행, GetBatch): runSummary counts the batch's runs per status and is
    exact at PROCESSED (DELETED is one of its statuses); guide, "Working with HealthOmics runs": the ids of
    deleted runs are reused, the uuid tells the runs apart. A new run that took a deleted member's id is not
    a member: the member is counted DELETED, the stranger not at all."""
    emu.reuse_deleted_run_ids = True
    emu.faults.runs.append(RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1"))
    b = client.start_run_batch(requestId="reuse", defaultRunSetting=default(workflow_id), batchRunSettings=inline(3))
    emu.run_until_idle()
    failed = client.list_runs_in_batch(batchId=b["id"], runSettingId="s1")["runs"][0]["runId"]
    # Given the failed member was deleted and a standalone run took its id and completed
    client.delete_run(id=failed)
    stranger = client.start_run(workflowId=workflow_id, roleArn=ROLE, outputUri=OUT, requestId="stranger")
    assert stranger["id"] == failed
    emu.run_until_idle()
    # Then GetBatch counts the member as deleted and the stranger not at all
    got = client.get_batch(batchId=b["id"])
    assert got["status"] == "PROCESSED"
    counts = {k: v for k, v in got["runSummary"].items() if v}
    assert counts == {"completedRunCount": 2, "deletedRunCount": 1}
