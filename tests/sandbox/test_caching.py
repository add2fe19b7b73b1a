"""Behaviour of call caching.

Guide: HealthOmics 실행을 위한 호출 캐싱; Fonctionnement de la mise en cache des appels.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.omics import OmicsEmulator, RunFault
from tests.sandbox.conftest import BUCKET, OUT, ROLE, start


def make_cache(client: Any, behavior: str = "CACHE_ON_FAILURE") -> dict[str, Any]:
    c = client.create_run_cache(
        cacheS3Location=f"s3://{BUCKET}/cache/", requestId=f"c-{behavior}", cacheBehavior=behavior
    )
    return client.get_run_cache(id=c["id"])


def keys(s3: Any, prefix: str = "cache/") -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def manifests(s3: Any) -> list[dict[str, Any]]:
    return [
        json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
        for k in keys(s3)
        if k.endswith(".json")
    ]


def rerun(client: Any, run_id: str, rid: str) -> dict[str, Any]:
    return client.start_run(runId=run_id, roleArn=ROLE, outputUri=OUT, requestId=rid)


def test_cache_layout_and_manifest(client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str) -> None:
    """Guide, S3 layout of call caching:
    {cacheS3Location}/{cacheUuid}/{runId}/{taskId}/{entryUuid}/{entryUuid}.json + outputs."""
    cache = make_cache(client, "CACHE_ALWAYS")
    run = start(client, workflow_id, "lay", cacheId=cache["id"])
    emu.run_until_idle()
    tasks = {t["taskId"]: t["name"] for t in client.list_run_tasks(id=run["id"])["items"]}
    cache_uuid = emu.run_caches[cache["id"]].uuid
    entries = manifests(s3)
    assert len(entries) == 3
    for m in entries:
        assert set(m) == {
            "arn",
            "s3uri",
            "taskArn",
            "workDir",
            "files",
            "nextflowContext",
            "otherOutputs",
            "version",
        }
        task_id = m["taskArn"].rsplit("/", 1)[1]
        entry_uuid = m["arn"].rsplit("/", 1)[1]
        assert (
            m["arn"] == f"arn:aws:omics:us-east-1:123456789012:runCache/{cache['id']}/cacheEntry/{entry_uuid}"
        )
        assert m["s3uri"] == f"s3://{BUCKET}/cache/{cache_uuid}/{run['id']}/{task_id}/{entry_uuid}"
        assert task_id in tasks and m["version"] == emu.manifest_version == 1
        for f in m["files"]:
            head = s3.head_object(Bucket=BUCKET, Key=f"{m['s3uri'][len(f's3://{BUCKET}/') :]}/{f['path']}")
            assert head["ETag"].strip('"') == f["etag"] and head["ContentLength"] > 0
    assert client.get_run(id=run["id"])["cacheBehavior"] == "CACHE_ALWAYS"


def test_cache_on_failure_saves_only_failed_runs(
    client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str
) -> None:
    """Guide: CACHE_ON_FAILURE saves completed tasks of failed runs; a completed run saves nothing."""
    cache = make_cache(client)
    start(client, workflow_id, "ok", cacheId=cache["id"])
    emu.run_until_idle()
    assert keys(s3) == []
    emu.faults.runs.append(RunFault(reason="RUN_TASK_FAILED", at_task="report", run_name="fails"))
    start(client, workflow_id, "bad", cacheId=cache["id"], name="fails", parameters={"s": 2})
    emu.run_until_idle()
    assert len(manifests(s3)) == 2  # align and call completed before report failed


def test_rerun_hits_the_cache_and_resumes(client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str) -> None:
    """Guide: a re-run with the same inputs resumes after the last completed task (cacheHit, cacheS3Uri)."""
    cache = make_cache(client)
    emu.faults.runs.append(RunFault(reason="SERVICE_ERROR", at_task="report", run_name="s1"))
    first = start(client, workflow_id, "first", cacheId=cache["id"], name="s1", parameters={"in": "s3://x/1"})
    emu.run_until_idle()
    second = rerun(client, first["id"], "second")
    emu.run_until_idle()
    assert client.get_run(id=second["id"])["status"] == "COMPLETED"
    tasks = {t["name"]: t for t in client.list_run_tasks(id=second["id"])["items"]}
    assert tasks["align"]["cacheHit"] and tasks["call"]["cacheHit"] and not tasks["report"]["cacheHit"]
    entry_uris = {m["s3uri"] for m in manifests(s3)}
    assert tasks["align"]["cacheS3Uri"] in entry_uris
    assert client.get_run_task(id=second["id"], taskId=tasks["call"]["taskId"])["cacheHit"] is True
    other = start(client, workflow_id, "other", cacheId=cache["id"], parameters={"in": "s3://x/2"})
    emu.run_until_idle()
    assert not any(t["cacheHit"] for t in client.list_run_tasks(id=other["id"])["items"])


def test_bump_manifest_version_makes_old_entries_misses(
    client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str
) -> None:
    """Guide: entries with an older manifest version are never reused."""
    cache = make_cache(client, "CACHE_ALWAYS")
    first = start(client, workflow_id, "v1", cacheId=cache["id"])
    emu.run_until_idle()
    assert emu.bump_manifest_version() == 2
    second = rerun(client, first["id"], "v2")
    emu.run_until_idle()
    assert not any(t["cacheHit"] for t in client.list_run_tasks(id=second["id"])["items"])
    assert sorted(m["version"] for m in manifests(s3)) == [1, 1, 1, 2, 2, 2]
    third = rerun(client, first["id"], "v2-again")
    emu.run_until_idle()
    assert all(t["cacheHit"] for t in client.list_run_tasks(id=third["id"])["items"])


def test_pruned_entry_is_a_miss(client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str) -> None:
    """Guide: deleting a valid entry is harmless — the task is recomputed."""
    cache = make_cache(client, "CACHE_ALWAYS")
    first = start(client, workflow_id, "p1", cacheId=cache["id"])
    emu.run_until_idle()
    for key in keys(s3):
        s3.delete_object(Bucket=BUCKET, Key=key)
    second = rerun(client, first["id"], "p2")
    emu.run_until_idle()
    assert client.get_run(id=second["id"])["status"] == "COMPLETED"
    assert not any(t["cacheHit"] for t in client.list_run_tasks(id=second["id"])["items"])


def test_out_of_space_and_timeout_save_nothing(
    client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str
) -> None:
    """Guide: nothing is cached when the run fails with FILE_SYSTEM_OUT_OF_SPACE or times out."""
    cache = make_cache(client, "CACHE_ALWAYS")
    emu.faults.runs.append(RunFault(reason="FILE_SYSTEM_OUT_OF_SPACE", at_task="report", run_name="oos"))
    emu.faults.runs.append(RunFault(reason="RUN_TIMED_OUT", at_task="report", run_name="slow"))
    start(client, workflow_id, "oos", cacheId=cache["id"], name="oos")
    start(client, workflow_id, "slow", cacheId=cache["id"], name="slow", parameters={"x": 1})
    emu.run_until_idle()
    assert keys(s3) == []


def test_failure_before_any_task_saves_nothing(
    client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str
) -> None:
    """Guide: nothing is cached when the run fails before any task completes."""
    cache = make_cache(client)
    emu.faults.runs.append(RunFault(reason="INSTANCE_RESERVATION_FAILED", run_name="early"))
    run = start(client, workflow_id, "early", cacheId=cache["id"], name="early")
    emu.run_until_idle()
    assert client.get_run(id=run["id"])["failureReason"] == "INSTANCE_RESERVATION_FAILED"
    assert keys(s3) == []


def test_cancelled_run_exports_completed_tasks(
    client: Any, emu: OmicsEmulator, s3: Any, workflow_id: str
) -> None:
    """Guide: cancelled runs also export entries for tasks completed before the cancel."""
    cache = make_cache(client)
    run = start(client, workflow_id, "cx", cacheId=cache["id"])
    emu.advance(800)  # align done (~690 s), call running
    client.cancel_run(id=run["id"])
    emu.run_until_idle()
    (m,) = manifests(s3)
    assert m["taskArn"].endswith(
        next(t["taskId"] for t in client.list_run_tasks(id=run["id"])["items"] if t["name"] == "align")
    )
