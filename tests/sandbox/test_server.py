"""`python -m sandbox serve` in-process: a user's boto3 clients over the real endpoints + the control API.

Issue #3 item 8 (second bullet): a long-lived local account on localhost for a user's own boto3
scripts, with a documented HTTP control API to advance the virtual clock and inject faults
(docs/SANDBOX.md). Every client here is the real boto3 client pointed at the served endpoints, the
same way a user's script is; the handlers are the real ones, run by the sandbox.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.local import LocalAccount
from sandbox.omics import OutputSpec, TaskSpec, definition_zip
from sandbox.server import SandboxServer
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.views import run_view

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
TASKS = [TaskSpec("align", (), 600, (OutputSpec("bam", 2048),)), TaskSpec("call", ("align",), 300)]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from stacks.synth import synth_template

    return synth_template()


@pytest.fixture(scope="module")
def server(template: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(template=template, seed=3) as served:
        yield served


class User:
    """What a user's script holds: clients built from the endpoints line, and the control API."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        self.endpoints = endpoints
        env = endpoints["env"]
        session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
        aws = env["AWS_ENDPOINT_URL"]
        self.s3 = session.client("s3", endpoint_url=aws)
        self.dynamodb = session.client("dynamodb", endpoint_url=aws)
        self.sqs = session.client("sqs", endpoint_url=aws)
        self.omics = session.client("omics", endpoint_url=env["AWS_ENDPOINT_URL_OMICS"],
                                    config=NO_RETRY.merge(Config(inject_host_prefix=False)))
        self.outputs = endpoints["outputs"]

    def control(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.endpoints["control_url"] + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, document = self.control(method, path, body)
        assert status == 200, document
        return document

    def workflow(self, name: str) -> str:
        return str(self.omics.create_workflow(name=name, definitionZip=definition_zip(TASKS),
                                              requestId=f"wf-{name}")["id"])

    def start_run(self, workflow_id: str, name: str, **kw: Any) -> str:
        bucket = self.outputs["RunOutputsBucketName"]
        return str(self.omics.start_run(workflowId=workflow_id, roleArn=self.outputs["OmicsServiceRoleArn"],
                                        outputUri=f"s3://{bucket}/out", requestId=f"req-{name}", name=name,
                                        **kw)["id"])

    def repository(self) -> ProvenanceRepository:
        return ProvenanceRepository(self.outputs["ProvenanceTableName"], self.dynamodb)


@pytest.fixture(scope="module")
def clients(server: SandboxServer) -> User:
    return User(server.endpoints)


@pytest.fixture
def user(clients: User) -> Iterator[User]:
    """The user's clients, with an empty fault plan and autoplay off around each test."""
    client = clients
    client.ok("DELETE", "/faults")
    yield client
    client.ok("DELETE", "/faults")
    client.ok("POST", "/autoplay", {"speed": 0})


# ---------------------------------------------------------------------------------------------- endpoints
def test_endpoints_describe_loopback_servers_and_the_client_environment(server: SandboxServer) -> None:
    endpoints = json.loads(json.dumps(server.endpoints))  # what is printed is plain JSON
    for key in ("aws_endpoint_url", "omics_endpoint_url", "control_url"):
        assert endpoints[key].startswith("http://127.0.0.1:"), endpoints[key]
    assert len({endpoints["aws_endpoint_url"], endpoints["omics_endpoint_url"], endpoints["control_url"]}) == 3
    env = endpoints["env"]
    assert env["AWS_ENDPOINT_URL"] == endpoints["aws_endpoint_url"]
    assert env["AWS_ENDPOINT_URL_OMICS"] == endpoints["omics_endpoint_url"]
    assert env["AWS_DISABLE_HOST_PREFIX_INJECTION"] == "true"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert {"ProvenanceTableName", "RunOutputsBucketName", "RunCacheId"} <= set(endpoints["outputs"])


# ---------------------------------------------------------------------------------------------- one state
def test_a_users_run_flows_through_the_real_handlers_into_provenance(user: User, server: SandboxServer) -> None:
    bucket = user.outputs["RunOutputsBucketName"]
    user.s3.put_object(Bucket=bucket, Key="inputs/s1.fastq", Body=b"@r\nACGT\n+\nIIII\n")
    # The account's own in-process clients see what the user wrote over HTTP: one state.
    assert server.account.s3.get_object(Bucket=bucket, Key="inputs/s1.fastq")["Body"].read().startswith(b"@r")

    run_id = user.start_run(user.workflow("germline-flow"), "s1", cacheId=user.outputs["RunCacheId"],
                            cacheBehavior="CACHE_ALWAYS", parameters={"reads": f"s3://{bucket}/inputs/s1.fastq"})
    assert user.omics.get_run(id=run_id)["status"] == "PENDING"
    assert run_view(user.repository(), run_id) is None  # nothing delivered before the clock moves

    advanced = user.ok("POST", "/clock/advance", {"seconds": 3600})
    assert advanced["advanced_seconds"] == 3600 and advanced["records_delivered"] > 0
    assert advanced["invocations"] > 0 and advanced["queued_messages"] == 0 and advanced["dlq_messages"] == 0

    assert user.omics.get_run(id=run_id)["status"] == "COMPLETED"
    view = run_view(user.repository(), run_id)  # read through the moto server, with the product's DAL
    assert view is not None and view.status == "COMPLETED"
    assert {t.name for t in view.tasks} == {"align", "call"}
    # The emulator wrote the run's cache entries to S3: the user sees them over the moto server.
    cache_uri = user.omics.get_run_cache(id=user.outputs["RunCacheId"])["cacheS3Uri"]
    cache_bucket, _, prefix = cache_uri.removeprefix("s3://").partition("/")
    keys = [o["Key"] for o in user.s3.list_objects_v2(Bucket=cache_bucket, Prefix=prefix).get("Contents", [])]
    assert any(f"/{run_id}/" in k and k.endswith(".json") for k in keys), keys

    state = user.ok("GET", "/state")
    assert state["omics"]["runs_by_status"].get("COMPLETED", 0) >= 1 and state["omics"]["active_runs"] == 0
    recorder = next(q for q in state["queues"] if q["handler"].startswith("recorder."))
    assert recorder["visible"] == 0 and recorder["dlq"] == 0
    assert state["handlers"]["invocations"][recorder["function"]] >= 1
    assert state["omics"]["calls"]["StartRun"] >= 1 and state["events"]["delivered"] >= state["events"]["emitted"]
    assert state["clock"] == advanced["clock"]


def test_logs_hold_what_the_handlers_wrote(user: User) -> None:
    user.start_run(user.workflow("logged"), "logged-1")
    user.ok("POST", "/clock/advance", {"seconds": 3600, "step_seconds": 300})
    logs = user.ok("GET", "/logs?lines=3")
    assert logs["written"] > 0 and 1 <= len(logs["lines"]) <= 3
    assert all(isinstance(line, str) and line for line in logs["lines"])
    status, document = user.control("GET", "/logs?lines=0")
    assert status == 400 and document["details"][0]["field"] == "lines"


def test_run_until_quiet_drains_everything(user: User) -> None:
    run_id = user.start_run(user.workflow("quiet"), "quiet-1")
    result = user.ok("POST", "/run-until-quiet", {"max_seconds": 86400, "step_seconds": 120})
    assert result["quiet"] is True and 0 < result["advanced_seconds"] <= 86400
    assert result["queued_messages"] == 0 and result["active_runs"] == 0
    view = run_view(user.repository(), run_id)
    assert view is not None and view.status == "COMPLETED"


def test_manifest_version_bump(user: User) -> None:
    before = user.ok("GET", "/state")["omics"]["manifest_version"]
    assert user.ok("POST", "/manifest-version/bump") == {"manifest_version": before + 1}
    assert user.ok("GET", "/state")["omics"]["manifest_version"] == before + 1


def test_health(user: User) -> None:
    health = user.ok("GET", "/health")
    assert health["status"] == "ok" and health["clock"].startswith("20")


# ---------------------------------------------------------------------------------------------- faults
def test_run_fault_at_a_task_with_a_reason_reaches_provenance(user: User) -> None:
    plan = user.ok("POST", "/faults", {"runs": [{"reason": "OUT_OF_MEMORY", "at_task": "call", "run_name": "oom-1",
                                                 "message": "task call ran out of memory"}]})
    assert plan["runs"] == [{"reason": "OUT_OF_MEMORY", "at_task": "call", "message": "task call ran out of memory",
                             "run_name": "oom-1", "run_setting_id": None, "first_attempt_only": True,
                             "probability": 1.0, "predicate": False}]
    workflow = user.workflow("faulted")
    failing, healthy = user.start_run(workflow, "oom-1"), user.start_run(workflow, "fine-1")
    user.ok("POST", "/clock/advance", {"seconds": 7200, "step_seconds": 300})
    failed = user.omics.get_run(id=failing)
    assert failed["status"] == "FAILED" and failed["failureReason"] == "OUT_OF_MEMORY"
    assert user.omics.get_run(id=healthy)["status"] == "COMPLETED"
    view = run_view(user.repository(), failing)
    assert view is not None and view.status == "FAILED" and view.failure_reason == "OUT_OF_MEMORY"
    statuses = {t.name: t.status for t in view.tasks}
    assert statuses["align"] == "COMPLETED" and statuses["call"] == "FAILED"


def test_throttling_by_operation_and_its_removal(user: User) -> None:
    user.ok("POST", "/faults", {"throttle": {"ListWorkflows": 1.0}})
    with pytest.raises(ClientError) as error:
        user.omics.list_workflows()
    assert error.value.response["Error"]["Code"] == "ThrottlingException"
    assert user.omics.list_run_caches()["items"]  # other operations are not throttled
    assert user.ok("POST", "/faults", {"throttle": {"ListWorkflows": 0}})["throttle"] == {}
    assert "items" in user.omics.list_workflows()


def test_submission_and_batch_faults(user: User) -> None:
    user.ok("POST", "/faults", {
        "submissions": [{"run_setting_ids": ["s-2"], "reason": "ServiceQuotaExceededException",
                         "message": "Exceeded the maximum number of active runs."}],
        "batches": [{"batch_name": "doomed", "reason": "INTERNAL_SERVER_EXCEPTION", "message": "try again"}],
        "start_run_tps": 10})
    workflow, bucket = user.workflow("batched"), user.outputs["RunOutputsBucketName"]
    default = {"workflowId": workflow, "roleArn": user.outputs["OmicsServiceRoleArn"], "outputUri": f"s3://{bucket}/b"}
    settings = [{"runSettingId": "s-1", "name": "s-1"}, {"runSettingId": "s-2", "name": "s-2"}]
    good = user.omics.start_run_batch(batchName="cohort", requestId="batch-cohort", defaultRunSetting=default,
                                      batchRunSettings={"inlineSettings": settings})["id"]
    doomed = user.omics.start_run_batch(batchName="doomed", requestId="batch-doomed", defaultRunSetting=default,
                                        batchRunSettings={"inlineSettings": settings})["id"]
    user.ok("POST", "/clock/advance", {"seconds": 600})
    members = {m["runSettingId"]: m for m in user.omics.list_runs_in_batch(batchId=good)["runs"]}
    assert members["s-1"]["submissionStatus"] == "SUCCESS"
    assert members["s-2"]["submissionStatus"] == "FAILED"
    assert members["s-2"]["submissionFailureReason"] == "ServiceQuotaExceededException"
    assert user.omics.get_batch(batchId=doomed)["status"] == "FAILED"
    assert user.ok("GET", "/faults")["start_run_tps"] == 10


def test_event_duplication_is_applied_and_the_handlers_converge(user: User) -> None:
    plan = user.ok("POST", "/faults", {"events": {"duplicate": 1.0}})
    assert plan["events"]["duplicate"] == 1.0 and plan["events"]["delay_seconds"] == 30.0
    before = user.ok("GET", "/state")["events"]
    run_id = user.start_run(user.workflow("dup"), "dup-1")
    user.ok("POST", "/clock/advance", {"seconds": 3600})
    after = user.ok("GET", "/state")
    emitted = after["events"]["emitted"] - before["emitted"]
    assert emitted > 0 and after["events"]["delivered"] - before["delivered"] == 2 * emitted
    view = run_view(user.repository(), run_id)
    assert view is not None and view.status == "COMPLETED"
    assert len(view.history) == len({h["status"] for h in view.history})  # duplicates recorded once
    assert after["dlq_messages"] == 0
    assert user.ok("DELETE", "/faults")["events"]["duplicate"] == 0.0


def test_replace_clears_the_plan(user: User) -> None:
    user.ok("POST", "/faults", {"runs": [{"run_name": "x"}], "throttle": {"*": 0.5}})
    plan = user.ok("POST", "/faults", {"replace": True, "batches": [{"batch_name": "b"}]})
    assert plan["runs"] == [] and plan["throttle"] == {} and [b["batch_name"] for b in plan["batches"]] == ["b"]


# ---------------------------------------------------------------------------------------------- 4xx
@pytest.mark.parametrize(("method", "path", "raw", "field"), [
    ("POST", "/clock/advance", b"{not json", None),
    ("POST", "/clock/advance", b"[1, 2]", None),
    ("POST", "/clock/advance", b"{}", "seconds"),
    ("POST", "/clock/advance", b'{"seconds": -5}', "seconds"),
    ("POST", "/clock/advance", b'{"seconds": NaN}', "seconds"),
    ("POST", "/clock/advance", b'{"seconds": 10, "speed": 1}', "speed"),
    ("POST", "/clock/advance", b'{"seconds": 604800, "step_seconds": 1}', "step_seconds"),
    ("POST", "/run-until-quiet", b'{"max_seconds": "soon"}', "max_seconds"),
    ("POST", "/faults", b'{"runs": [{"probability": 1.5}]}', "runs.0.probability"),
    ("POST", "/faults", b'{"runs": [{"reason": "out of memory"}]}', "runs.0.reason"),
    ("POST", "/faults", b'{"throttle": {"GetRun": 2}}', "throttle"),
    ("POST", "/faults", b'{"throttle": {"GetRuns": 0.5}}', "throttle.GetRuns"),
    ("POST", "/faults", b'{"events": {"reorder_window": 1}}', "events.reorder_window"),
    ("POST", "/faults", b'{"submissions": [{"run_setting_ids": []}]}', "submissions.0.run_setting_ids"),
    ("POST", "/faults", b'{"explode": true}', "explode"),
    ("POST", "/autoplay", b'{"speed": -1}', "speed"),
])
def test_bad_requests_are_400_with_the_field_named(user: User, method: str, path: str, raw: bytes,
                                                   field: str | None) -> None:
    clock = user.ok("GET", "/health")["clock"]
    status, document = user.control(method, path, raw=raw)
    assert status == 400 and document["error"] == "BadRequest", document
    if field is not None:
        assert field in [d["field"] for d in document["details"]], document
        assert field.split(".")[-1] in document["message"]
    assert user.ok("GET", "/health")["clock"] == clock  # a refused request changes nothing
    assert user.ok("GET", "/faults")["runs"] == []


def test_unknown_path_and_wrong_method(user: User) -> None:
    status, document = user.control("GET", "/nope")
    assert status == 404 and "POST /clock/advance" in document["endpoints"]
    status, document = user.control("GET", "/clock/advance")
    assert status == 405 and "POST" in document["message"]


# ---------------------------------------------------------------------------------------------- autoplay
class _BusyAccount:
    """A stand-in for the account under a server's control operations: never quiet, stepping its own clock, it
    asks the server to stop at its third step (the loops under test are the server's and LocalAccount's)."""

    def __init__(self, server: SandboxServer) -> None:
        self.server, self.steps, self.now = server, [], datetime(2026, 1, 1, tzinfo=UTC)
        self.clock = SimpleNamespace(now=lambda: self.now)
        self.stats = SimpleNamespace(invocations={}, records={}, record_failures={})
        self.emulator = SimpleNamespace(is_idle=lambda: False, active_runs=lambda: 1)

    def step(self, seconds: float) -> None:
        self.steps.append(seconds)
        self.now += timedelta(seconds=seconds)
        if len(self.steps) == 3:
            self.server.request_stop()

    def deliver(self) -> None:
        pass

    def pending_messages(self) -> int:
        return 0

    def dlq_messages(self) -> int:
        return 0

    def _pending_one_time_schedules(self) -> bool:
        return False

    def run_until_quiet(self, **kwargs: Any) -> bool:
        return LocalAccount.run_until_quiet(self, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("operation", ["autoplay", "advance", "run_until_quiet"])
def test_a_stop_ends_a_long_clock_operation_between_steps(operation: str) -> None:
    """Autoplay's catch-up (up to AUTOPLAY_MAX_LAG_SECONDS of real time), POST /clock/advance and POST
    /run-until-quiet (up to 20,000 steps each) step the clock under the server's lock, which stopping the
    server waits for: a stop (Ctrl-C, SIGTERM) must end them at the step under way, and the seconds they
    report are the seconds stepped. No account is deployed (a stand-in that asks for the stop at its third step)."""
    server = SandboxServer(autoplay_speed=10**6 if operation == "autoplay" else 0, step_seconds=60)
    account = _BusyAccount(server)
    server.account = account  # type: ignore[assignment]
    if operation == "autoplay":
        server._autoplay()  # returns once stopped; a catch-up of 200,000 virtual seconds or more was due
        advanced = server.autoplayed_seconds
    elif operation == "advance":
        advanced = server.advance(6000)["advanced_seconds"]
    else:
        answer = server.run_until_quiet(max_seconds=6000, step_seconds=60)
        assert answer["quiet"] is False
        advanced = answer["advanced_seconds"]
    assert account.steps == [60, 60, 60]
    assert advanced == 180


def test_a_stop_request_takes_no_lock_so_a_signal_handler_may_make_it() -> None:
    """`python -m sandbox serve`'s SIGINT / SIGTERM handler asks for the stop. Python runs a handler in the main
    thread, between two of its bytecodes: here, inside `wait()`, possibly while that thread holds the lock of the
    threading.Event it waits on. A request that takes the same lock (Event.set) never returns: the served
    sandbox hung on Ctrl-C, about one CI run in three (py-spy: MainThread in Event.set, under Event.wait)."""
    server = SandboxServer(autoplay_speed=0)
    returned = threading.Event()

    def handler_inside_wait() -> None:  # the main thread's state when the signal lands, made deterministic
        with server._stop._cond:  # type: ignore[attr-defined]  # Event.wait holds it between its checks
            server.request_stop()
        returned.set()

    threading.Thread(target=handler_inside_wait, name="signal-lands-in-wait", daemon=True).start()
    assert returned.wait(10), "request_stop() blocked on the lock the interrupted wait() holds"
    waiting = threading.Thread(target=server.wait, daemon=True)
    waiting.start()
    waiting.join(10)
    assert not waiting.is_alive(), "wait() did not return after request_stop()"


def test_autoplay_advances_the_clock_in_the_background(user: User) -> None:
    run_id = user.start_run(user.workflow("autoplayed"), "auto-1")
    assert user.ok("POST", "/autoplay", {"speed": 3600}) == {"autoplay_speed": 3600}
    deadline = time.monotonic() + 20
    status = "PENDING"
    while time.monotonic() < deadline and status != "COMPLETED":
        time.sleep(0.2)
        status = user.omics.get_run(id=run_id)["status"]
    user.ok("POST", "/autoplay", {"speed": 0})
    assert status == "COMPLETED"
    state = user.ok("GET", "/state")
    assert state["autoplay"]["advanced_seconds"] > 0 and state["autoplay"]["last_error"] is None
    # the recorder ran on the way (autoplay delivers, as /clock/advance does)
    user.ok("POST", "/clock/advance", {"seconds": 1})
    view = run_view(user.repository(), run_id)
    assert view is not None and view.status == "COMPLETED"
    paused = user.ok("GET", "/health")["clock"]
    time.sleep(0.5)
    assert user.ok("GET", "/health")["clock"] == paused  # speed 0 stops it
