"""`python -m sandbox serve` as a user runs it: a process whose first stdout line is the endpoints JSON,
used by a separate boto3 script configured only by that line's `env`, stopped by SIGTERM / SIGINT.

Issue #3 item 8 (second bullet). Bounded everywhere: every wait has a timeout and the process is
killed in `finally` whatever happens.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import synth_cache

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120  # seconds; synthesis without --template takes ~10 s, the rest ~2 s
STOP_TIMEOUT = 30


class Served:
    def __init__(self, process: subprocess.Popen[str], endpoints: dict[str, Any]) -> None:
        self.process = process
        self.endpoints = endpoints

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoints["control_url"] + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, read in a thread so that a silent process cannot hang the test. Meanwhile this
    process synthesizes what the served sandbox asks for (tests/synth_cache.py)."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        synth_cache.answer_requests()
        try:
            return lines.get(timeout=0.1)
        except queue.Empty:
            continue
    raise AssertionError(f"no endpoints line within {timeout} s")


def _clean_env() -> dict[str, str]:
    """The caller's environment without anything that would point boto3 elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Served:
        process = subprocess.Popen(synth_cache.python_m("sandbox", "serve", *args), cwd=ROOT, env=_clean_env(),
                                   stdout=subprocess.PIPE, stderr=(tmp_path / "serve.err").open("w"), text=True)
        processes.append(process)
        line = _first_line(process, STARTUP_TIMEOUT)
        assert line, f"process exited ({process.poll()}): {(tmp_path / 'serve.err').read_text()[-2000:]}"
        return Served(process, json.loads(line))

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def template_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from stacks.synth import synth_template

    path = tmp_path_factory.mktemp("template") / "template.json"
    path.write_text(json.dumps(synth_template()))
    return path


USER_SCRIPT = textwrap.dedent('''
    """A user's script: plain boto3, configured only by the environment the sandbox printed."""
    import json, sys
    import boto3
    from sandbox.omics import OutputSpec, TaskSpec, definition_zip

    outputs = json.loads(sys.argv[1])
    bucket = outputs["RunOutputsBucketName"]
    s3, omics = boto3.client("s3"), boto3.client("omics")
    s3.put_object(Bucket=bucket, Key="inputs/NA12878.fastq", Body=b"@r\\nACGT\\n+\\nIIII\\n")
    workflow = omics.create_workflow(name="germline", requestId="wf-germline", definitionZip=definition_zip(
        [TaskSpec("align", (), 900, (OutputSpec("bam", 4096),)), TaskSpec("call", ("align",), 600)]))["id"]
    run = omics.start_run(workflowId=workflow, roleArn=outputs["OmicsServiceRoleArn"], requestId="NA12878#1",
                          outputUri=f"s3://{bucket}/out", name="NA12878", cacheId=outputs["RunCacheId"],
                          parameters={"reads": f"s3://{bucket}/inputs/NA12878.fastq"})
    print(json.dumps({"run_id": run["id"], "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]]}))
''')

READ_SCRIPT = textwrap.dedent('''
    import json, sys
    import boto3
    run_id, table = sys.argv[1], sys.argv[2]
    run = boto3.client("omics").get_run(id=run_id)
    items = boto3.client("dynamodb").query(
        TableName=table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}})["Items"]
    print(json.dumps({"status": run["status"], "uuid": run["uuid"], "sks": [i["sk"]["S"] for i in items]}))
''')


def _user_script(served: Served, source: str, *args: str) -> Any:
    """Run a script in a fresh process with exactly the sandbox's client environment."""
    env = {**_clean_env(), **served.endpoints["env"], "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", source, *args], env=env, capture_output=True, text=True,
                            timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_serve_prints_endpoints_first_and_serves_a_users_script_until_sigterm(serve: Any, template_file: Path) -> None:
    served = serve("--template", str(template_file), "--seed", "7")
    endpoints = served.endpoints
    assert set(endpoints) >= {"aws_endpoint_url", "omics_endpoint_url", "control_url", "region", "env", "outputs"}
    assert all(endpoints[k].startswith("http://127.0.0.1:") for k in
               ("aws_endpoint_url", "omics_endpoint_url", "control_url"))
    assert endpoints["env"]["AWS_ENDPOINT_URL"] == endpoints["aws_endpoint_url"]
    assert endpoints["env"]["AWS_ENDPOINT_URL_OMICS"] == endpoints["omics_endpoint_url"]

    outputs = endpoints["outputs"]
    started = _user_script(served, USER_SCRIPT, json.dumps(outputs))
    assert outputs["RunOutputsBucketName"] in started["buckets"]

    advanced = served.control("POST", "/clock/advance", {"seconds": 7200, "step_seconds": 300})
    assert advanced["records_delivered"] > 0 and advanced["dlq_messages"] == 0

    seen = _user_script(served, READ_SCRIPT, started["run_id"], outputs["ProvenanceTableName"])
    assert seen["status"] == "COMPLETED"
    # a run is (id, uuid): its items live under its uuid in the id's partition
    assert f"SUMMARY#{seen['uuid']}" in seen["sks"]
    assert any(sk.startswith(f"UUID#{seen['uuid']}#STATUS#") for sk in seen["sks"])

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=STOP_TIMEOUT) == 0
    assert served.process.stdout is not None and served.process.stdout.read() == ""  # one line, nothing else


