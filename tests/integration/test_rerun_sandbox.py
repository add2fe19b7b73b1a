"""The whole account (sandbox.local.LocalAccount): resources from the synthesized template, the real
recorder and re-runner handlers driven through their queues with Lambda's SQS semantics."""

from __future__ import annotations

import pytest

from sandbox.local import STACK_NAME, LocalAccount
from sandbox.omics import FaultPlan, OutputSpec, RunFault, TaskSpec
from shared.provenance.views import attempt_chain, batch_view, run_view, unresolved_failures

TASKS = [
    TaskSpec("align", (), 600.0, (OutputSpec("bam", 4096),)),
    TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 1024),)),
    TaskSpec("report", ("call",), 60.0, (OutputSpec("html", 512),)),
]

pytestmark = pytest.mark.slow


def test_failed_run_is_rerun_from_cache_through_the_deployed_wiring() -> None:
    faults = FaultPlan(
        runs=[
            RunFault(reason="SERVICE_ERROR", at_task="report", run_name="wgs-1"),
            RunFault(reason="RUN_TASK_FAILED", at_task="call", run_setting_id="s2"),
        ]
    )
    with LocalAccount(faults=faults) as account:
        workflow = account.emulator.register_workflow("wgs", tasks=TASKS)
        outputs = account.outputs
        role, cache = outputs["OmicsServiceRoleArn"], outputs["RunCacheId"]
        bucket = outputs["RunOutputsBucketName"]
        failed = account.omics.start_run(
            workflowId=workflow,
            roleArn=role,
            outputUri=f"s3://{bucket}/out",
            name="wgs-1",
            requestId="wgs-1",
            cacheId=cache,
            cacheBehavior="CACHE_ON_FAILURE",
            parameters={"sample": "wgs-1"},
            tags={"autopilot:sample": "wgs-1", "autopilot:stack": STACK_NAME},  # as this stack starts runs
        )["id"]
        batch = account.omics.start_run_batch(
            requestId="cohort",
            batchName="cohort",
            tags={"autopilot:submission": "cohort", "autopilot:stack": STACK_NAME},  # as the launcher tags it
            defaultRunSetting={
                "workflowId": workflow,
                "roleArn": role,
                "outputUri": f"s3://{bucket}/out",
                "cacheId": cache,
                "cacheBehavior": "CACHE_ON_FAILURE",
            },
            batchRunSettings={
                "inlineSettings": [{"runSettingId": f"s{i}", "parameters": {"sample": f"s{i}"}} for i in range(1, 4)]
            },
        )["id"]
        assert account.run_until_quiet()
        repository = account.repository
        # the standalone run: re-run once, from the cache, resolved
        chain = attempt_chain(repository, failed)
        assert [(c["attempt"], c["status"]) for c in chain] == [(0, "FAILED"), (1, "COMPLETED")]
        view = run_view(repository, chain[1]["run_id"])
        assert view is not None and view.cache_hits == 2
        # the batch: one follow-up with s2 only, completed; every sample's final outcome COMPLETED
        samples = batch_view(repository, batch).samples
        assert {s: o.final.status for s, o in samples.items()} == {f"s{i}": "COMPLETED" for i in range(1, 4)}
        assert [a.attempt for a in samples["s2"].attempts] == [0, 1]
        assert unresolved_failures(repository) == []
        assert account.dlq_messages() == 0


def test_operator_actions_and_malformed_messages() -> None:
    with LocalAccount() as account:
        status = account.invoke("rerunner", {"action": "brake-status", "workflowId": "1234567"})
        assert status == {"workflowId": "1234567", "paused": False, "state": {}, "held": []}
        released = account.invoke(
            "rerunner", {"action": "release-brake", "workflowId": "1234567", "releasedBy": "alice"}
        )
        assert released["status"] == "RELEASED" and released["requeued"] == 0
        assert account.invoke("rerunner", {"action": "release-brake"}) == {"error": "workflowId is required"}
        # a malformed event of a consumed type is recorded as rejected, not retried forever
        record = {
            "messageId": "m1",
            "receiptHandle": "r1",
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1",
            "body": '{"source": "aws.omics", "detail-type": "Run Status Change", "id": "e1", "detail": {}}',
        }
        assert account.invoke("rerunner", {"Records": [record]}) == {"batchItemFailures": []}
        items = account.dynamodb.scan(TableName=account.table_name)["Items"]
        (rejected,) = [i for i in items if i["pk"]["S"].startswith("REJECTED#")]
        assert rejected["sk"]["S"] == "EVENT#e1" and "validation error" in rejected["reason"]["S"]


def test_a_delayed_rerun_waits_for_its_schedule_on_the_sandbox_clock() -> None:
    faults = FaultPlan(runs=[RunFault(reason="INSTANCE_RESERVATION_FAILED", run_name="wgs-2")])
    with LocalAccount(faults=faults) as account:
        workflow = account.emulator.register_workflow("wgs", tasks=TASKS)
        outputs = account.outputs
        failed = account.omics.start_run(
            workflowId=workflow,
            roleArn=outputs["OmicsServiceRoleArn"],
            name="wgs-2",
            requestId="wgs-2",
            outputUri=f"s3://{outputs['RunOutputsBucketName']}/out",
            cacheId=outputs["RunCacheId"],
            tags={"autopilot:sample": "wgs-2", "autopilot:stack": STACK_NAME},
        )["id"]
        assert account.run_until_quiet()
        chain = attempt_chain(account.repository, failed)
        assert [(c["attempt"], c["status"]) for c in chain] == [(0, "FAILED"), (1, "COMPLETED")]
        rerun = account.emulator.runs[chain[1]["run_id"]]
        failed_at = account.emulator.runs[failed].stop_time
        assert (rerun.creation_time - failed_at).total_seconds() >= 1800  # the default 30-minute wait
