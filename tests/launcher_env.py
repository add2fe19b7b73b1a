"""A launcher wired to moto (S3, DynamoDB, SNS, SQS) and the HealthOmics emulator, for launcher tests."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from launcher.config import LauncherConfig
from launcher.logic import Launcher
from launcher.store import LauncherStore
from sandbox.moto_speedups import speedups
from sandbox.omics import FaultPlan, OmicsEmulator, VirtualClock, mock_omics
from shared.events import parse_omics_event
from shared.omics import omics_client
from shared.provenance.repository import ProvenanceRepository
from tests.factories import create_provenance_table, reference_event

BUCKET = "lab-submissions"
OUTPUTS = "s3://lab-outputs/runs/"
ROLE = "arn:aws:iam::123456789012:role/omics-service"
FIXED_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class LauncherEnv:
    """Everything a launcher test needs; create inside mock_aws()."""

    emu: OmicsEmulator
    launcher: Launcher
    repository: ProvenanceRepository
    s3: Any
    workflow_id: str
    cache_id: str
    alarms_queue_url: str
    sqs: Any  # the client the alarm inbox was created with
    metrics: dict[str, float] = field(default_factory=dict)

    def upload(self, key: str, body: bytes | str) -> str | None:
        data = body.encode() if isinstance(body, str) else body
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=data).get("VersionId")

    def object_created(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        """The EventBridge event S3 sends for an upload (the shape EventBridge delivers to the queue)."""
        head = self.s3.head_object(Bucket=BUCKET, Key=key, **({"VersionId": version_id} if version_id else {}))
        return {
            "version": "0", "id": f"evt-{key}-{version_id}", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-03-01T12:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": {"version": "0", "bucket": {"name": BUCKET},
                       "object": {"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"'),
                                  "version-id": version_id or head.get("VersionId"), "sequencer": "00"},
                       "request-id": "R", "requester": "123456789012", "reason": "PutObject"},
        }

    def alarms(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.alarms_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    @property
    def omics_calls(self) -> int:
        return sum(self.emu.calls.values())

    def read_json(self, uri: str) -> Any:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@contextmanager
def launcher_env(faults: FaultPlan | None = None, with_workflow_default: bool = True,
                 **config: Any) -> Iterator[LauncherEnv]:
    """Must be entered inside mock_aws(). Yields with the emulator active (mock_omics)."""
    # with the sandbox's moto fast paths (contract-tested against plain moto: tests/sandbox/test_moto_speedups.py)
    # from the first client on: the resources made before them cost ~100 ms an environment, ~65 under them
    with speedups():
        s3 = boto3.client("s3")
        for bucket in (BUCKET, "lab-outputs", "lab-cache"):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        table = create_provenance_table(boto3.client("dynamodb"))
        sns = boto3.client("sns")
        topic = sns.create_topic(Name="alarms")["TopicArn"]
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        # HealthOmics' events are kept by the emulator (emitted and delivered), not put on moto's EventBridge bus:
        # nothing here routes or reads the bus (no rule, no target), and a put event cost a request through moto
        # (a 150-run batch: 0.4 of its 1.1 CPU-s). The sandbox's accounts put them on the bus, to their rules.
        emu = OmicsEmulator(clock=VirtualClock(), s3=s3, faults=faults)
        workflow_id = emu.register_workflow("germline")
        with mock_omics(emu):
            omics = omics_client(1000)
            cache_id = omics.create_run_cache(cacheS3Location="s3://lab-cache/cache/", requestId="cache-1")["id"]
            settings = {"workflow_id": workflow_id if with_workflow_default else None, "role_arn": ROLE,
                        "output_uri": OUTPUTS, "cache_id": cache_id, "submissions_bucket": BUCKET,
                        # as the stack sets them: outputs anywhere in the outputs bucket, never in the cache's
                        "allowed_output_prefixes": ["s3://lab-outputs/"], "run_cache_buckets": ["lab-cache"], **config}
            repository = ProvenanceRepository(table)
            env_metrics: dict[str, float] = {}

            def metric(name: str, value: float) -> None:
                env_metrics[name] = env_metrics.get(name, 0) + value

            # the launcher's client is the one set up above, as a deployed launcher keeps one per process
            launcher = Launcher(repository, LauncherStore(s3, sns), omics=lambda: omics,
                                config=LauncherConfig(**settings), alarm_topic_arn=topic, metric=metric,
                                now=lambda: FIXED_NOW, sleep=lambda _: None)
            yield LauncherEnv(emu, launcher, repository, s3, workflow_id, cache_id, queue_url, sqs, env_metrics)


def csv_sheet(rows: int, *, id_column: str = "sample_id", extra: dict[str, str] | None = None,
              prefix: str = "S") -> str:
    """A CSV sheet of `rows` samples with typed parameter columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [id_column, "input_bam", "coverage", "call_indels", "intervals", "tag:project", *(extra or {})]
    writer.writerow(columns)
    for i in range(rows):
        writer.writerow([f"{prefix}{i:06d}", f"s3://lab-data/{prefix}{i:06d}.bam", 30 + i % 10,
                         "true" if i % 2 else "false", '["chr1","chr2"]', "cohort-a", *(extra or {}).values()])
    return out.getvalue()


def batch_failed_event(env: LauncherEnv, batch_id: str, event_id: str, reason: str | None,
                       message: str | None) -> Any:
    """A RunBatch Status Change FAILED event for `batch_id`; without failureReason/failureMessage when `reason` is
    None (as the reconciler heals a lost one)."""
    batch = env.emu.batches[batch_id]
    raw = reference_event("runbatch-status-change.failed")
    raw["id"] = event_id
    raw["detail"].update({"batchId": batch_id, "arn": batch.arn})
    raw["detail"].pop("failureReason", None)
    raw["detail"].pop("failureMessage", None)
    if reason is not None:
        raw["detail"].update({"failureReason": reason, "failureMessage": message})
    return parse_omics_event(raw)