def test_serve_stops_on_sigint_with_autoplay_running(serve: Any, template_file: Path, tmp_path: Path) -> None:
    served = serve("--template", str(template_file), "--autoplay-speed", "600")
    assert served.endpoints["autoplay_speed"] == 600
    served.process.send_signal(signal.SIGINT)
    try:
        returncode = served.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"not stopped within {STOP_TIMEOUT} s: {(tmp_path / 'serve.err').read_text()[-3000:]}")
    assert returncode == 0, (tmp_path / "serve.err").read_text()[-3000:]


def test_an_invalid_fault_plan_file_is_refused_before_serving(tmp_path: Path, template_file: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # `python -m sandbox` runs main() (in this process: a process of its own spent ~2 CPU-s importing)
    from sandbox import __main__ as cli
    from sandbox.server import SandboxServer

    def refuse_to_serve(self: SandboxServer) -> None:
        raise AssertionError("the sandbox started serving")

    monkeypatch.setattr(SandboxServer, "start", refuse_to_serve)
    plan = tmp_path / "faults.json"
    plan.write_text(json.dumps({"runs": [{"reason": "RUN_TASK_FAILED", "probability": 3}]}))
    returncode = cli.main(["serve", "--template", str(template_file), "--faults", str(plan)])
    out, err = capsys.readouterr()
    assert returncode == 2 and out == ""
    assert "runs.0.probability" in err


@pytest.mark.slow
def test_serve_synthesizes_the_stack_when_no_template_is_given(serve: Any) -> None:
    # A user's -c overrides the demo configuration's value (here by the same value): the synthesized context is
    # test_cli_against_sandbox_server's (same seed, same demo workflow id), one synthesis for both per run.
    served = serve("--seed", "11", "-c", 'serviceRoleWriteLocations=["s3://lab-outputs/trio/"]')
    assert served.control("GET", "/health")["status"] == "ok"
    handlers = {q["handler"] for q in served.control("GET", "/state")["queues"]}
    assert "recorder.handler.lambda_handler" in handlers
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=STOP_TIMEOUT) == 0



HUNG_STOP = textwrap.dedent('''
    """`python -m sandbox serve` whose clean stop never ends (a clock operation that does not finish its step,
    a thread that does not join): the main thread blocks in stop() as it would then."""
    import sys, threading
    from sandbox import __main__ as cli
    from sandbox.server import SandboxServer

    SandboxServer.stop = lambda self: threading.Event().wait()
    sys.exit(cli.main(sys.argv[1:]))
''')


def test_a_second_ctrl_c_exits_at_once_while_the_clean_stop_hangs(template_file: Path, tmp_path: Path) -> None:
    # Given a served sandbox whose clean stop hangs after the first Ctrl-C
    errors = tmp_path / "serve.err"
    process = subprocess.Popen([sys.executable, "-c", HUNG_STOP, "serve", "--template", str(template_file),
                                "--endpoints-file", str(tmp_path / "endpoints.json")],
                               cwd=ROOT, env={**_clean_env(), "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                               stderr=errors.open("w"), text=True)
    try:
        assert _first_line(process, STARTUP_TIMEOUT), errors.read_text()[-2000:]
        # When Ctrl-C is pressed, and pressed again once the sandbox says it is stopping
        process.send_signal(signal.SIGINT)
        deadline = threading.Event()
        for _ in range(STOP_TIMEOUT * 10):
            if "stopping" in errors.read_text():
                break
            deadline.wait(0.1)
        assert "once more to exit at once" in errors.read_text()
        assert process.poll() is None  # the clean stop hangs
        process.send_signal(signal.SIGINT)
        # Then the process exits at once, with the shell's code for a SIGINT, and says it did not stop cleanly
        assert process.wait(timeout=STOP_TIMEOUT) == 128 + signal.SIGINT
        assert "stopped at once, without a clean shutdown" in errors.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
