"""Contract: every implemented operation through the real boto3 client, in both transports.

Responses must parse under botocore's omics model and satisfy the output shapes; bad requests must
raise ClientError with the documented error code and HTTP status.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.omics import OmicsEmulator, TaskSpec, definition_zip, serve_http
from tests.sandbox.conftest import BUCKET, OUT, ROLE, put_json, start
from tests.sandbox.helpers import assert_valid_response

IMPLEMENTED = {
    "CreateWorkflow", "GetWorkflow", "ListWorkflows", "StartRun", "GetRun", "ListRuns", "CancelRun",
    "DeleteRun", "ListRunTasks", "GetRunTask", "CreateRunCache", "GetRunCache", "ListRunCaches",
    "UpdateRunCache", "DeleteRunCache", "StartRunBatch", "GetBatch", "ListBatch", "ListRunsInBatch",
    "CancelRunBatch", "DeleteRunBatch", "DeleteBatch", "TagResource", "UntagResource", "ListTagsForResource",
}  # fmt: skip


def expect_error(code: str, status: int, fn: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        fn(*args, **kwargs)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_emulator_serves_the_required_operations(emu: OmicsEmulator) -> None:
    assert emu.operations >= IMPLEMENTED


def test_workflow_operations(omics: Any) -> None:
    zipped = definition_zip([TaskSpec("only", (), 30)])
    created = omics.create_workflow(
        name="wf-a", engine="WDL", definitionZip=zipped, requestId="wf-1", tags={"t": "1"}
    )
    assert_valid_response("CreateWorkflow", created)
    again = omics.create_workflow(name="wf-a", engine="WDL", definitionZip=zipped, requestId="wf-1")
    assert again["id"] == created["id"]
    got = omics.get_workflow(id=created["id"])
    assert_valid_response("GetWorkflow", got)
    assert got["name"] == "wf-a" and got["status"] == "ACTIVE" and got["tags"] == {"t": "1"}
    listed = omics.list_workflows(maxResults=1)
    assert_valid_response("ListWorkflows", listed)
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    expect_error("ResourceNotFoundException", 404, omics.get_workflow, id="0000000")
    expect_error("ValidationException", 400, omics.create_workflow, name="x", requestId="wf-2")
    expect_error(
        "ValidationException",
        400,
        omics.create_workflow,
        name="x",
        definitionZip=b"not a zip",
        requestId="wf-3",
    )


def test_run_operations(omics: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    run = start(
        omics, workflow_id, "req-1", name="sample-1", tags={"sample": "s1"}, parameters={"in": "s3://x/y"}
    )
    assert_valid_response("StartRun", run)
    assert run["status"] == "PENDING"
    got = omics.get_run(id=run["id"])
    assert_valid_response("GetRun", got)
    assert got["tags"] == {"sample": "s1"} and got["parameters"] == {"in": "s3://x/y"}
    emu.advance(200)
    tasks = omics.list_run_tasks(id=run["id"])
    assert_valid_response("ListRunTasks", tasks)
    task = omics.get_run_task(id=run["id"], taskId=tasks["items"][0]["taskId"])
    assert_valid_response("GetRunTask", task)
    listed = omics.list_runs(name="sample", status="RUNNING", maxResults=10)
    assert_valid_response("ListRuns", listed)
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    assert_valid_response("CancelRun", omics.cancel_run(id=run["id"]))
    expect_error("ConflictException", 409, omics.cancel_run, id=run["id"])
    expect_error("ConflictException", 409, omics.delete_run, id=run["id"])
    emu.run_until_idle()
    assert omics.get_run(id=run["id"])["status"] == "CANCELLED"
    assert_valid_response("DeleteRun", omics.delete_run(id=run["id"]))
    expect_error("ResourceNotFoundException", 404, omics.get_run, id=run["id"])
    expect_error("ResourceNotFoundException", 404, omics.get_run_task, id="1234567", taskId="1")
    expect_error("ResourceNotFoundException", 404, omics.list_run_tasks, id="1234567")
    expect_error("ResourceNotFoundException", 404, start, omics, "7654321", "req-2")
    expect_error("ValidationException", 400, start, omics, workflow_id, "req-3", outputUri="/tmp/not-s3")
    expect_error(
        "ValidationException", 400, start, omics, workflow_id, "req-4", parameters={"p": "x" * 50_001}
    )
    expect_error(
        "ValidationException",
        400,
        start,
        omics,
        workflow_id,
        "req-5",
        storageType="DYNAMIC",
        storageCapacity=10,
    )
    expect_error("ValidationException", 400, start, omics, workflow_id, "req-6", cacheBehavior="CACHE_ALWAYS")
    expect_error("ResourceNotFoundException", 404, start, omics, workflow_id, "req-7", cacheId="1111111")
    expect_error("ValidationException", 400, omics.list_runs, startingToken="garbage")


def test_run_cache_operations(omics: Any) -> None:
    created = omics.create_run_cache(
        cacheS3Location=f"s3://{BUCKET}/cache/", requestId="c-1", name="c", tags={"a": "b"}
    )
    assert_valid_response("CreateRunCache", created)
    got = omics.get_run_cache(id=created["id"])
    assert_valid_response("GetRunCache", got)
    assert got["cacheS3Uri"] == f"s3://{BUCKET}/cache/" and got["cacheBehavior"] == "CACHE_ON_FAILURE"
    assert_valid_response(
        "UpdateRunCache", omics.update_run_cache(id=created["id"], cacheBehavior="CACHE_ALWAYS")
    )
    assert omics.get_run_cache(id=created["id"])["cacheBehavior"] == "CACHE_ALWAYS"
    listed = omics.list_run_caches()
    assert_valid_response("ListRunCaches", listed)
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert_valid_response("DeleteRunCache", omics.delete_run_cache(id=created["id"]))
    expect_error("ResourceNotFoundException", 404, omics.get_run_cache, id=created["id"])
    expect_error("ValidationException", 400, omics.create_run_cache, cacheS3Location="nope", requestId="c-2")


def test_batch_operations(omics: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    default = {"workflowId": workflow_id, "roleArn": ROLE, "outputUri": OUT}
    settings = {"inlineSettings": [{"runSettingId": f"s-{i}"} for i in range(3)]}
    started = omics.start_run_batch(
        batchName="b", requestId="b-1", defaultRunSetting=default, batchRunSettings=settings
    )
    assert_valid_response("StartRunBatch", started)
    assert started["status"] == "CREATING"
    emu.advance(10)
    got = omics.get_batch(batchId=started["id"])
    assert_valid_response("GetBatch", got)
    listed = omics.list_batch(maxItems=5)
    assert_valid_response("ListBatch", listed)
    in_batch = omics.list_runs_in_batch(batchId=started["id"], maxItems=2)
    assert_valid_response("ListRunsInBatch", in_batch)
    expect_error("ConflictException", 409, omics.delete_run_batch, batchId=started["id"])
    expect_error("ConflictException", 409, omics.delete_batch, batchId=started["id"])
    assert_valid_response("CancelRunBatch", omics.cancel_run_batch(batchId=started["id"]))
    emu.run_until_idle()
    assert omics.get_batch(batchId=started["id"])["status"] == "CANCELLED"
    expect_error("ConflictException", 409, omics.cancel_run_batch, batchId=started["id"])
    assert_valid_response("DeleteRunBatch", omics.delete_run_batch(batchId=started["id"]))
    emu.run_until_idle()
    assert omics.get_batch(batchId=started["id"])["status"] == "RUNS_DELETED"
    assert_valid_response("DeleteBatch", omics.delete_batch(batchId=started["id"]))
    expect_error("ResourceNotFoundException", 404, omics.get_batch, batchId=started["id"])
    expect_error("ResourceNotFoundException", 404, omics.list_runs_in_batch, batchId=started["id"])
    expect_error(
        "ValidationException", 400, omics.list_runs_in_batch, batchId="1", runId="2", runSettingId="x"
    )
    too_many = {"inlineSettings": [{"runSettingId": f"s-{i}"} for i in range(101)]}
    expect_error(
        "ValidationException", 400, omics.start_run_batch, requestId="b-2", defaultRunSetting=default,
        batchRunSettings=too_many,
    )  # fmt: skip
    missing_wf = {**default, "workflowId": "9999999"}
    expect_error(
        "ResourceNotFoundException", 404, omics.start_run_batch, requestId="b-3",
        defaultRunSetting=missing_wf,
        batchRunSettings=settings,
    )  # fmt: skip
    expect_error(
        "ValidationException", 400, omics.start_run_batch, requestId="b-4", defaultRunSetting=default,
        batchRunSettings={"s3UriSettings": f"s3://{BUCKET}/missing.json"},
    )  # fmt: skip


def test_batch_from_s3_settings(omics: Any, emu: OmicsEmulator, s3: Any, workflow_id: str) -> None:
    uri = put_json(s3, "configs/runs.json", [{"runSettingId": f"r{i}"} for i in range(7)])
    default = {"workflowId": workflow_id, "roleArn": ROLE, "outputUri": OUT}
    started = omics.start_run_batch(
        requestId="b-s3", defaultRunSetting=default, batchRunSettings={"s3UriSettings": uri}
    )
    emu.run_until_idle()
    got = omics.get_batch(batchId=started["id"])
    assert got["status"] == "PROCESSED" and got["totalRuns"] == 7


def test_tag_operations(omics: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    run = start(omics, workflow_id, "tag-run", tags={"a": "1"})
    assert_valid_response("TagResource", omics.tag_resource(resourceArn=run["arn"], tags={"b": "2"}))
    listed = omics.list_tags_for_resource(resourceArn=run["arn"])
    assert_valid_response("ListTagsForResource", listed)
    assert listed["tags"] == {"a": "1", "b": "2"}
    assert_valid_response("UntagResource", omics.untag_resource(resourceArn=run["arn"], tagKeys=["a"]))
    assert omics.list_tags_for_resource(resourceArn=run["arn"])["tags"] == {"b": "2"}
    missing = "arn:aws:omics:us-east-1:123456789012:run/0000001"
    expect_error("ResourceNotFoundException", 404, omics.list_tags_for_resource, resourceArn=missing)
    expect_error(
        "ValidationException",
        400,
        omics.tag_resource,
        resourceArn=run["arn"],
        tags={f"k{i}": "v" for i in range(60)},
    )


def test_throttling_is_a_throttling_exception(omics: Any, emu: OmicsEmulator) -> None:
    emu.faults.throttle["ListRuns"] = 1.0
    expect_error("ThrottlingException", 429, omics.list_runs)
    assert emu.calls["ListRuns"] == 1


def test_service_quota_on_max_runs(omics: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    emu.max_runs = 1
    start(omics, workflow_id, "q-1")
    expect_error("ServiceQuotaExceededException", 402, start, omics, workflow_id, "q-2")


def test_unimplemented_operation_is_reported(omics: Any) -> None:
    expect_error("NotImplementedException", 501, omics.list_run_groups)


def test_http_transport_via_environment(emu: OmicsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """``server.env`` is all a client needs: AWS_ENDPOINT_URL_OMICS plus no host-prefix injection."""
    import boto3

    with serve_http(emu) as server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        listed = boto3.client("omics", region_name="us-east-1").list_runs()
    assert listed["items"] == [] and emu.calls["ListRuns"] == 1
