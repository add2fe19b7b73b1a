"""`python -m sandbox serve`: the local account on localhost, for a user's own boto3 scripts.

Four loopback endpoints, one state:

- **AWS** (S3, SQS, DynamoDB, EventBridge, Scheduler, SNS...): moto's ``ThreadedMotoServer``;
- **HealthOmics**: the emulator over HTTP (``serve_http``);
- **the stack**: CloudFormation (outputs, template, physical ids) and Lambda ``Invoke`` running the real
  handlers (sandbox.stack_api), so that a client of a deployed stack (the `autopilot` CLI) works unchanged;
- **control**: a small JSON API to drive the virtual clock and inject faults (docs/SANDBOX.md).

The account starts with a registered demo workflow, configured as the stack's default (`workflowId`),
so that the sheets in examples/sheets/ launch as they are.

How the handlers and the user's scripts see the same state: the account is an ordinary
:class:`~sandbox.local.LocalAccount` (moto in-process via ``mock_aws`` + emulator via ``mock_omics`` +
resources created from the synthesized template + the real handlers). moto keeps its backends in
process-global memory, and the ``ThreadedMotoServer`` started in the same process serves those very
backends over HTTP; the emulator's HTTP transport dispatches into the very emulator the in-process hook
uses. So the handlers, the emulator's S3/EventBridge writes and a user's script over HTTP read and write
one account, with no second copy to keep in sync and no change to LocalAccount: the handlers keep their
in-process speed, and only the user's traffic goes over the wire.

All work that drives the account (clock, deliveries, faults, state reads) is serialised by one lock;
the user's own AWS and HealthOmics requests are served concurrently by the two servers (moto's backends
and the emulator's lock make that safe, as in any moto server).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.local import ACCOUNT_ID, REGION, SANDBOX_ENV, STACK_NAME, LocalAccount
from sandbox.omics import (
    BatchFault,
    EventFaults,
    FaultPlan,
    OmicsEmulator,
    OmicsHTTPServer,
    OutputSpec,
    RunFault,
    SubmissionFault,
    TaskSpec,
    serve_http,
)
from sandbox.omics.state import BATCH_TERMINAL, RUN_TERMINAL
from sandbox.omics.transport_http import SHUTDOWN_POLL_SECONDS
from sandbox.stack_api import SandboxStack, StackApiServer

MAX_ADVANCE_SECONDS = 7 * 86400.0  # one control request moves the clock at most a week
MAX_STEPS_PER_REQUEST = 20_000  # seconds / step_seconds, so that one request stays bounded
DEFAULT_STEP_SECONDS = 60.0
AUTOPLAY_TICK_SECONDS = 0.2  # real seconds between autoplay advances
WAIT_POLL_SECONDS = 0.1  # how soon wait() returns after a stop is requested
AUTOPLAY_MAX_LAG_SECONDS = 5.0  # real time that autoplay catches up at most after a slow step

REASON_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"

# The workflow the sandbox starts with: a germline pipeline with simulated durations (docs/EMULATOR.md).
DEMO_WORKFLOW_NAME = "demo-germline"
DEMO_WORKFLOW_TASKS = (
    TaskSpec(name="align", duration_seconds=3600, outputs=(OutputSpec("bam", 4_000_000),)),
    TaskSpec(name="call", depends_on=("align",), duration_seconds=1800, outputs=(OutputSpec("gvcf", 500_000),)),
)


def demo_configuration(context: dict[str, Any]) -> Any:
    """The `prepare` hook of the served account: register the demo workflow and make it the stack's
    default, unless the user's own context (`-c workflowId=...`) says otherwise."""

    def prepare(emulator: OmicsEmulator) -> dict[str, Any]:
        workflow_id = emulator.register_workflow(DEMO_WORKFLOW_NAME, tasks=DEMO_WORKFLOW_TASKS)
        # What examples/sheets/* need from the configuration: the default workflow (tests/integration/
        # test_cli_against_sandbox_server.py submits them as they are).
        defaults = {
            "workflowId": workflow_id,
            # The data the examples read and write, for the created service role (README: "Deploying
            # into a real account"; IAM is not enforced by the emulator, synthesis and doctor read it).
            "serviceRoleReadLocations": ["s3://lab-data/", "s3://lab-reference/"],
            "serviceRoleWriteLocations": ["s3://lab-outputs/trio/"],
        }
        return {key: value for key, value in defaults.items() if key not in context}

    return prepare


