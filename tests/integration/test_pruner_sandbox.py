"""Sandbox: the emulator writes real cache entries into (moto) S3, a service update bumps the manifest
version, the stack's own pruner (planner + queue + worker, from the synthesized template) deletes the
stale entries, and a following re-run still gets cache hits from the current ones; an enforce pass is
undone with `autopilot cache restore`."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from autopilot_cli.app import main
from autopilot_cli.target import SandboxTarget
from sandbox.local import LocalAccount
from sandbox.omics import OutputSpec, TaskSpec

pytestmark = pytest.mark.slow

TASKS = [
    TaskSpec("align", (), 600, (OutputSpec("bam", 4096),)),
    TaskSpec("call", ("align",), 300, (OutputSpec("vcf", 1024),)),
]


def run(account: LocalAccount, workflow_id: str, request_id: str) -> str:
    omics = account.omics
    run_id = omics.start_run(
        workflowId=workflow_id,
        roleArn=account.outputs["OmicsServiceRoleArn"],
        requestId=request_id,
        outputUri=f"s3://{account.outputs['RunOutputsBucketName']}/runs/",
        parameters={"sample": "S1"},
        cacheId=account.outputs["RunCacheId"],
        cacheBehavior="CACHE_ALWAYS",
    )["id"]
    for _ in range(200):
        account.step(300)
        if omics.get_run(id=run_id)["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            break
    account.deliver()
    return str(run_id)


def tasks(account: LocalAccount, run_id: str) -> list[dict[str, Any]]:
    return account.omics.list_run_tasks(id=run_id)["items"]


def function(account: LocalAccount, handler: str) -> Any:
    [spec] = [s for s in account.resources.functions.values() if s.handler == handler]
    return spec


def test_version_bump_then_prune_reclaims_bytes_and_current_entries_still_hit() -> None:
    with LocalAccount() as account:
        emulator = account.emulator
        cache_id = account.outputs["RunCacheId"]
        workflow_id = emulator.register_workflow("germline", tasks=TASKS)
        # Given run A's entries written under manifest version 1
        run_a = run(account, workflow_id, "run-a")
        old = [e for e in emulator.cache_store.entries(cache_id) if e.version == 1]
        assert {e.run_id for e in old} == {run_a} and len(old) == 2
        # When a service update bumps the version, run B recomputes and writes version-2 entries
        assert emulator.bump_manifest_version() == 2
        run_b = run(account, workflow_id, "run-b")
        assert not any(t["cacheHit"] for t in tasks(account, run_b))
        # And the pruner runs on demand (enforce) through the stack's planner, queue and worker
        planner = function(account, "pruner.handler.lambda_handler")
        result = account.invoke(planner, {"mode": "enforce"})
        assert [p["status"] for p in result["passes"]] == ["STARTED"]
        account.deliver()
        # (a request the planner refuses fails with its own reason here: a deployed function's error names its
        # type, code and operation only, but a local account has no shipped log to keep the text out of)
        with pytest.raises(ValidationError, match="mode"):
            account.invoke(planner, {"mode": "bogus"})
        # Then exactly run A's entries are gone, with their bytes reclaimed and recorded
        [record] = account.repository.prune_history(cache_id)
        assert record["status"] == "COMPLETED" and record["mode"] == "enforce"
        assert record["entries_deleted"] == 2 and record["stale"] == 2
        assert record["bytes_reclaimed"] == sum(e.size_bytes for e in old)
        bucket = account.outputs.get("RunCacheBucketName") or old[0].bucket
        left = {o["Key"] for o in account.s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert not any(f"/{run_a}/" in key for key in left)
        assert any(f"/{run_b}/" in key for key in left)
        # And a following re-run gets cache hits from the current entries
        run_c = run(account, workflow_id, "run-c")
        hits = tasks(account, run_c)
        assert hits and all(t["cacheHit"] for t in hits)
        assert all(f"/{run_b}/" in t["cacheS3Uri"] for t in hits)


def test_an_enforce_pass_that_deleted_current_entries_is_undone_and_a_rerun_hits_them_again() -> None:
    """A mistaken `pruneMinVersion` (2, while the service writes version 1) makes every entry stale; the
    operator undoes the pass with `autopilot cache restore <passId>`, and HealthOmics (the emulator, which
    serves a hit only when the entry's manifest is in S3) hits the restored entries again."""
    with LocalAccount({"pruneMinVersion": 2}) as account:
        emulator = account.emulator
        cache_id = account.outputs["RunCacheId"]
        workflow_id = emulator.register_workflow("germline", tasks=TASKS)
        run_a = run(account, workflow_id, "run-a")
        entries = emulator.cache_store.entries(cache_id)
        assert len(entries) == 2 and {e.version for e in entries} == {1}
        bucket = entries[0].bucket

        def cache_keys() -> set[str]:
            return {o["Key"] for o in account.s3.list_objects_v2(Bucket=bucket).get("Contents", [])}

        before = cache_keys()
        # Given an enforce pass (CLI) that deleted the current entries
        code, out, err = cli(account, "--json", "cache", "prune", "--enforce")
        assert code == 0, err
        pass_id = json.loads(out)["latest_pass"]["pass_id"]
        assert not any(f"/{run_a}/" in key for key in cache_keys())
        # When the operator restores the pass
        code, out, err = cli(account, "--json", "cache", "restore", pass_id)
        assert code == 0, err
        restored = json.loads(out)
        # Then every deleted object is back and a re-run hits the restored entries
        assert cache_keys() == before
        assert restored["restored"] == len(before) and restored["not_restorable"] == restored["failed"] == 0
        run_b = run(account, workflow_id, "run-b")
        hits = tasks(account, run_b)
        assert hits and all(t["cacheHit"] for t in hits)
        assert all(f"/{run_a}/" in t["cacheS3Uri"] for t in hits)
        # And `cache settle`, answered by the stack's pruner function, refuses the finished pass (exit 1) and does
        # not find an unknown one (exit 3)
        code, _, err = cli(account, "cache", "settle", pass_id)
        assert code == 1 and "COMPLETED" in err, err
        assert cli(account, "cache", "settle", "0000000000000000")[0] == 3


def cli(account: LocalAccount, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), target=SandboxTarget(account), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_pass_from_an_s3_inventory_report_prunes_through_the_stacks_planner_and_worker() -> None:
    """pruneInventories for the stack's own cache (`runCache`): a report generated in (moto) S3 as S3 Inventory
    publishes one (tests/pruner_synthetic.write_inventory) drives the pass; an entry written after the report
    is not considered."""
    from tests.pruner_synthetic import write_inventory

    inventories = {"runCache": {"destination": "s3://inventory-reports/inv/", "configId": "cache-daily"}}
    with LocalAccount({"pruneInventories": inventories}) as account:
        emulator = account.emulator
        cache_id = account.outputs["RunCacheId"]
        workflow_id = emulator.register_workflow("germline", tasks=TASKS)
        # Given run A's entries (version 1), a version bump and run B's entries (version 2)
        run_a = run(account, workflow_id, "run-a")
        assert emulator.bump_manifest_version() == 2
        run_b = run(account, workflow_id, "run-b")
        bucket = emulator.cache_store.entries(cache_id)[0].bucket
        listed = account.s3.list_objects_v2(Bucket=bucket)["Contents"]
        # And a daily report of the cache bucket made an hour ago
        account.s3.create_bucket(Bucket="inventory-reports")
        write_inventory(
            lambda key, body: account.s3.put_object(Bucket="inventory-reports", Key=key, Body=body),
            destination_bucket="inventory-reports",
            destination_prefix="inv/",
            source_bucket=bucket,
            config_id="cache-daily",
            created=account.clock.now() - timedelta(hours=1),
            rows=[{"Key": o["Key"], "Size": o["Size"], "LastModifiedDate": o["LastModified"]} for o in listed],
        )
        # And a stale-looking copy of run A's entries written after the report, under another run id
        late = [o["Key"] for o in listed if f"/{run_a}/" in o["Key"]]
        for key in late:
            body = account.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            account.s3.put_object(Bucket=bucket, Key=key.replace(f"/{run_a}/", "/99999/"), Body=body)
        # When the stack's planner runs an enforce pass
        result = account.invoke(function(account, "pruner.handler.lambda_handler"), {"mode": "enforce"})
        account.deliver()
        # Then it used the report and deleted run A's entries; the late copies were not considered
        [started] = result["passes"]
        assert started["status"] == "STARTED" and started["listing"] == "inventory"
        [record] = account.repository.prune_history(cache_id)
        assert record["status"] == "COMPLETED" and record["entries_deleted"] == 2
        assert record["entries_scanned"] == 4  # the report's four manifests, not the two written after it
        left = {o["Key"] for o in account.s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert not any(f"/{run_a}/" in key for key in left)
        assert any(f"/{run_b}/" in key for key in left)
        assert {key.replace(f"/{run_a}/", "/99999/") for key in late} <= left
