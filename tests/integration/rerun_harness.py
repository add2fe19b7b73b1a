"""A small account for re-runner tests: moto (DynamoDB, S3, SQS, Scheduler) + the HealthOmics emulator on
a virtual clock, the real recorder and the real re-runner fed with the events the emulator emits.

Delivery follows the stack's routing: every event goes to the recorder; Run FAILED and RunBatch PROCESSED
go to the re-runner. Work the re-runner sends to its own queue (DelaySeconds) or schedules (one-time
EventBridge Scheduler schedules in moto) is delivered when the virtual clock reaches it; SQS's delay runs
in wall-clock time in moto, so the harness reads the DelaySeconds each message was sent with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.config import Config as BotoConfig
from moto import mock_aws

from rerunner.dal import AwsAccess
from rerunner.logic import Config, Outcome, Rerunner
from rerunner.policy import RerunPolicy, load_policy
from rerunner.work import NotOurs, Work, parse_work
from sandbox.moto_speedups import speedups
from sandbox.omics import FaultPlan, OmicsEmulator, OutputSpec, RunFault, TaskSpec, Timings, VirtualClock, mock_omics
from shared.errors import RetryableError
from shared.events import RUN_BATCH_STATUS_CHANGE, RUN_STATUS_CHANGE, parse_omics_event
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from shared.status import RUN_TERMINAL
from tests.factories import ACCOUNT, REGION, create_provenance_table

ROLE = f"arn:aws:iam::{ACCOUNT}:role/omics-service"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/rerun-scheduler"
BUCKET = "autopilot-data"
STACK_ID = "omics-autopilot-dev"  # the stack under test (its functions' AUTOPILOT_STACK_ID)
START = datetime(2026, 3, 1, tzinfo=UTC)

# align -> call -> report: a failure at "report" leaves two completed tasks for the cache.
THREE_TASKS = (
    TaskSpec("align", (), 600.0, (OutputSpec("bam", 4096),), cpus=8, memory=32),
    TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 1024),), cpus=4, memory=16),
    TaskSpec("report", ("call",), 60.0, (OutputSpec("html", 512),)),
)
# One task: for scenarios about batch membership (pages, settings files), where tasks add only events to record.
ONE_TASK = (TaskSpec("call", (), 300.0, (OutputSpec("vcf", 1024),), cpus=4, memory=16),)
RECORDER_BATCH = 100  # records per invocation of the recorder (stacks/components/recorder.py: batch_size)
NEVER_RERUN = "OUT_OF_MEMORY_ERROR"  # a failure reason the policy never re-runs: a person must look at it


class CountingAccess(AwsAccess):
    """The real data access, plus a record of the delayed sends (their DelaySeconds) for the clock."""

    def __init__(self, harness: Harness, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.harness = harness

    def get_run(self, run_id: str) -> dict[str, Any]:
        """GetRun, answering STOPPING while `harness.lagging[run_id]` > 0: the API behind the event."""
        response = super().get_run(run_id)
        if self.harness.lagging.get(run_id, 0) > 0:
            self.harness.lagging[run_id] -= 1
            response = {**response, "status": "STOPPING", "failureReason": None, "stopTime": None}
        return response

    def send_delayed(self, queue_url: str, body: dict[str, Any], delay_seconds: int) -> None:
        super().send_delayed(queue_url, body, delay_seconds)
        self.harness.delayed.append((self.harness.clock.now() + timedelta(seconds=delay_seconds), body))

    def schedule_once(self, *args: Any, **kwargs: Any) -> bool:
        created = super().schedule_once(*args, **kwargs)
        self.harness.scheduled |= created
        return created


class Harness:
    """Use inside moto's mock_aws (the `aws` fixture)."""

    def __init__(
        self,
        faults: FaultPlan | None = None,
        policy: RerunPolicy | dict[str, Any] | None = None,
        tasks: Iterable[TaskSpec] = THREE_TASKS,
        storage_capacity: int | None = None,
        omics_retries: int = 1,
        rerun_foreign_runs: bool = False,
        record: Callable[[dict[str, Any]], bool] = lambda _event: True,
    ) -> None:
        self.record = record  # which events the recorder gets (the re-runner gets its own, whatever this says)
        self.clock = VirtualClock(start=START)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.s3.create_bucket(Bucket=BUCKET)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = self.sqs.create_queue(QueueName="rerun")["QueueUrl"]
        self.queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:rerun"
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.events: list[dict[str, Any]] = []
        self.delayed: list[tuple[datetime, dict[str, Any]]] = []
        # whether a one-time schedule may be waiting: the scheduler is listed only then, not twice a clock step
        # (ListSchedules was 2,372 of a run's 63,193 calls); the re-runner's schedule_once is what creates them
        self.scheduled = False
        self.lagging: dict[str, int] = {}  # run id -> how many more GetRun calls of the re-runner lag
        self.faults = faults or FaultPlan()
        self.emulator = OmicsEmulator(
            clock=self.clock,
            s3=self.s3,
            event_sink=self.events.extend,
            faults=self.faults,
            timings=Timings(),
            account_id=ACCOUNT,
            region=REGION,
        )
        self._mock = mock_omics(self.emulator)
        self._mock.__enter__()
        self.omics = boto3.client(
            "omics",
            region_name=REGION,
            config=BotoConfig(retries={"mode": "standard", "max_attempts": omics_retries}),
        )
        self.cache_id = self.omics.create_run_cache(cacheS3Location=f"s3://{BUCKET}/cache/", requestId="cache-1")["id"]
        self.workflow_id = self.emulator.register_workflow(
            "wgs", tasks=list(tasks), storage_type="STATIC", storage_capacity=storage_capacity
        )
        # Its own client, not the process-wide one of shared/provenance/base.py: the handlers a test registers on
        # it (to count requests) end with the harness.
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.repository = ProvenanceRepository(create_provenance_table(dynamodb), dynamodb)
        self.recorder = Recorder(self.repository, omics=lambda: self.omics, now=self.clock.now)
        policy_model = policy if isinstance(policy, RerunPolicy) else load_policy(policy)
        self.config = Config(
            policy=policy_model,
            run_cache_id=self.cache_id,
            omics_role_arn=ROLE,
            queue_url=self.queue_url,
            queue_arn=self.queue_arn,
            scheduler_role_arn=SCHEDULER_ROLE,
            settings_bucket=BUCKET,
            rerun_foreign_runs=rerun_foreign_runs,
            stack_id=STACK_ID,
        )
        self.access = CountingAccess(self, omics=lambda: self.omics, sleep=lambda _: None)
        self.rerunner = Rerunner(self.repository, self.access, self.config, now=self.clock.now)
        self.outcomes: list[Outcome] = []

    def close(self) -> None:
        self._mock.__exit__(None, None, None)

    # ------------------------------------------------------------------ starting work
    def start_run(self, name: str, parameters: dict[str, Any] | None = None, **extra: Any) -> str:
        """A standalone run as this product starts it: with its autopilot:* lineage tags."""
        extra.setdefault("tags", {"autopilot:sample": name, "autopilot:stack": STACK_ID})
        return str(
            self.omics.start_run(
                workflowId=self.workflow_id,
                roleArn=ROLE,
                outputUri=f"s3://{BUCKET}/out",
                name=name,
                requestId=f"launch-{name}",
                parameters=parameters or {"sample": name},
                cacheId=self.cache_id,
                cacheBehavior="CACHE_ON_FAILURE",
                **extra,
            )["id"]
        )

    def start_batch(
        self, run_setting_ids: list[str], name: str = "cohort", via_s3: bool = False,
        parameters: dict[str, Any] | None = None, **default: Any
    ) -> str:
        """A batch as the launcher starts it (its exact request recorded in provenance); `parameters` are added
        to every run's own."""
        from shared.batch_submit import start_batch

        entries = [
            {
                "runSettingId": s,
                "name": f"run-{s}",
                "parameters": {"sample": s, **(parameters or {})},
                "runTags": {"autopilot:sample": s},
            }
            for s in run_setting_ids
        ]
        if via_s3:
            key = f"submissions/{name}.json"
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(entries).encode())
            settings: dict[str, Any] = {"s3UriSettings": f"s3://{BUCKET}/{key}"}
        else:
            settings = {"inlineSettings": entries}
        request = {
            "requestId": f"launch-{name}",
            "batchName": name,
            "batchRunSettings": settings,
            "defaultRunSetting": {
                "workflowId": self.workflow_id,
                "roleArn": ROLE,
                "outputUri": f"s3://{BUCKET}/out",
                "cacheId": self.cache_id,
                "cacheBehavior": "CACHE_ON_FAILURE",
                **default,
            },
        }
        return start_batch(self.omics, self.repository, request, origin="launcher", sleep=lambda _: None)

    # ------------------------------------------------------------------ delivery
    def deliver(self, events: list[dict[str, Any]] | None = None, rerun: bool = True) -> list[Outcome]:
        """Record every event; hand the re-run-worthy ones to the re-runner. Returns its outcomes."""
        if events is None:
            pending = list(self.events)
            del self.events[:]  # the emulator's sink appends to this very list
        else:
            pending = list(events)
        outcomes = []
        recorded = list(filter(self.record, pending))
        # the recorder's handler writes its records' history items once per SQS batch (process_sqs_batch's
        # flush; the stack's batch size); one BatchWriteItem per event was most of a delivery's writes
        # (a record that raises leaves the history of those before it written, as before)
        for start in range(0, len(recorded), RECORDER_BATCH):
            history: list[dict[str, Any]] = []
            try:
                for raw in recorded[start : start + RECORDER_BATCH]:
                    history += self.recorder.record(parse_omics_event(raw)).history
            finally:
                failed = self.repository.put_items(history)
            assert not failed
        if rerun:
            for raw in pending:
                try:
                    work = parse_work(raw)
                except NotOurs:
                    continue
                outcomes.append(self.handle(work))
        return outcomes

    def handle(self, work: Work) -> Outcome:
        outcome = self.rerunner.handle(work)
        self.outcomes.append(outcome)
        return outcome

    def advance_until_event(self, match: Callable[[dict[str, Any]], bool], step: float = 60.0) -> dict[str, Any]:
        """Advance the clock, delivering nothing, until the emulator emitted an event that `match`es."""
        for _ in range(int(7 * 86400 / step)):
            found = next((e for e in self.events if match(e)), None)
            if found is not None:
                return found
            self.emulator.advance(step)
        raise AssertionError("no such event within a week")

    def fire_due(self) -> list[Outcome]:
        """Deliver delayed queue messages and one-time schedules that are due on the virtual clock."""
        now = self.clock.now()
        due = [body for when, body in self.delayed if when <= now]
        self.delayed = [(when, body) for when, body in self.delayed if when > now]
        waiting = 0
        for entry in self.scheduler.list_schedules().get("Schedules", []) if self.scheduled else ():
            detail = self.scheduler.get_schedule(Name=entry["Name"])
            when = datetime.strptime(detail["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
            if when <= now:
                due.append(json.loads(detail["Target"]["Input"]))
                self.scheduler.delete_schedule(Name=entry["Name"])  # ActionAfterCompletion=DELETE
            else:
                waiting += 1
        self.scheduled = waiting > 0
        return [self.handle(parse_work(body)) for body in due]

    def run(self, seconds: float = 7 * 86400, step: float = 60.0) -> None:
        """Advance the clock in steps, delivering events and due work, until nothing is left to do."""
        end = self.clock.now() + timedelta(seconds=seconds)
        while self.clock.now() < end:
            self.deliver()
            self.fire_due()
            if (
                self.emulator.is_idle()
                and not self.events
                and not self.delayed
                and not self.scheduled
            ):
                return
            self.emulator.advance(step)

    # ------------------------------------------------------------------ reading back
    def decisions(self, run_id: str) -> list[dict[str, Any]]:
        return [
            i
            for i in self.repository.run_items(run_id)
            if i["sk"].startswith("RERUN#") and not i["sk"].endswith("#CLAIM")
        ]

    def runs(self) -> dict[str, Any]:
        return self.emulator.runs

    def reruns_of(self, run_id: str) -> list[Any]:
        """The emulator's runs that re-ran `run_id` (StartRun runId=...)."""
        return [r for r in self.emulator.runs.values() if r.source_run_id == run_id]

    def follow_ups(self, batch_id: str) -> list[Any]:
        """The emulator's batches started as follow-ups of `batch_id`."""
        return [b for b in self.emulator.batches.values() if b.tags.get("autopilot:parent-batch") == batch_id]


def one_failed_run(make: Callable[..., Harness], **kwargs: Any) -> tuple[Harness, str]:
    """A harness (built by the `make` fixture with `kwargs`) whose run s1 failed with SERVICE_ERROR at its "call"
    task: the run is played until HealthOmics is idle and its events wait in `events`, not yet delivered."""
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s1")]), **kwargs)
    failed = h.start_run("s1")
    h.emulator.run_until_idle()
    return h, failed


def follow_up_recorded_before_its_proof(make: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
                                       ) -> tuple[Harness, str, Any, list[dict[str, Any]]]:
    """A batch whose s2 failed with SERVICE_ERROR; the re-runner stopped after StartRunBatch of the follow-up,
    before it recorded anything naming it (its LINK write throttled once), and the follow-up's run completed
    and was recorded before the re-runner's retry. Returns the harness, the batch id, the follow-up batch and
    the batch's PROCESSED events (what SQS delivers to the re-runner again)."""
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s2")]))
    batch_id = h.start_batch(["s1", "s2"])
    h.emulator.run_until_idle()
    processed = [e for e in h.events if e.get("detail", {}).get("status") == "PROCESSED"]
    put_batch_link = h.repository.put_batch_link
    stops: list[Any] = []

    def stop_once(*args: Any, **kwargs: Any) -> int:
        if not stops:
            stops.append(args)
            raise RetryableError("put_item: ThrottlingException")
        return put_batch_link(*args, **kwargs)

    monkeypatch.setattr(h.repository, "put_batch_link", stop_once)
    with pytest.raises(RetryableError):
        h.deliver()
    (follow_up,) = h.follow_ups(batch_id)
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    return h, batch_id, follow_up, processed


def outcomes_only(event: dict[str, Any]) -> bool:
    """For `Harness(record=...)`: the terminal run events and the batch events, what the provenance of each
    run's and batch's outcome is read from (the recorder reads a run's tasks from HealthOmics when the run
    ends). For scenarios about batch membership, where every other event only adds recorder work: a lost
    event is normal (the recorder and reconciler scenarios cover that), and what is recorded stays correct."""
    detail_type, status = event.get("detail-type"), event.get("detail", {}).get("status")
    return detail_type == RUN_BATCH_STATUS_CHANGE or (detail_type == RUN_STATUS_CHANGE and status in RUN_TERMINAL)


def batch_events_only(event: dict[str, Any]) -> bool:
    """For `Harness(record=...)`: the batch events alone, for scenarios about the re-runner's follow-up request,
    where recording the runs only adds work: the re-runner finds unrecorded failed members in HealthOmics
    (GetBatch, ListRuns, GetRun), and reads their original settings from the batch's recorded request either way."""
    return bool(event.get("detail-type") == RUN_BATCH_STATUS_CHANGE)


def _skip_retry_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry back-off is not waited, as the harness's own back-offs (`sleep=lambda _: None`): time
    is virtual here, and the throttling scenarios slept 20 s of wall-clock time for nothing they check.
    botocore still decides every retry; only its `time.sleep` in botocore.endpoint is skipped."""
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda _seconds: None))


@contextmanager
def module_harness(**kwargs: Any) -> Iterator[Harness]:
    """A harness in a moto account of its own, as `make` builds it, for a module-scoped scenario that several
    tests only read: module-scoped fixtures are set up before the function-scoped `aws` and environment."""
    from tests.conftest import offline_aws

    with pytest.MonkeyPatch.context() as monkeypatch, speedups(), mock_aws():
        offline_aws(monkeypatch)
        _skip_retry_back_off(monkeypatch)
        harness = Harness(**kwargs)
        try:
            yield harness
        finally:
            harness.close()


@pytest.fixture
def make(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Harness]]:
    """Build harnesses inside the test's moto context (the `aws` fixture); closed after the test.

    With the sandbox's moto fast paths (sandbox/moto_speedups.py, each contract-tested against plain moto
    in tests/sandbox/test_moto_speedups.py): a batch of a hundred members updates its DynamoDB items with
    long SET expressions whose validation in plain moto is quadratic.

    botocore's retry back-off is not waited (`_skip_retry_back_off`)."""
    _skip_retry_back_off(monkeypatch)
    made: list[Harness] = []

    def build(**kwargs: Any) -> Harness:
        harness = Harness(**kwargs)
        made.append(harness)
        return harness

    with speedups():
        try:
            yield build
        finally:
            for harness in made:
                harness.close()