# ====================================================================== request models
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AdvanceRequest(_Strict):
    seconds: float = Field(gt=0, le=MAX_ADVANCE_SECONDS)
    step_seconds: float = Field(DEFAULT_STEP_SECONDS, gt=0, le=86400)


class RunUntilQuietRequest(_Strict):
    max_seconds: float = Field(MAX_ADVANCE_SECONDS, gt=0, le=MAX_ADVANCE_SECONDS)
    step_seconds: float = Field(DEFAULT_STEP_SECONDS, gt=0, le=86400)


class LogsRequest(_Strict):
    lines: int = Field(200, ge=1, le=2000)


class AutoplayRequest(_Strict):
    speed: float = Field(ge=0, le=86400)


class RunFaultIn(_Strict):
    """A RunFault: fail matching runs at a task (or while STARTING) with a failure reason."""

    reason: str = Field("RUN_TASK_FAILED", pattern=REASON_PATTERN, max_length=128)
    at_task: str | None = Field(None, min_length=1)
    message: str | None = None
    run_name: str | None = Field(None, min_length=1)
    run_setting_id: str | None = Field(None, min_length=1)
    first_attempt_only: bool = True
    probability: float = Field(1.0, ge=0.0, le=1.0)

    def build(self) -> RunFault:
        return RunFault(**self.model_dump())


class SubmissionFaultIn(_Strict):
    """A SubmissionFault: fail the StartRun submission of matching batch entries."""

    run_setting_ids: list[str] | None = Field(None, min_length=1)
    reason: str = Field("ServiceQuotaExceededException", pattern=REASON_PATTERN, max_length=128)
    message: str = "Exceeded the maximum number of active runs."

    def build(self) -> SubmissionFault:
        ids = frozenset(self.run_setting_ids) if self.run_setting_ids is not None else None
        return SubmissionFault(run_setting_ids=ids, reason=self.reason, message=self.message)


class BatchFaultIn(_Strict):
    """A BatchFault: fail a whole batch during its asynchronous validation."""

    batch_name: str | None = Field(None, min_length=1)
    reason: str = Field("INTERNAL_SERVER_EXCEPTION", pattern=REASON_PATTERN, max_length=128)
    message: str = "The service encountered a transient error. Retry the batch."

    def build(self) -> BatchFault:
        return BatchFault(**self.model_dump())


class EventFaultsIn(_Strict):
    """Event delivery faults; fields left out keep their current value."""

    duplicate: float | None = Field(None, ge=0.0, le=1.0)
    drop: float | None = Field(None, ge=0.0, le=1.0)
    delay: float | None = Field(None, ge=0.0, le=1.0)
    delay_seconds: float | None = Field(None, ge=0.0, le=MAX_ADVANCE_SECONDS)
    reorder: float | None = Field(None, ge=0.0, le=1.0)
    reorder_window: int | None = Field(None, ge=2, le=10_000)


class FaultsRequest(_Strict):
    """POST /faults: run/submission/batch faults are appended, throttle entries merged (a probability
    of 0 removes one), event fields and ``start_run_tps`` set; ``replace`` first clears the plan."""

    replace: bool = False
    runs: list[RunFaultIn] = Field(default_factory=list)
    submissions: list[SubmissionFaultIn] = Field(default_factory=list)
    batches: list[BatchFaultIn] = Field(default_factory=list)
    throttle: dict[str, float] = Field(default_factory=dict)
    events: EventFaultsIn | None = None
    start_run_tps: float | None = Field(None, gt=0, le=10_000)

    @field_validator("throttle")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        for operation, probability in value.items():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"throttle[{operation!r}] must be a probability in [0, 1], got {probability}")
        return value


