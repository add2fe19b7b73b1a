"""Every CLI action against `make sandbox` exactly as against a deployed stack (issue 12), `doctor` too.

The sandbox runs as a user runs it (`python -m sandbox serve`, a separate process); the CLI finds the
stack the way it finds a deployed one: CloudFormation `DescribeStacks`/`GetTemplate`/
`DescribeStackResource`, then Lambda `Invoke` and EventBridge `StartReplay`, which the sandbox answers
(sandbox/stack_api.py). `--sandbox` only reads the endpoints the sandbox wrote; `--stack` with the
sandbox's client environment takes the same path. Given/When/Then per step; the sheets are the shipped
examples, unchanged.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from autopilot_cli.app import main
from tests import synth_cache

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SHEETS = ROOT / "examples" / "sheets"
STARTUP_TIMEOUT = 300  # synthesis of the stack with the demo workflow's id (Node/jsii), on 2 busy cores
FAILING_SAMPLE = "NA12891"


class Served:
    def __init__(self, process: subprocess.Popen[bytes], endpoints_file: Path) -> None:
        self.process = process
        self.endpoints_file = endpoints_file
        self.endpoints: dict[str, Any] = json.loads(endpoints_file.read_text().splitlines()[0])

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoints["control_url"] + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())

    def quiet(self) -> Any:
        return self.control("POST", "/run-until-quiet", {"max_seconds": 3 * 86400, "step_seconds": 600})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("sandbox")
    endpoints_file = directory / "endpoints.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    process = subprocess.Popen(
        synth_cache.python_m("sandbox", "serve", "--seed", "11", "--endpoints-file", str(endpoints_file)),
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(directory / "serve.err").open("w"))
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not endpoints_file.exists() or not endpoints_file.read_text().endswith("\n"):
            assert process.poll() is None, (directory / "serve.err").read_text()[-3000:]
            assert time.monotonic() < deadline, "the sandbox did not start in time"
            synth_cache.answer_requests()  # the sandbox's synthesis, with this process's Node (tests/synth_cache.py)
            time.sleep(0.1)
        yield Served(process, endpoints_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _sandbox_cli(served: Served, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`autopilot --sandbox ...` as a user types it: the endpoints come from the sandbox's file only."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AUTOPILOT_SANDBOX_FILE", str(served.endpoints_file))

    def run(*argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(["--sandbox", *argv], stdout=stdout, stderr=stderr)
        return code, stdout.getvalue(), stderr.getvalue()

    return run


@pytest.fixture
def cli(served: Served, monkeypatch: pytest.MonkeyPatch) -> Any:
    return _sandbox_cli(served, monkeypatch)


@dataclass
class Launched:
    dry_run: dict[str, Any]  # the CSV example checked before anything was submitted
    runs_after_dry_run: dict[str, Any]
    batches: list[str]  # one batch per shipped example, run until quiet


@pytest.fixture(scope="module")
def launched(served: Served) -> Launched:
    """The story every later step needs, played once whichever tests run (-k too): a fault on one sample, the
    CSV example dry-run, then both shipped examples submitted and run until quiet."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        cli = _sandbox_cli(served, monkeypatch)
        served.control("POST", "/faults", {"runs": [{"reason": "RUN_TASK_FAILED", "at_task": "call",
                                                     "run_setting_id": FAILING_SAMPLE}]})
        dry_run = _json(cli("submit", str(SHEETS / "germline-cohort.csv"), "--dry-run", "--json"))
        runs_after_dry_run = served.control("GET", "/state")["omics"]["runs_by_status"]
        batches = []
        for sheet in ("germline-cohort.csv", "germline-cohort.json"):
            submitted = _json(cli("--json", "submit", str(SHEETS / sheet)))
            assert submitted["status"] == "SUBMITTED" and submitted["batch_id"], submitted
            batches.append(submitted["batch_id"])
        served.quiet()
    return Launched(dry_run, runs_after_dry_run, batches)


def _json(result: tuple[int, str, str]) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def test_the_shipped_sheets_validate_and_launch_in_the_sandbox(launched: Launched, cli: Any) -> None:
    # Given a fresh sandbox (its demo workflow is the stack's default) and a fault on one sample
    # When the CSV example is dry-run, nothing starts
    checked = launched.dry_run
    assert checked["status"] == "VALID" and checked["run_count"] == 3 and checked["errors"] == []
    assert launched.runs_after_dry_run == {}
    # When both examples are submitted, each becomes one batch (the fixture), run until quiet
    # Then every sample completes, the failed one after a re-run from the run cache
    for batch_id in launched.batches:
        outcome = _json(cli("batch", "show", batch_id, "--json"))
        assert outcome["final_outcomes"] == {"COMPLETED": 3}, outcome
    sample = _json(cli("sample", "show", FAILING_SAMPLE, "--json"))
    statuses = [a["status"] for a in sample["attempts"]]
    assert "FAILED" in statuses and statuses.count("COMPLETED") == 2  # one per batch, the failure re-run


