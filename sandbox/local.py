"""A whole local account: moto + the HealthOmics emulator + the stack's resources (from the synthesized
template) + the real handlers, driven with Lambda's SQS semantics on one virtual clock.

    with LocalAccount() as account:
        account.omics.start_run(...)            # the real boto3 client, served by the emulator
        account.run_until_quiet()               # clock advances, events flow, handlers run
        account.repository.unresolved_failures()
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import os
import re
import time
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from botocore.serialize import create_serializer
from moto import mock_aws

from sandbox.cloudformation import ConsumerSpec, FunctionSpec, ScheduleSpec, StackResources, TemplateSandbox
from sandbox.moto_speedups import speedups
from sandbox.omics import FaultPlan, OmicsEmulator, Timings, VirtualClock, mock_omics

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "omics-autopilot"

# Handlers run in this process: no real rate limit (the virtual clock stands still while they run),
# no X-Ray, metrics and logs kept quiet unless asked for.
SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}
HANDLER_ENV_OVERRIDES = {"OMICS_RATE_LIMITS": "{\"*\": 100000}", "POWERTOOLS_LOG_LEVEL": "ERROR"}


class LambdaOutput(io.TextIOBase):
    """What handlers print (EMF metrics, logs) goes here, as it would go to CloudWatch Logs: kept out
    of the demo's own output, last lines retained for inspection."""

    def __init__(self, keep: int = 2000) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.written = 0

    def write(self, text: str) -> int:
        self.written += 1
        if text.strip():
            self.lines.append(text.rstrip("\n"))
        return len(text)


class SandboxContext:
    """Lambda's context object for a handler run on the virtual clock."""

    def __init__(self, function: FunctionSpec) -> None:
        self.function_name = function.arn.rsplit(":", 1)[-1]
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "sandbox"
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        """Real time left, as in Lambda: handlers' time-budget paths (checkpoint, hand over) run here too."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _DefaultBus:
    """The account's default event bus as HealthOmics reaches it: an AWS service puts its events on the bus from
    inside AWS, not through the public PutEvents API. The emulator's entries go to moto's EventBridge backend as
    moto's own PutEvents handler hands them over (the request botocore serializes, validated, read back), and the
    answer is the one that handler renders, without the HTTP request and response around them (moto's routing, the
    signing, the JSON answer parsed back): 3.6 -> 2.0 ms a call of ten entries, measured."""

    def __init__(self, client: Any) -> None:
        self._service_model = client.meta.service_model
        self._serializer = create_serializer(self._service_model.resolved_protocol)

    def put_events(self, **params: Any) -> dict[str, Any]:
        from moto.events.models import events_backends

        request = self._serializer.serialize_to_request(params, self._service_model.operation_model("PutEvents"))
        entries = events_backends[ACCOUNT_ID][REGION].put_events(json.loads(request["body"])["Entries"])
        return {"FailedEntryCount": sum("ErrorCode" in entry for entry in entries), "Entries": entries}


@dataclass
class _Invisible:
    """A received message whose visibility timeout runs on the virtual clock."""

    queue_url: str
    receipt_handle: str
    visible_at: datetime


@dataclass
class DeliveryStats:
    invocations: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    record_failures: Counter[str] = field(default_factory=Counter)
    handler_errors: Counter[str] = field(default_factory=Counter)
    scheduled_runs: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class HealAudit:
    """Entities as (kind, id), kind RUN or BATCH: the reconciler must heal only what lost an event
    (`unexplained` empty) and every entity whose last status event was lost (`unhealed` empty)."""

    healed: set[tuple[str, str]]
    dropped: set[tuple[str, str]]  # lost at least one status-change event
    last_dropped: set[tuple[str, str]]  # lost its latest status-change event

    @property
    def unexplained(self) -> set[tuple[str, str]]:
        return self.healed - self.dropped

    @property
    def unhealed(self) -> set[tuple[str, str]]:
        return self.last_dropped - self.healed


def _rate_seconds(expression: str) -> float | None:
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return None
    unit = match.group(2).rstrip("s")
    return int(match.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[unit]


def _at_time(expression: str, timezone: str = "UTC") -> datetime | None:
    """When a one-time schedule fires: its `at(...)` time in the schedule's time zone (UTC unless it says)."""
    match = re.fullmatch(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)", expression.strip())
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone)) if match else None


# Allocations between young-generation collections while an account is open (Python's default is 700). The
# account holds everything in this process (every DynamoDB item and message, the deployed code): at the
# default, a 250-sample cohort ran ~4,400 young collections and 13 full ones over that heap (4-5 CPU s of
# ~40); with these, ~35 young ones and none full. Cyclic garbage is still collected, in fewer passes.
_GC_THRESHOLDS = (50_000, 20, 20)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


class LocalAccount:
    """The embedded default: everything the stack does, offline, on a virtual clock."""

    def __init__(
        self,
        context: dict[str, Any] | None = None,
        *,
        seed: int = 0,
        faults: FaultPlan | None = None,
        start: datetime | None = None,
        timings: Timings | None = None,
        template: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
        prepare: Callable[[OmicsEmulator], dict[str, Any]] | None = None,
    ) -> None:
        """`prepare` runs against the emulator before the stack is synthesized (e.g. to register the
        workflow whose id the stack's configuration needs) and returns context to add."""
        self.context = context or {}
        self._prepare = prepare
        self.seed = seed
        self.faults = faults
        self.clock = VirtualClock(start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
        self.timings = timings
        self._template = template
        self._environment = environment or {}
        self.stats = DeliveryStats()
        self.lambda_output = LambdaOutput()
        self._invisible: list[_Invisible] = []
        self._schedule_next: dict[str, datetime] = {}
        self._completed_schedules: set[str] = set()  # one-time schedules fired and kept (ActionAfterCompletion NONE)
        self._stack = contextlib.ExitStack()
        self._saved_env: dict[str, str | None] = {}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalAccount:
        for key, value in {**SANDBOX_ENV, **self._environment}.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._stack.enter_context(_fewer_collections())
        self._stack.enter_context(speedups())  # first: moto's start takes its fast path too
        self._stack.enter_context(mock_aws())
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        kwargs: dict[str, Any] = {"timings": self.timings} if self.timings else {}
        self.logs = boto3.client("logs", region_name=REGION)
        self.emulator = OmicsEmulator(clock=self.clock, s3=self.s3, events=_DefaultBus(self.events),
                                      account_id=ACCOUNT_ID, region=REGION, seed=self.seed, faults=self.faults,
                                      logs=self.logs, **kwargs)
        self._stack.enter_context(mock_omics(self.emulator))
        self.omics = boto3.client("omics", region_name=REGION)
        if self._prepare is not None:
            self.context = {**self.context, **self._prepare(self.emulator)}
        template = self._template
        if template is None:
            from stacks.synth import synth_template  # imported late: synthesis needs Node (jsii)

            template = synth_template(self.context)
        clients = {"s3": self.s3, "sqs": self.sqs, "events": self.events, "dynamodb": self.dynamodb,
                   "scheduler": self.scheduler}
        self.resources: StackResources = TemplateSandbox(template, ACCOUNT_ID, REGION, STACK_NAME, self.omics,
                                                         clients).create_all()
        for schedule in self.resources.schedules:
            self._register_template_schedule(schedule)
        self._install_prices()
        return self

    def _install_prices(self) -> None:
        """moto has no Price List API: the sandbox's prices are synthetic and say so (sandbox/prices.py)."""
        from sandbox.prices import install_synthetic_prices
        from shared.cost.price_source import clear_price_cache

        install_synthetic_prices(self.repository, REGION, self.clock.now())
        clear_price_cache()  # a warm process must not keep a list read before this deployment

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # ------------------------------------------------------------------ handy views
    @property
    def outputs(self) -> dict[str, Any]:
        return self.resources.outputs

    @property
    def table_name(self) -> str:
        return self.resources.tables[0]

    @property
    def repository(self) -> Any:
        from shared.provenance.repository import ProvenanceRepository

        return ProvenanceRepository(self.table_name, self.dynamodb)

    def function(self, capability: str) -> FunctionSpec:
        """A capability's entry function by its handler's package (recorder, launcher, rerunner,
        pruner...): the one whose handler is `lambda_handler`, not a worker of the same package."""
        specs = [s for s in self.resources.functions.values() if s.handler.split(".")[0] == capability]
        if not specs:
            raise KeyError(f"no function for {capability!r} in the stack")
        return min(specs, key=lambda s: (not s.handler.endswith(".lambda_handler"), s.handler))

    # ------------------------------------------------------------------ invoking handlers
    def invoke(self, function: FunctionSpec | str, event: dict[str, Any]) -> Any:
        """Run a function's real handler in-process with its environment from the template."""
        spec = self.function(function) if isinstance(function, str) else function
        module_name, attribute = spec.handler.rsplit(".", 1)
        saved = {k: os.environ.get(k) for k in spec.environment}
        os.environ.update(spec.environment)
        os.environ.update(HANDLER_ENV_OVERRIDES)
        try:
            from shared.clock import use_clock
            from shared.errors import HandlerFailed
            from shared.settings import get_settings

            get_settings.cache_clear()
            handler: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
            self.stats.invocations[spec.logical_id] += 1
            # The handler sees the virtual clock, so its delays and ages agree with HealthOmics here.
            with contextlib.redirect_stdout(self.lambda_output), use_clock(self.clock.now), \
                    warnings.catch_warnings():
                # An invocation that had nothing to count is normal here, as it is in Lambda.
                warnings.filterwarnings("ignore", message="No application metrics to publish")
                return handler(event, SandboxContext(spec))
        except HandlerFailed as failed:
            # A deployed function's error leaves naming its type, code and operation only (its text may quote a
            # sample or an S3 key, and Lambda logs it); a local account has no shipped log: say what failed
            # (raised below, outside this block, so that it is not chained to the wrapper it came in).
            original = failed.error
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        raise original

    # ------------------------------------------------------------------ SQS -> Lambda
    def _holds_messages(self, queue_url: str) -> bool:
        """Whether moto's queue holds any message at all (visible, delayed or in flight). A ReceiveMessage of a
        queue that holds none answers nothing, and most polls are of such queues (each step polls every
        consumer's queue until a round handles nothing): 6 % of a `make test` run's samples were
        ReceiveMessage calls. A look at moto's own list of the queue's messages, O(1); counting only the
        visible ones walks every message (47 ms for 5,000). An unknown queue is asked, for moto's answer."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT_ID][REGION].queues.get(queue_url.rsplit("/", 1)[-1])
        return queue is None or bool(queue._messages)

    def _receive(self, consumer: ConsumerSpec) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < consumer.batch_size and self._holds_messages(consumer.queue_url):
            response = self.sqs.receive_message(
                QueueUrl=consumer.queue_url, MaxNumberOfMessages=min(10, consumer.batch_size - len(messages)),
                VisibilityTimeout=max(consumer.visibility_timeout, 3600), AttributeNames=["All"],
                MessageAttributeNames=["All"])
            batch = response.get("Messages", [])
            if not batch:
                break
            messages += batch
        return messages

    def _lambda_record(self, consumer: ConsumerSpec, message: dict[str, Any]) -> dict[str, Any]:
        return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"], "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}), "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs", "eventSourceARN": consumer.queue_arn, "awsRegion": REGION}

    def _deliver_once(self, consumer: ConsumerSpec) -> int:
        messages = self._receive(consumer)
        if not messages:
            return 0
        spec = self.resources.functions[consumer.function]
        event = {"Records": [self._lambda_record(consumer, m) for m in messages]}
        self.stats.records[spec.logical_id] += len(messages)
        try:
            response = self.invoke(spec, event) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:  # a function error fails the whole batch, exactly as Lambda does
            self.stats.handler_errors[spec.logical_id] += 1
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(consumer.queue_url, [m["ReceiptHandle"] for m in done])
        visible_at = self.clock.now() + timedelta(seconds=consumer.visibility_timeout)
        for message in messages:
            if message["MessageId"] in failed:
                self.stats.record_failures[spec.logical_id] += 1
                self._invisible.append(_Invisible(consumer.queue_url, message["ReceiptHandle"], visible_at))
        return len(messages)

    @staticmethod
    def _delete(queue_url: str, receipt_handles: list[str]) -> None:
        """Lambda deletes a batch's handled messages, ten per DeleteMessageBatch, and reads nothing of the answer:
        moto's backend deletes them here, as its DeleteMessageBatch handler would (the same entries, ten at a time),
        without the request and the answer (0.1 instead of 1.45 ms a batch of ten, measured)."""
        from moto.sqs.models import sqs_backends

        backend, queue_name = sqs_backends[ACCOUNT_ID][REGION], queue_url.rsplit("/", 1)[-1]
        for start in range(0, len(receipt_handles), 10):
            backend.delete_message_batch(queue_name, [
                {"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(receipt_handles[start:start + 10])])

    def _release_due_messages(self) -> None:
        """Visibility timeouts expire on the virtual clock: due messages become receivable again."""
        now, keep = self.clock.now(), []
        for item in self._invisible:
            if item.visible_at <= now:
                with contextlib.suppress(Exception):  # the message may have moved to its DLQ meanwhile
                    self.sqs.change_message_visibility(QueueUrl=item.queue_url, ReceiptHandle=item.receipt_handle,
                                                       VisibilityTimeout=0)
            else:
                keep.append(item)
        self._invisible = keep

    def deliver(self, max_rounds: int = 10_000) -> int:
        """Poll every event source mapping until no queue has a visible message; returns records handled."""
        handled = 0
        for _ in range(max_rounds):
            self._release_due_messages()
            round_total = sum(self._deliver_once(c) for c in self.resources.consumers)
            if round_total == 0:
                return handled
            handled += round_total
        return handled

    # ------------------------------------------------------------------ schedules
    def _register_template_schedule(self, schedule: ScheduleSpec) -> None:
        every = _rate_seconds(schedule.expression)
        if every is not None:
            self._schedule_next[schedule.name] = self.clock.now() + timedelta(seconds=every)

    def _fire(self, target_arn: str, payload: str | None) -> None:
        if ":sqs:" in target_arn:
            url = self.sqs.get_queue_url(QueueName=target_arn.rsplit(":", 1)[-1])["QueueUrl"]
            self.sqs.send_message(QueueUrl=url, MessageBody=payload or "{}")
            return
        for spec in self.resources.functions.values():
            if spec.arn == target_arn or target_arn.startswith(spec.arn):
                self.stats.scheduled_runs[spec.logical_id] += 1
                self.invoke(spec, json.loads(payload) if payload else {})
                return

    def run_schedules(self) -> None:
        """Fire every schedule that is due on the virtual clock: the stack's recurring ones and the
        one-time `at(...)` schedules created at run time (e.g. delayed re-runs)."""
        now = self.clock.now()
        for schedule in self.resources.schedules:
            every = _rate_seconds(schedule.expression)
            due = self._schedule_next.get(schedule.name)
            if every is None or due is None:
                continue
            while due <= now:
                self._fire(schedule.target_arn, schedule.input)
                due += timedelta(seconds=every)
            self._schedule_next[schedule.name] = due
        for when, schedule in self._one_time_schedules():
            if when > now:
                continue
            self._fire(schedule.target["Arn"], schedule.target.get("Input"))
            if schedule.action_after_completion == "DELETE":
                self.scheduler.delete_schedule(Name=schedule.name, GroupName=schedule.group_name)
            else:  # a completed one-time schedule stays in the account and does not fire again
                self._completed_schedules.add(schedule.arn)

    def _one_time_schedules(self) -> list[tuple[datetime, Any]]:
        """The enabled `at(...)` schedules of the account's EventBridge Scheduler that have not fired, with their
        times, read from moto's scheduler as the service reads its own: a ListScheduleGroups, a ListSchedules per
        group and a GetSchedule per schedule at every step were 3,100 of a test run's 47,700 API calls, none of
        them the product's."""
        from moto.scheduler.models import scheduler_backends

        pending = []
        for group in scheduler_backends[ACCOUNT_ID][REGION].schedule_groups.values():
            for schedule in list(group.schedules.values()):
                when = _at_time(schedule.schedule_expression, schedule.schedule_expression_timezone)
                if when is not None and schedule.state == "ENABLED" and schedule.arn not in self._completed_schedules:
                    pending.append((when, schedule))
        return pending

    # ------------------------------------------------------------------ time
    def step(self, seconds: float) -> None:
        """Advance the clock; the events of the interval reach their consumers before any schedule fires.

        Lambda polls its queues continuously, so by the time a sweep runs the recorder has long recorded
        what was delivered; firing schedules first made the reconciler "heal" runs whose events were only
        waiting in the queue, so its heals stopped meaning "an event was lost"."""
        self.emulator.advance(seconds)
        self.deliver()
        self.run_schedules()
        self.deliver()

    def pending_messages(self) -> int:
        total = 0
        for consumer in filter(lambda c: self._holds_messages(c.queue_url), self.resources.consumers):
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=consumer.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"])
        return total + len(self._invisible)

    def dlq_messages(self) -> int:
        total = 0
        for consumer in self.resources.consumers:
            if consumer.dlq_url:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=consumer.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
                total += int(attributes["ApproximateNumberOfMessages"])
        return total

    def run_until_quiet(self, max_seconds: float = 7 * 86400, step_seconds: float = 60,
                        stopped: Callable[[], bool] = lambda: False) -> bool:
        """Advance in steps until HealthOmics is idle and every queue is drained (or time runs out, or
        `stopped()` says so between steps: the served sandbox's Ctrl-C)."""
        deadline = self.clock.now() + timedelta(seconds=max_seconds)
        self.deliver()
        while self.clock.now() < deadline and not stopped():
            if self.emulator.is_idle() and self.pending_messages() == 0 and not self._pending_one_time_schedules():
                return True
            self.step(step_seconds)
        return False

    def heal_audit(self) -> HealAudit:
        """What the reconciler healed against what the emulator's event faults really dropped. The heal records
        (entity HEALED) of each run's and batch's partition are read from moto's table, as a Query of each
        partition would find them, in one pass and no request: a Scan of the whole table was quadratic in moto
        (each page walks the table from its first item: 21 s at 1,000 samples), and a Query per partition read
        every item of it (5 s at 1,000 samples)."""
        from shared.provenance import keys

        kinds = {"Run Status Change": "RUN", "RunBatch Status Change": "BATCH"}
        dropped_ids = {id(event) for event in self.emulator.publisher.dropped}
        dropped: set[tuple[str, str]] = set()
        last: dict[tuple[str, str], bool] = {}
        for event in self.emulator.publisher.emitted:
            if event["detail-type"] in kinds:
                entity = (kinds[event["detail-type"]], event["resources"][0].rsplit("/", 1)[-1])
                last[entity] = id(event) in dropped_ids
                if last[entity]:
                    dropped.add(entity)
        partitions = [keys.run_pk(entity_id) if kind == "RUN" else keys.batch_pk(entity_id) for kind, entity_id in last]
        healed = {(item["kind"], item["entity_id"]) for item in self._stored_items(set(partitions), "HEALED")}
        return HealAudit(healed, dropped, {entity for entity, lost in last.items() if lost})

    def _stored_items(self, partitions: set[str], entity: str) -> Iterator[dict[str, Any]]:
        """The provenance items of `entity` in these partitions, as moto stores them (string attributes as
        text): what one Query of each partition filtered on the entity answers, read without a request."""
        from moto.dynamodb.models import dynamodb_backends

        from shared.provenance import keys

        table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(self.table_name)
        for stored in table.items.values():  # partition -> sort key -> item
            for item in stored.values():
                pk, kind = item.attrs.get(keys.PK), item.attrs.get("entity")
                if pk is not None and pk.value in partitions and kind is not None and kind.type == "S" \
                        and kind.value == entity:
                    yield {name: value.value for name, value in item.attrs.items() if value.type == "S"}

    def partition_items(self, pk: str, filter_expression: str,
                        values: dict[str, dict[str, str]]) -> Iterator[dict[str, Any]]:
        """The provenance items (wire form) of one partition that the filter keeps: one Query. The sandbox's own
        reports read this way, never with a Scan of the whole table, which moto makes quadratic (each page walks
        the table from its first item and copies what it scans)."""
        from shared.provenance import keys

        for page in self.dynamodb.get_paginator("query").paginate(
                TableName=self.table_name, KeyConditionExpression="#pk = :pk", FilterExpression=filter_expression,
                ExpressionAttributeNames={"#pk": keys.PK}, ExpressionAttributeValues={":pk": {"S": pk}, **values}):
            yield from page["Items"]

    def _pending_one_time_schedules(self) -> bool:
        return bool(self._one_time_schedules())

    @contextlib.contextmanager
    def http(self) -> Iterator[str]:
        """Also serve the emulator over HTTP on localhost (for AWS_ENDPOINT_URL_OMICS users)."""
        from sandbox.omics import serve_http

        server = serve_http(self.emulator, host="127.0.0.1", port=0)
        try:
            yield server.url
        finally:
            server.shutdown()