class BadRequest(Exception):
    """A control request the sandbox refuses (HTTP 400), with the field it is about."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


def _parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in error["loc"]) or "(body)", "message": error["msg"]}
                   for error in exc.errors()]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise BadRequest(f"invalid request: {summary}", details) from None


# ====================================================================== the served account
class SandboxServer:
    """A LocalAccount served on localhost. ``start()`` / ``stop()``, or use it as a context manager.

    ``endpoints`` is what ``python -m sandbox serve`` prints as its first line.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        aws_port: int = 0,
        omics_port: int = 0,
        control_port: int = 0,
        seed: int = 0,
        context: dict[str, Any] | None = None,
        template: dict[str, Any] | None = None,
        faults: dict[str, Any] | None = None,
        autoplay_speed: float = 0.0,
        step_seconds: float = DEFAULT_STEP_SECONDS,
        start: datetime | None = None,
        demo_workflow: bool = True,
    ) -> None:
        if autoplay_speed < 0:
            raise ValueError("autoplay speed must be >= 0 (virtual seconds per real second)")
        if step_seconds <= 0:
            raise ValueError("step seconds must be > 0")
        self.host = host
        self._ports = (aws_port, omics_port, control_port)
        self.plan = FaultPlan()
        context = dict(context or {})
        self.account = LocalAccount(context, seed=seed, faults=self.plan, start=start, template=template,
                                    prepare=demo_configuration(context) if demo_workflow else None)
        self._initial_faults = _parse(FaultsRequest, faults) if faults else None
        self.autoplay_speed = autoplay_speed
        self.step_seconds = step_seconds
        self.lock = threading.RLock()
        self._stop = threading.Event()  # set by stop(): wakes autoplay's tick at once
        self._stop_requested = False  # set by request_stop(): a plain flag, which a signal handler may set
        self._moto: Any = None
        self._omics: OmicsHTTPServer | None = None
        self._control: ThreadingHTTPServer | None = None
        self._stack_api: StackApiServer | None = None
        self._threads: list[threading.Thread] = []
        self._entered = False
        self.autoplay_error: str | None = None
        self.autoplayed_seconds = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SandboxServer:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines on the console
        aws_port, omics_port, control_port = self._ports
        try:
            self.account.__enter__()  # mock_aws resets moto's backends here, before the server exists
            self._entered = True
            if self._initial_faults is not None:
                self.apply_faults(self._initial_faults)
            self._moto = ThreadedMotoServer(ip_address=self.host, port=aws_port, verbose=False)
            self._moto.start()
            self._omics = serve_http(self.account.emulator, host=self.host, port=omics_port)
            stack = SandboxStack(self.account, STACK_NAME, self.stack_id, self._locked)
            self._stack_api = StackApiServer(stack, self.host)
            self._control = ThreadingHTTPServer((self.host, control_port), _control_handler(self))
            self._control.daemon_threads = True
            control = self._control
            self._spawn("sandbox-control", lambda: control.serve_forever(SHUTDOWN_POLL_SECONDS))
            self._spawn("sandbox-autoplay", self._autoplay)
        except BaseException:
            self.stop()
            raise
        return self

    def _locked(self, action: Callable[[], Any]) -> Any:
        with self.lock:
            return action()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop autoplay, then the servers, then the account (idempotent)."""
        self._stop.set()
        # moto's server checks for shutdown every 0.5 s (werkzeug's default): it stops while the others do
        moto, self._moto = self._moto, None
        stopping_moto = threading.Thread(target=moto.stop, name="sandbox-moto-stop") if moto is not None else None
        if stopping_moto is not None:
            stopping_moto.start()
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
            self._control = None
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        if self._stack_api is not None:
            self._stack_api.shutdown()
            self._stack_api = None
        if self._omics is not None:
            self._omics.shutdown()
            self._omics = None
        if stopping_moto is not None:
            stopping_moto.join(timeout=10)
        if self._entered:
            with self.lock:
                self.account.__exit__(None, None, None)
            self._entered = False

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def request_stop(self) -> None:
        """Ask ``wait()`` to return and the clock operations under way to end; ``stop()`` does the shutdown.
        Safe from a signal handler because it takes no lock: Python runs the handler in the main thread, which
        may hold a lock at that moment (Event.set from a handler that landed inside Event.wait deadlocked)."""
        self._stop_requested = True

    def stopping(self) -> bool:
        return self._stop_requested or self._stop.is_set()

    def wait(self) -> None:
        """Block until a stop is requested (``request_stop``, from a signal handler too) or ``stop()`` is called."""
        while not self.stopping():
            time.sleep(WAIT_POLL_SECONDS)  # a signal's handler runs during the sleep; the sleep then resumes

    # ------------------------------------------------------------------ endpoints
    def _url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def aws_endpoint_url(self) -> str:
        assert self._moto is not None, "call start() first"
        return self._url(self._moto.get_host_and_port()[1])

    @property
    def omics_endpoint_url(self) -> str:
        assert self._omics is not None, "call start() first"
        return self._omics.url

    @property
    def control_url(self) -> str:
        assert self._control is not None, "call start() first"
        return self._url(self._control.server_address[1])

    @property
    def stack_endpoint_url(self) -> str:
        assert self._stack_api is not None, "call start() first"
        return self._stack_api.url

    @property
    def stack_id(self) -> str:
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/sandbox"

    @property
    def client_env(self) -> dict[str, str]:
        """The variables a user's boto3 script (or `autopilot --stack omics-autopilot`) needs to talk to
        this account."""
        assert self._omics is not None and self._stack_api is not None, "call start() first"
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            **self._omics.env,  # AWS_ENDPOINT_URL_OMICS + AWS_DISABLE_HOST_PREFIX_INJECTION
            **self._stack_api.env,  # AWS_ENDPOINT_URL_CLOUDFORMATION + AWS_ENDPOINT_URL_LAMBDA
            "AWS_ACCESS_KEY_ID": SANDBOX_ENV["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": SANDBOX_ENV["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    @property
    def endpoints(self) -> dict[str, Any]:
        return {
            "aws_endpoint_url": self.aws_endpoint_url,
            "omics_endpoint_url": self.omics_endpoint_url,
            "control_url": self.control_url,
            "stack_endpoint_url": self.stack_endpoint_url,
            "stack_name": STACK_NAME,
            "workflow_id": self.account.context.get("workflowId"),  # the stack's default (the demo workflow)
            "region": REGION,
            "account_id": ACCOUNT_ID,
            "env": self.client_env,
            "outputs": self.account.outputs,
            "clock": self.account.clock.now().isoformat(),
            "autoplay_speed": self.autoplay_speed,
        }

    # ------------------------------------------------------------------ control operations
    def advance(self, seconds: float, step_seconds: float | None = None) -> dict[str, Any]:
        """Move the virtual clock by ``seconds`` in steps: each step advances HealthOmics, fires due
        schedules and delivers every queued message to the handlers (LocalAccount.step)."""
        step = step_seconds or self.step_seconds
        if seconds / step > MAX_STEPS_PER_REQUEST:
            raise BadRequest(f"seconds / step_seconds must be at most {MAX_STEPS_PER_REQUEST} "
                             f"(got {seconds} / {step}); use a larger step_seconds",
                             [{"field": "step_seconds", "message": "too many steps for one request"}])
        with self.lock:
            before = self._delivery_totals()
            stepped = sum(self._steps(seconds, step))
            # all of it unless stopped: a float sum of the steps may differ from the request in its last digit
            advanced = stepped if self.stopping() else seconds
            return {"advanced_seconds": advanced, **self._delivery_delta(before), **self._brief()}

    def _steps(self, seconds: float, step: float) -> Iterator[float]:
        """Step the account's clock by `seconds`, `step` at a time, yielding each step's seconds once taken. A stop
        (Ctrl-C, SIGTERM) ends it between steps: callers hold the lock, which stopping the server waits for."""
        remaining = seconds
        while remaining > 1e-9 and not self.stopping():
            chunk = min(step, remaining)
            self.account.step(chunk)
            remaining -= chunk
            yield chunk

    def run_until_quiet(self, max_seconds: float, step_seconds: float) -> dict[str, Any]:
        if max_seconds / step_seconds > MAX_STEPS_PER_REQUEST:
            raise BadRequest(f"max_seconds / step_seconds must be at most {MAX_STEPS_PER_REQUEST}",
                             [{"field": "step_seconds", "message": "too many steps for one request"}])
        with self.lock:
            before, started = self._delivery_totals(), self.account.clock.now()
            quiet = self.account.run_until_quiet(max_seconds=max_seconds, step_seconds=step_seconds,
                                                 stopped=self.stopping)
            advanced = (self.account.clock.now() - started).total_seconds()
            return {"quiet": quiet, "advanced_seconds": advanced, **self._delivery_delta(before), **self._brief()}

    def bump_manifest_version(self) -> dict[str, Any]:
        with self.lock:
            return {"manifest_version": self.account.emulator.bump_manifest_version()}

    def set_autoplay(self, speed: float) -> dict[str, Any]:
        with self.lock:
            self.autoplay_speed = speed
            return {"autoplay_speed": speed}

    def apply_faults(self, request: FaultsRequest) -> dict[str, Any]:
        """Change the emulator's FaultPlan in place (the emulator reads it at every decision)."""
        emulator = self.account.emulator
        unknown = sorted(op for op in request.throttle if op != "*" and op not in emulator.operations)
        if unknown:
            raise BadRequest(f"throttle: unknown HealthOmics operation(s) {unknown}; use operation names "
                             f"such as GetRun, or '*' for all",
                             [{"field": f"throttle.{op}", "message": "unknown operation"} for op in unknown])
        with self.lock, emulator.lock:
            plan = self.plan
            if request.replace:
                plan.runs.clear()
                plan.submissions.clear()
                plan.batches.clear()
                plan.throttle.clear()
                plan.events = EventFaults()
                plan.start_run_tps = FaultPlan().start_run_tps
            plan.runs.extend(f.build() for f in request.runs)
            plan.submissions.extend(f.build() for f in request.submissions)
            plan.batches.extend(f.build() for f in request.batches)
            for operation, probability in request.throttle.items():
                if probability > 0:
                    plan.throttle[operation] = probability
                else:
                    plan.throttle.pop(operation, None)
            if request.events is not None:
                changes = request.events.model_dump(exclude_none=True)
                plan.events = EventFaults(**{**asdict(plan.events), **changes})
            if request.replace or request.events is not None:
                # The publisher holds the EventFaults it was built with; point it at the new ones.
                emulator.publisher._faults = plan.events
            if request.start_run_tps is not None:
                plan.start_run_tps = request.start_run_tps
            return self.faults_view()

    def faults_view(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "runs": [{k: v for k, v in asdict(f).items() if k != "predicate"} | {"predicate": f.predicate is not None}
                     for f in plan.runs],
            "submissions": [{"run_setting_ids": sorted(f.run_setting_ids) if f.run_setting_ids is not None else None,
                             "reason": f.reason, "message": f.message, "predicate": f.predicate is not None}
                            for f in plan.submissions],
            "batches": [{"batch_name": f.batch_name, "reason": f.reason, "message": f.message,
                         "predicate": f.predicate is not None} for f in plan.batches],
            "throttle": dict(plan.throttle),
            "events": asdict(plan.events),
            "start_run_tps": plan.start_run_tps,
        }

    def logs(self, lines: int) -> dict[str, Any]:
        """The last lines the handlers wrote (logs, EMF metrics): the sandbox's CloudWatch Logs."""
        output = getattr(self.account, "lambda_output", None)
        if output is None:
            return {"lines": [], "written": 0}
        with self.lock:
            kept = list(output.lines)
            return {"lines": kept[-lines:], "written": output.written}

    def state(self) -> dict[str, Any]:
        with self.lock:
            account, emulator = self.account, self.account.emulator
            with emulator.lock:
                runs = Counter(r.status for r in emulator.runs.values())
                batches = Counter(b.status for b in emulator.batches.values() if not b.deleted)
                active_batches = sum(n for status, n in batches.items() if status not in BATCH_TERMINAL)
                events = {"emitted": len(emulator.emitted_events), "delivered": len(emulator.delivered_events),
                          "dropped": len(emulator.publisher.dropped),
                          "delayed_pending": emulator.publisher.pending_delayed}
                calls = dict(emulator.calls)
                idle = emulator.is_idle()
            queues = [self._queue_state(c) for c in account.resources.consumers]
            stats = account.stats
            return {
                "clock": account.clock.now().isoformat(),
                "omics": {
                    "idle": idle,
                    "active_runs": sum(n for status, n in runs.items() if status not in RUN_TERMINAL),
                    "runs_by_status": dict(runs),
                    "active_batches": active_batches,
                    "batches_by_status": dict(batches),
                    "manifest_version": emulator.manifest_version,
                    "calls": calls,
                },
                "events": events,
                "queues": queues,
                "queued_messages": sum(q["visible"] + q["awaiting_retry"] for q in queues),
                "dlq_messages": sum(q["dlq"] for q in queues),
                "handlers": {name: dict(getattr(stats, name)) for name in
                             ("invocations", "records", "record_failures", "handler_errors", "scheduled_runs")},
                "autoplay": {"speed": self.autoplay_speed, "advanced_seconds": self.autoplayed_seconds,
                             "last_error": self.autoplay_error},
                "faults": self.faults_view(),
            }

    # ------------------------------------------------------------------ internals
    def _queue_state(self, consumer: Any) -> dict[str, Any]:
        sqs = self.account.sqs
        attributes = sqs.get_queue_attributes(
            QueueUrl=consumer.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        dlq = 0
        if consumer.dlq_url:
            dlq = int(sqs.get_queue_attributes(QueueUrl=consumer.dlq_url, AttributeNames=[
                "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
        function = self.account.resources.functions[consumer.function]
        return {"function": consumer.function, "handler": function.handler, "queue_url": consumer.queue_url,
                "visible": int(attributes["ApproximateNumberOfMessages"]),
                # failed records wait for their visibility timeout on the virtual clock
                "awaiting_retry": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                "dlq_url": consumer.dlq_url, "dlq": dlq}

    def _delivery_totals(self) -> tuple[int, int, int]:
        stats = self.account.stats
        return (sum(stats.invocations.values()), sum(stats.records.values()), sum(stats.record_failures.values()))

    def _delivery_delta(self, before: tuple[int, int, int]) -> dict[str, int]:
        after = self._delivery_totals()
        return {"invocations": after[0] - before[0], "records_delivered": after[1] - before[1],
                "record_failures": after[2] - before[2]}

    def _brief(self) -> dict[str, Any]:
        account = self.account
        return {"clock": account.clock.now().isoformat(), "omics_idle": account.emulator.is_idle(),
                "active_runs": account.emulator.active_runs(), "queued_messages": account.pending_messages(),
                "dlq_messages": account.dlq_messages()}

    def _autoplay(self) -> None:
        """Advance ``autoplay_speed`` virtual seconds per real second while the speed is above zero."""
        last = time.monotonic()
        while not self._stop.wait(AUTOPLAY_TICK_SECONDS) and not self.stopping():
            now = time.monotonic()
            elapsed, last = min(now - last, AUTOPLAY_MAX_LAG_SECONDS), now
            speed = self.autoplay_speed
            if speed <= 0:
                continue
            seconds = speed * elapsed
            try:
                with self.lock:
                    if self.stopping():
                        return
                    for chunk in self._steps(seconds, min(self.step_seconds, seconds)):
                        self.autoplayed_seconds += chunk  # the steps taken, also when a later one fails
                    self.autoplay_error = None
            except Exception as exc:  # keep serving; the error is visible in GET /state
                self.autoplay_error = f"{type(exc).__name__}: {exc}"
            last = time.monotonic()


# ====================================================================== the control API
Route = Callable[["SandboxServer", dict[str, Any]], dict[str, Any]]

ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/health"): lambda s, _: {"status": "ok", "clock": s.account.clock.now().isoformat()},
    ("GET", "/state"): lambda s, _: s.state(),
    ("GET", "/logs"): lambda s, b: s.logs(_parse(LogsRequest, b).lines),
    ("POST", "/clock/advance"): lambda s, b: s.advance(**_parse(AdvanceRequest, b).model_dump()),
    ("POST", "/run-until-quiet"): lambda s, b: s.run_until_quiet(**_parse(RunUntilQuietRequest, b).model_dump()),
    ("GET", "/faults"): lambda s, _: s.faults_view(),
    ("POST", "/faults"): lambda s, b: s.apply_faults(_parse(FaultsRequest, b)),
    ("DELETE", "/faults"): lambda s, _: s.apply_faults(FaultsRequest.model_validate({"replace": True})),
    ("POST", "/manifest-version/bump"): lambda s, _: s.bump_manifest_version(),
    ("POST", "/autoplay"): lambda s, b: s.set_autoplay(_parse(AutoplayRequest, b).speed),
}
MAX_BODY_BYTES = 1_000_000


def _query_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _control_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                raise BadRequest(f"request body larger than {MAX_BODY_BYTES} bytes")
            raw = self.rfile.read(length) if length else b""
            if not raw.strip():
                return {}
            try:
                document = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BadRequest(f"request body is not valid JSON: {exc}") from None
            if not isinstance(document, dict):
                raise BadRequest("request body must be a JSON object")
            return document

        def _serve(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            route = ROUTES.get((self.command, path))
            if route is None:
                allowed = sorted(method for method, p in ROUTES if p == path)
                if allowed:
                    self._reply(405, {"error": "MethodNotAllowed",
                                      "message": f"{self.command} {path}: allowed {', '.join(allowed)}"})
                else:
                    self._reply(404, {"error": "NotFound", "message": f"no control endpoint {path}",
                                      "endpoints": sorted(f"{m} {p}" for m, p in ROUTES)})
                return
            try:
                body = self._body()
                if "?" in self.path:  # GET parameters, e.g. /logs?lines=50 (numbers as JSON values)
                    for key, values in parse_qs(self.path.split("?", 1)[1], strict_parsing=False).items():
                        body.setdefault(key, _query_value(values[-1]))
                self._reply(200, route(server, body))
            except BadRequest as exc:
                self._reply(400, {"error": "BadRequest", "message": str(exc), "details": exc.details})
            except Exception as exc:  # a handler or the emulator failed while driving the account
                self._reply(500, {"error": type(exc).__name__, "message": str(exc),
                                  "traceback": traceback.format_exc(limit=5)})

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler
