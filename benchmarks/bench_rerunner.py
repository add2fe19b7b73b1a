"""Re-runner benchmark (issue 5): recovering K = 500 failed members of a 10,000-run batch.

Measured in one run against the HealthOmics emulator (moto for DynamoDB and S3):
- follow-up batch (what the re-runner does), with the recorder caught up ("warm": the failed runs' facts
  come from provenance) and with nothing recorded ("cold": ListRuns + GetRun find them);
- one StartRun(runId=...) per failed run (what a per-run tool does: a GetRun to read the failure reason,
  then a StartRun), for comparison.
Figures: HealthOmics calls by API, and the time those calls need under the default quotas
(the guide, 'HealthOmics service quotas'; StartRun is 1 TPS in the guide's table and 5 in the service-quota
table, both shown),
plus the virtual seconds the service needs to create the 500 new runs (batch submission is paced by the
same StartRun quota). Sizes: BENCH_RERUN_RUNS (10000) and BENCH_RERUN_FAILED (500).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

QUOTA_TPS = {
    "StartRun": 1.0,
    "StartRunBatch": 1.0,
    "GetBatch": 10.0,
    "ListRunsInBatch": 10.0,
    "GetRun": 10.0,
    "ListRuns": 10.0,
    "ListRunTasks": 10.0,
}
BUCKET = "bench-rerunner"
ROLE = "arn:aws:iam::123456789012:role/omics-service"


def _quota_seconds(calls: Counter[str], start_run_tps: float = 1.0) -> float:
    tps = {**QUOTA_TPS, "StartRun": start_run_tps}
    return sum(count / tps.get(op, 10.0) for op, count in calls.items())


def _delta(before: Counter[str], after: Counter[str]) -> Counter[str]:
    return Counter({op: after[op] - before[op] for op in after if after[op] != before[op]})


def _measure(emulator: Any, action: Callable[[], Any],
             requests: Counter[str] | None = None) -> tuple[Any, Counter[str], float, Counter[str]]:
    """What `action` returns, the HealthOmics calls it made, its wall time and the DynamoDB requests it made
    (`requests`: a counter the repository's client adds to)."""
    before, before_requests = Counter(emulator.calls), Counter(requests or {})
    started = time.perf_counter()
    result = action()
    wall = time.perf_counter() - started
    return result, _delta(before, Counter(emulator.calls)), wall, _delta(before_requests, Counter(requests or {}))


def main() -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }.items():
        os.environ.setdefault(name, value)
    import boto3
    from moto import mock_aws

    from rerunner.dal import AwsAccess
    from rerunner.logic import Config, Rerunner
    from rerunner.policy import load_policy
    from rerunner.work import Work
    from sandbox.moto_speedups import speedups
    from sandbox.omics import FaultPlan, OmicsEmulator, OutputSpec, RunFault, TaskSpec, VirtualClock, mock_omics
    from shared.batch_submit import start_batch
    from shared.provenance.from_omics import run_details
    from shared.provenance.items import BatchMember
    from shared.provenance.repository import ProvenanceRepository
    from tests.factories import create_provenance_table

    runs = int(os.environ.get("BENCH_RERUN_RUNS", "10000"))
    failed_count = int(os.environ.get("BENCH_RERUN_FAILED", "500"))
    every = max(1, runs // failed_count)

    # moto with the sandbox's fast paths (sandbox/moto_speedups.py, each contract-tested against plain moto):
    # plain moto reads and sorts the whole table for every Query, which made this benchmark quadratic in the
    # batch (the warm re-runner reads each member's summary: 10,000 Queries of a 10,000-summary table).
    with speedups(), mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb")
        warm = ProvenanceRepository(create_provenance_table(ddb, "warm"))
        cold = ProvenanceRepository(create_provenance_table(ddb, "cold"))
        faults = FaultPlan(
            runs=[
                RunFault(
                    reason="SERVICE_ERROR",
                    at_task="call",
                    predicate=lambda r: int((r.run_setting_id or "s1")[1:]) % every == 0,
                )
            ],
            start_run_tps=1.0,
        )
        clock = VirtualClock(start=datetime(2026, 6, 1, tzinfo=UTC))
        emulator = OmicsEmulator(clock=clock, s3=s3, faults=faults, event_sink=lambda events: None)
        workflow = emulator.register_workflow(
            "wgs",
            tasks=[
                TaskSpec("align", (), 600.0, (OutputSpec("bam", 1024),)),
                TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 512),)),
            ],
        )
        with mock_omics(emulator):
            omics = boto3.client("omics")
            cache = omics.create_run_cache(cacheS3Location=f"s3://{BUCKET}/cache/", requestId="bench")["id"]
            entries = [
                {
                    "runSettingId": f"s{i}",
                    "name": f"s{i}",
                    "parameters": {"sample": f"s{i}"},
                    "runTags": {"autopilot:sample": f"s{i}"},
                }
                for i in range(runs)
            ]
            s3.put_object(Bucket=BUCKET, Key="cohort.json", Body=json.dumps(entries).encode())
            request = {
                "requestId": "bench-cohort",
                "batchName": "cohort",
                "defaultRunSetting": {
                    "workflowId": workflow,
                    "roleArn": ROLE,
                    "outputUri": f"s3://{BUCKET}/out",
                    "cacheId": cache,
                    "cacheBehavior": "CACHE_ON_FAILURE",
                },
                "batchRunSettings": {"s3UriSettings": f"s3://{BUCKET}/cohort.json"},
            }
            batch_id = start_batch(omics, warm, request, origin="launcher", sleep=lambda _: None)
            cold.put_batch_request(batch_id, request, "launcher")
            started = time.perf_counter()
            emulator.run_until_idle()
            simulate_seconds = time.perf_counter() - started
            batch = emulator.batches[batch_id]
            failed_ids = [r.id for r in emulator.batch_runs(batch) if r.status == "FAILED"]
            print(
                f"batch of {runs} runs PROCESSED in the emulator ({simulate_seconds:.0f} s wall); "
                f"failed members: {len(failed_ids)}"
            )

            # The recorder's state once caught up: every member's terminal outcome, and GetRun's facts for the
            # failed ones (the recorder's own GetRun/ListRunTasks calls are its cost, not counted here).
            started = time.perf_counter()
            items = []
            for run in emulator.batch_runs(batch):
                item = {
                    "pk": f"RUN#{run.id}",
                    "sk": f"SUMMARY#{run.uuid}",  # a run is (id, uuid): keys.run_summary_sk
                    "entity": "RUN",
                    "run_id": run.id,
                    "run_uuid": run.uuid,
                    "status": run.status,
                    "outcome": run.status,
                }
                if run.status == "FAILED":
                    details = run_details(emulator.dispatch("GetRun", {"id": run.id}))
                    item.update(details.model_dump(exclude_none=True), details_recorded_at=clock.now().isoformat(),
                                api_status=details.status)  # GetRun's status, kept beside the ordered one
                items.append(item)
            assert not warm.put_items(items)
            # and every ListRunsInBatch row (BATCH#<id>/MEMBER#), which it records with checkpoints
            members = [BatchMember(batch_id=batch_id, run_setting_id=e.run_setting_id, run_id=e.run_id,
                                   submission_status=e.submission_status) for e in batch.entries]
            assert not warm.put_batch_members(batch_id, 0, members, clock.now().isoformat())
            warm.mark_batch_members_recorded(batch_id, batch_id, 0, len(members), clock.now().isoformat())
            print(
                f"provenance seeded as the recorder leaves it: {len(items)} run summaries and {len(members)} "
                f"members ({time.perf_counter() - started:.0f} s)"
            )

            config = Config(
                policy=load_policy({"brake": {"maxFailures": 100_000}}),
                run_cache_id=cache,
                omics_role_arn=ROLE,
                settings_bucket=BUCKET,
            )
            access = AwsAccess(omics=lambda: omics, sleep=lambda _: None)
            work = Work(kind="batch", id=batch_id)
            results: dict[str, tuple[Counter[str], float, Counter[str]]] = {}
            requests: Counter[str] = Counter()
            for client in {id(r.client): r.client for r in (warm, cold)}.values():  # the two may share one
                client.meta.events.register("before-call.dynamodb", lambda model, **_: requests.update([model.name]))
            for label, repository in (
                ("follow-up batch, recorder caught up", warm),
                ("follow-up batch, nothing recorded", cold),
            ):
                rerunner = Rerunner(repository, access, config, now=clock.now)
                outcome, calls, wall, made = _measure(emulator, partial(rerunner.handle, work), requests)
                results[label] = (calls, wall, made)
                follow_up = outcome.started[0]
            submitted_at = clock.now()
            while emulator.batches[follow_up].status in ("CREATING", "PENDING", "SUBMITTING"):
                emulator.advance(5)
            batch_submission = (clock.now() - submitted_at).total_seconds()
            created = len(emulator.batches[follow_up].entries)

            def per_run() -> None:
                for attempt, run_id in enumerate(failed_ids):
                    details = omics.get_run(id=run_id)
                    omics.start_run(
                        runId=run_id,
                        roleArn=details["roleArn"],
                        outputUri=details["outputUri"],
                        cacheId=cache,
                        cacheBehavior="CACHE_ON_FAILURE",
                        requestId=f"bench-per-run-{run_id}-{attempt}",
                    )

            _, calls, wall, made = _measure(emulator, per_run, requests)
            results["one StartRun per failed run"] = (calls, wall, made)

    print(
        f"\nrecovering K={len(failed_ids)} failed members of a {runs}-run batch (follow-up batch holds {created} runs)"
    )
    print(f"{'approach':40} {'HealthOmics calls':>18} {'quota s (StartRun 1/5 TPS)':>28} {'wall s':>8}  calls by API;"
          " DynamoDB requests")
    for label, (calls, wall, made) in results.items():
        total = sum(calls.values())
        print(
            f"{label:40} {total:>18} {_quota_seconds(calls, 1.0):>17.1f} / {_quota_seconds(calls, 5.0):<8.1f}"
            f" {wall:>8.2f}  {dict(sorted(calls.items()))}; {sum(made.values())} {dict(sorted(made.items()))}"
        )
    per_run_calls = sum(results["one StartRun per failed run"][0].values())
    for label in ("follow-up batch, recorder caught up", "follow-up batch, nothing recorded"):
        calls = results[label][0]
        print(
            f"ratio calls per-run / {label}: {per_run_calls / max(1, sum(calls.values())):.1f}x; "
            f"start calls: {calls['StartRunBatch']} StartRunBatch vs "
            f"{results['one StartRun per failed run'][0]['StartRun']} StartRun"
        )
    print(
        f"service-side: the follow-up batch's {created} runs were all submitted after {batch_submission:.0f} "
        f"virtual s at the StartRun pace of {faults.start_run_tps:g}/s "
        f"(per-run StartRun calls need {len(failed_ids) / 1.0:.0f} s at 1 TPS, of the caller's time)"
    )


if __name__ == "__main__":
    main()