def test_cache_prune_dry_run_then_enforce(served: Served, launched: Launched, cli: Any) -> None:
    # Given the cache entries the failed run wrote, then a service update (manifest version bump) and a
    # run started by a user's script that writes entries of the new version
    served.control("POST", "/manifest-version/bump")
    env, outputs = served.endpoints["env"], served.endpoints["outputs"]
    session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
    omics = session.client("omics", endpoint_url=env["AWS_ENDPOINT_URL_OMICS"],
                           config=Config(inject_host_prefix=False))
    workflow = next(w["id"] for w in omics.list_workflows()["items"] if w["name"] == "demo-germline")
    assert workflow == served.endpoints["workflow_id"]  # the endpoints line names the stack's default workflow
    omics.start_run(workflowId=workflow, roleArn=outputs["OmicsServiceRoleArn"], requestId="canary-after-update",
                    outputUri=f"s3://{outputs['RunOutputsBucketName']}/runs/", name="canary",
                    cacheId=outputs["RunCacheId"], cacheBehavior="CACHE_ALWAYS",
                    parameters={"input_bam": "s3://lab-data/bams/NA12878.bam"})
    served.quiet()
    # When the operator runs a dry-run pass: stale entries are reported, nothing is deleted
    dry = _json(cli("--json", "cache", "prune"))
    assert dry["latest_pass"]["mode"] == "dry-run" and dry["latest_pass"]["status"] == "COMPLETED"
    assert dry["latest_pass"]["stale"] >= 1 and dry["latest_pass"]["entries_deleted"] == 0, dry
    # When the operator enforces: the stale entries are deleted and the history shows both passes
    enforced = _json(cli("--json", "cache", "prune", "--enforce"))
    assert enforced["latest_pass"]["mode"] == "enforce"
    assert enforced["latest_pass"]["entries_deleted"] == dry["latest_pass"]["stale"]
    report = _json(cli("--json", "cache", "report"))
    # (both passes started in the same virtual second: the CLI reports the pass it started, not the last id)
    assert sorted(p["mode"] for p in report["passes"]) == ["dry-run", "enforce"]


def test_reconcile_and_replay(served: Served, launched: Launched, cli: Any) -> None:
    # When the operator sweeps now, the reconciler answers with its sweep
    sweep = _json(cli("--json", "reconcile"))
    assert {"runs_checked", "healed"} <= sweep.keys()
    # When the archive is replayed, the recorder receives every archived event again and nothing dead-letters
    before = served.control("GET", "/state")["handlers"]["records"]
    replay = _json(cli("--json", "replay", "--from", "2026-01-01T00:00:00Z", "--poll-seconds", "0"))
    assert replay["state"] == "COMPLETED" and replay["filter_rules"] != "all rules"
    served.control("POST", "/clock/advance", {"seconds": 60})
    state = served.control("GET", "/state")
    assert sum(state["handlers"]["records"].values()) > sum(before.values())
    assert state["dlq_messages"] == 0


def test_doctor_checks_the_sandbox_stack(served: Served, cli: Any) -> None:
    # When the operator asks whether the stack is fit to trust, as against a deployed one
    code, out, err = cli("--json", "doctor", "--input", "s3://lab-data/bams/NA12878.bam")
    # Then every check ran against the sandbox (its stack endpoint lists the resources and serves each
    # function's code package) and passed; moto cannot simulate IAM policies, which doctor says (a warning)
    assert code == 0, err
    report = json.loads(out)
    by_check: dict[str, set[str]] = {}
    for finding in report["findings"]:
        by_check.setdefault(finding["check"], set()).add(finding["status"])
    assert by_check == {"rules": {"ok"}, "queues": {"ok"}, "run cache": {"ok"}, "service role": {"warn"},
                        "function botocore": {"ok"}}, report
    assert all("does not implement SimulatePrincipalPolicy" in f["detail"]
               for f in report["findings"] if f["check"] == "service role")
    functions = [f for f in report["findings"] if f["check"] == "function botocore"]
    env = served.endpoints["env"]
    cloudformation = boto3.client("cloudformation", endpoint_url=env["AWS_ENDPOINT_URL_CLOUDFORMATION"],
                                  region_name=env["AWS_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                  aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    body = cloudformation.get_template(StackName=served.endpoints["stack_name"])["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    deployed = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == len(deployed) == 8, functions  # every function's package was read


def test_the_same_path_with_the_sandbox_environment_and_stack_name(served: Served, monkeypatch: Any) -> None:
    # Given only the sandbox's client environment, as for any boto3 script, and the stack's name
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in served.endpoints["env"].items():
        monkeypatch.setenv(key, value)
    stdout, stderr = io.StringIO(), io.StringIO()
    # When an action goes through `--stack`, exactly as against a deployed stack
    code = main(["--stack", served.endpoints["stack_name"], "submit", str(SHEETS / "germline-cohort.json"),
                 "--dry-run", "--json"], stdout=stdout, stderr=stderr)
    # Then it reaches the stack's launcher
    assert code == 0, stderr.getvalue()
    assert json.loads(stdout.getvalue())["status"] == "VALID"


def test_no_running_sandbox_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_SANDBOX_FILE", str(tmp_path / "absent.json"))
    stderr = io.StringIO()
    assert main(["--sandbox", "reconcile"], stdout=io.StringIO(), stderr=stderr) == 2
    assert "make sandbox" in stderr.getvalue()
