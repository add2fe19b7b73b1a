"""`python -m sandbox serve` figures, measured in one run: start-up, a user's HealthOmics calls over
HTTP, and a 24-sample cohort driven to completion through the control API with the real handlers.

Prints figures only (no assertions): start-up seconds (template given), omics requests per second over
HTTP, virtual-to-real time ratio of /run-until-quiet, handler records per run, provenance items per run.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from sandbox.omics import OutputSpec, TaskSpec, definition_zip
from sandbox.server import SandboxServer

SAMPLES = 24
TASKS = [TaskSpec("align", (), 3600, (OutputSpec("bam", 4096),)), TaskSpec("call", ("align",), 1800)]


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def main() -> None:
    from stacks.synth import synth_template

    template = synth_template()
    started = time.perf_counter()
    server = SandboxServer(template=template).start()
    startup = time.perf_counter() - started
    try:
        env, outputs = server.client_env, server.account.outputs
        session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
        omics = session.client("omics", endpoint_url=env["AWS_ENDPOINT_URL_OMICS"],
                               config=Config(inject_host_prefix=False))
        dynamodb = session.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"])
        workflow = omics.create_workflow(name="bench", requestId="bench", definitionZip=definition_zip(TASKS))["id"]
        bucket = outputs["RunOutputsBucketName"]
        t0 = time.perf_counter()
        runs = [omics.start_run(workflowId=workflow, roleArn=outputs["OmicsServiceRoleArn"], name=f"s{i}",
                                outputUri=f"s3://{bucket}/out", requestId=f"s{i}#1")["id"] for i in range(SAMPLES)]
        calls = 50
        for _ in range(calls):
            omics.list_runs(maxResults=100)
        http_rate = (SAMPLES + calls) / (time.perf_counter() - t0)

        t1 = time.perf_counter()
        quiet = _control(server.control_url, "/run-until-quiet", {"max_seconds": 86400, "step_seconds": 300})
        real = time.perf_counter() - t1
        items = dynamodb.scan(TableName=outputs["ProvenanceTableName"], Select="COUNT")["Count"]
        completed = sum(1 for r in runs if omics.get_run(id=r)["status"] == "COMPLETED")
        print(f"start-up with a synthesized template: {startup:.2f} s")
        print(f"user HealthOmics requests over HTTP: {http_rate:.0f} per second")
        print(f"cohort of {SAMPLES}: quiet={quiet['quiet']}, {completed}/{SAMPLES} COMPLETED, "
              f"{quiet['advanced_seconds']:.0f} virtual s in {real:.2f} real s "
              f"(ratio {quiet['advanced_seconds'] / max(real, 1e-9):.0f}x)")
        print(f"handler records delivered per run: {quiet['records_delivered'] / SAMPLES:.1f}; "
              f"invocations: {quiet['invocations']}; provenance items per run: {items / SAMPLES:.1f}; "
              f"dlq: {quiet['dlq_messages']}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
