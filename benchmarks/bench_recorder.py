"""Recorder benchmark (issue 2).

A generated stream of 1,000 runs x 20 tasks (the emulator's own events, duplicated 10 % and shuffled
within windows) through the real recorder handler in SQS batches of 100: HealthOmics calls per run and
DynamoDB requests per event, counted with botocore event hooks. moto runs with the sandbox's fast paths
(sandbox/moto_speedups.py, as the sandbox and the tests do). Size: BENCH_RECORDER_RUNS (1000).
Each handler's import time against `import boto3` (cold start) is bench_coldstart's.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RECORDER_RUNS", "1000"))
TASKS = 20
BATCH = 100


def _stream() -> tuple[list[dict[str, Any]], Any]:
    """Play 1,000 runs of a 20-task workflow in the emulator and keep every event it emits."""
    import boto3
    from moto import mock_aws

    from sandbox.omics import OmicsEmulator, TaskSpec, VirtualClock, mock_omics

    events: list[dict[str, Any]] = []
    with mock_aws():
        emulator = OmicsEmulator(clock=VirtualClock(), s3=boto3.client("s3", region_name="us-east-1"),
                                 event_sink=events.extend)
        tasks = [TaskSpec(name=f"t{i:02d}", duration_seconds=60 + i) for i in range(TASKS)]
        workflow = emulator.register_workflow("bench", tasks=tasks)
        with mock_omics(emulator):
            omics = boto3.client("omics", region_name="us-east-1")
            for i in range(RUNS):
                omics.start_run(workflowId=workflow, roleArn="arn:aws:iam::123456789012:role/omics",
                                outputUri="s3://bench/out/", requestId=f"bench-{i}", name=f"run-{i}")
        emulator.run_until_idle()
    return events, emulator


def _sqs_batches(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(42)
    stream = list(events) + rng.sample(events, len(events) // 10)  # 10 % duplicates
    windows = [stream[i:i + 500] for i in range(0, len(stream), 500)]
    for window in windows:
        rng.shuffle(window)  # reordered within a window, as a standard queue does
    stream = [e for w in windows for e in w]
    return [{"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": json.dumps(e),
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:provenance", "awsRegion": "us-east-1"}
                         for e in stream[i:i + BATCH]]} for i in range(0, len(stream), BATCH)]


def stream_costs() -> None:
    import boto3
    from moto import mock_aws

    from sandbox.moto_speedups import speedups
    from sandbox.omics import mock_omics
    from tests.factories import FakeLambdaContext, create_provenance_table

    started = time.perf_counter()
    events, emulator = _stream()
    kinds = Counter(e["detail-type"] for e in events)
    print(f"stream: {len(events)} events from {RUNS} runs x {TASKS} tasks ({dict(kinds)}), "
          f"generated in {time.perf_counter() - started:.1f} s")
    batches = _sqs_batches(events)
    delivered = sum(len(b["Records"]) for b in batches)
    os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR",
                       "POWERTOOLS_TRACE_DISABLED": "true", "OMICS_RATE_LIMITS": '{"*": 100000}',
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    # moto with the sandbox's fast paths (sandbox/moto_speedups.py, each contract-tested against plain moto)
    with speedups(), mock_aws(), mock_omics(emulator):
        os.environ["PROVENANCE_TABLE"] = create_provenance_table(boto3.client("dynamodb"))
        import recorder.handler as handler
        from shared.settings import get_settings

        get_settings.cache_clear()
        handler._recorder.cache_clear()
        recorder = handler._recorder()
        calls: Counter[str] = Counter()
        recorder.repository.client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: calls.update([f"dynamodb:{model.name}"]))
        recorder.omics.meta.events.register(
            "before-call.omics", lambda model, **_: calls.update([f"omics:{model.name}"]))
        failures = 0
        started = time.perf_counter()
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # EMF metric lines
            for batch in batches:
                failures += len(handler.lambda_handler(batch, FakeLambdaContext())["batchItemFailures"])
        elapsed = time.perf_counter() - started
    ddb = sum(v for k, v in calls.items() if k.startswith("dynamodb:"))
    print(f"delivered {delivered} records (incl. duplicates) in {len(batches)} batches, {failures} failures, "
          f"{elapsed:.1f} s against moto")
    print("HealthOmics calls: " + ", ".join(f"{k[6:]}={v}" for k, v in sorted(calls.items()) if k.startswith("omics:"))
          + f" -> GetRun/run = {calls['omics:GetRun'] / RUNS:.2f} (goal <= 1), "
          f"ListRunTasks/run = {calls['omics:ListRunTasks'] / RUNS:.2f} (goal <= ceil(20/100) = 1), "
          f"per task event = 0 (task events never reach the client)")
    print("DynamoDB requests: " + ", ".join(f"{k[9:]}={v}" for k, v in sorted(calls.items())
                                            if k.startswith("dynamodb:"))
          + f" -> {ddb / delivered:.3f} per event (goal <= 1)")


def main() -> None:
    stream_costs()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "lambdas"))
    sys.path.insert(0, str(ROOT))
    main()
