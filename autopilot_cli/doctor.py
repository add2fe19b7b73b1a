"""`autopilot doctor`: check a deployed stack the way an operator would before trusting it.

Read-only: it describes, simulates and downloads; it invokes no function and changes nothing.

- EventBridge rules of the stack are ENABLED;
- every queue of the stack exists, and every dead-letter queue (of a queue or of a schedule) is empty;
- the run cache answers GetRunCache and is ACTIVE;
- the HealthOmics service role may read `--input` (s3:GetObject, s3:ListBucket) and write the output
  location (s3:PutObject under `--output`, default the stack's runs/ prefix), by IAM policy
  simulation (iam:SimulatePrincipalPolicy; identity policies only: bucket policies and KMS key
  policies are not part of the simulation);
- the botocore inside each function's deployment package has the batch APIs (StartRunBatch, GetBatch,
  ListRunsInBatch, ListRuns with batchId). Checked by reading the botocore service model in the code
  package Lambda serves (GetFunction's code location), not by invoking the function: a package
  without botocore runs on the runtime's, which may predate them.

Exit codes: 0 every check passed (warnings allowed), 1 at least one check failed, 2 bad arguments,
3 stack not found.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from rich.markup import escape

from autopilot_cli.errors import EXIT_FAILURE, EXIT_OK, NotFound, UsageError

Status = Literal["ok", "warn", "fail", "skip"]

# HealthOmics operations (and request members) our functions call that came with the batch release.
BATCH_FEATURES: dict[str, tuple[str, ...]] = {
    "StartRunBatch": (), "GetBatch": (), "ListRunsInBatch": (), "ListRuns": ("batchId",),
}
_MODEL_PATH = re.compile(r"^(?:python/)?botocore/data/omics/([0-9-]+)/service-2\.json(\.gz)?$")


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class StackView:
    """What the checks need of a stack: its resources by type, its outputs, AWS clients, and a way to
    read the botocore `omics` model a function runs with (None: the package has no botocore)."""

    name: str
    resources: Mapping[str, list[tuple[str, str]]]  # resource type -> [(logical id, physical id)]
    outputs: Mapping[str, str]
    client: Callable[[str], Any]
    function_model: Callable[[str], tuple[str, dict[str, Any] | None]]  # physical id -> (source, model)


# ----------------------------------------------------------------------------------------- checks
def check_rules(view: StackView) -> Iterator[Finding]:
    events = view.client("events")
    rules = view.resources.get("AWS::Events::Rule", [])
    if not rules:
        yield Finding("rules", "fail", "the stack has no EventBridge rule", "redeploy the stack (cdk deploy)")
    for logical_id, physical in rules:
        bus, _, name = physical.rpartition("|")  # "<bus>|<rule>" on a custom bus
        params = {"Name": name, **({"EventBusName": bus} if bus else {})}
        try:
            state = events.describe_rule(**params)["State"]
        except ClientError as error:
            yield Finding("rules", "fail", f"rule {name} ({logical_id}): {_code(error)}",
                          "redeploy the stack (cdk deploy): the rule is missing")
            continue
        if state == "ENABLED":
            yield Finding("rules", "ok", f"rule {name} is enabled")
        else:
            bus_arg = f" --event-bus-name {bus}" if bus else ""
            yield Finding("rules", "fail", f"rule {name} ({logical_id}) is {state}: its events are dropped",
                          f"aws events enable-rule --name {name}{bus_arg}")


def check_queues(view: StackView) -> Iterator[Finding]:
    sqs = view.client("sqs")
    queues = view.resources.get("AWS::SQS::Queue", [])
    attributes: dict[str, dict[str, str]] = {}
    for logical_id, url in queues:
        try:
            attributes[url] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except ClientError as error:
            yield Finding("queues", "fail", f"queue {logical_id}: {_code(error)}",
                          "redeploy the stack (cdk deploy): the queue is missing")
    dead_letter_arns = {json.loads(a["RedrivePolicy"])["deadLetterTargetArn"]
                        for a in attributes.values() if a.get("RedrivePolicy")}
    for logical_id, url in queues:
        attrs = attributes.get(url)
        if attrs is None:
            continue
        name = url.rsplit("/", 1)[-1]
        # A queue's redrive target, or a schedule's (the stack names those <...>ScheduleDeadLetterQueue<hash>).
        if attrs.get("QueueArn") not in dead_letter_arns and "DeadLetterQueue" not in logical_id:
            yield Finding("queues", "ok", f"queue {name} is present")
            continue
        waiting = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
            attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
        if waiting == 0:
            yield Finding("queues", "ok", f"dead-letter queue {name} is empty")
        else:
            yield Finding(
                "queues", "fail", f"dead-letter queue {name} holds {waiting} message(s): work that failed every retry",
                f"read them (aws sqs receive-message --queue-url {url}), fix the cause (alarms, logs), then move "
                f"them back: aws sqs start-message-move-task --source-arn {attrs.get('QueueArn')}")


def check_run_cache(view: StackView) -> Iterator[Finding]:
    cache_id = view.outputs.get("RunCacheId")
    if not cache_id:
        yield Finding("run cache", "fail", "the stack has no RunCacheId output", "redeploy the stack (cdk deploy)")
        return
    try:
        cache = view.client("omics").get_run_cache(id=cache_id)
    except ClientError as error:
        yield Finding("run cache", "fail", f"GetRunCache {cache_id}: {_code(error)}",
                      "set runCacheId to a cache of this account and region, or leave it unset so the stack "
                      "creates one; the caller needs omics:GetRunCache")
        return
    status = cache.get("status", "?")
    if status == "ACTIVE":
        yield Finding("run cache", "ok", f"run cache {cache_id} is ACTIVE ({cache.get('cacheS3Uri', '?')})")
    else:
        yield Finding("run cache", "fail", f"run cache {cache_id} is {status}: runs cannot use it",
                      "use an ACTIVE cache (runCacheId), or remove runCacheId so the stack creates one")


def s3_arns(uri: str, *, prefix: bool) -> tuple[str, str]:
    """(bucket ARN, object ARN) of an s3:// URI; with `prefix`, every object under it."""
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?", uri)
    if not match:
        raise UsageError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = match.group(1), match.group(2) or ""
    if prefix:
        key = (key if key.endswith("/") or not key else key + "/") + "autopilot-doctor-probe"
    elif not key:
        raise UsageError(f"{uri!r} names no object: pass an input file (s3://bucket/key)")
    return f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{key}"


def check_service_role(view: StackView, input_uri: str | None, output_uri: str | None) -> Iterator[Finding]:
    role = view.outputs.get("OmicsServiceRoleArn")
    if not role:
        yield Finding("service role", "fail", "the stack has no OmicsServiceRoleArn output", "redeploy the stack")
        return
    if output_uri is None and view.outputs.get("RunOutputsBucketName"):
        output_uri = f"s3://{view.outputs['RunOutputsBucketName']}/runs/"
    wanted: list[tuple[str, str, str]] = []  # (what, action, resource)
    if input_uri:
        bucket, obj = s3_arns(input_uri, prefix=False)
        wanted += [(f"read {input_uri}", "s3:GetObject", obj),
                   (f"list the bucket of {input_uri}", "s3:ListBucket", bucket)]
    else:
        yield Finding("service role", "skip", "no --input given: reading run inputs not checked",
                      "pass --input s3://bucket/key of a file a sample sheet reads")
    if output_uri:
        _, obj = s3_arns(output_uri, prefix=True)
        wanted.append((f"write under {output_uri}", "s3:PutObject", obj))
    iam = view.client("iam")
    for what, action, resource in wanted:
        try:
            result = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=[action],
                                                   ResourceArns=[resource])["EvaluationResults"]
        except (ClientError, BotoCoreError, NotImplementedError) as error:
            yield Finding("service role", "warn", f"could not simulate {action} for {role}: {_code(error)}",
                          "run as an identity allowed iam:SimulatePrincipalPolicy on the role")
            continue
        except ResponseParserError:  # not IAM's answer: a moto server (the sandbox) does not implement the call
            yield Finding("service role", "warn", f"could not simulate {action} for {role}: the IAM endpoint does "
                          "not implement SimulatePrincipalPolicy (moto, as in the sandbox)",
                          "check the role's policies with the IAM policy simulator of a real account")
            continue
        decision = result[0]["EvalDecision"] if result else "no result"
        if decision == "allowed":
            yield Finding("service role", "ok", f"the service role may {what} ({action})")
        else:
            yield Finding("service role", "fail", f"the service role may not {what}: {action} is {decision}",
                          "grant the role that access, or set omicsServiceRoleArn to a role that has it "
                          "(bucket and KMS key policies must allow it too; they are not simulated)")


def model_has(model: dict[str, Any], features: Mapping[str, Iterable[str]]) -> list[str]:
    """What of `features` (operation -> request members) the botocore service model lacks."""
    missing = []
    for operation, members in features.items():
        op = model.get("operations", {}).get(operation)
        if op is None:
            missing.append(operation)
            continue
        shape = model.get("shapes", {}).get(op.get("input", {}).get("shape", ""), {})
        missing += [f"{operation}.{m}" for m in members if m not in shape.get("members", {})]
    return missing


def check_function_botocore(view: StackView) -> Iterator[Finding]:
    functions = view.resources.get("AWS::Lambda::Function", [])
    for _logical_id, name in functions:
        try:
            source, model = view.function_model(name)
        except (ClientError, BotoCoreError, OSError, zipfile.BadZipFile) as error:
            yield Finding("function botocore", "warn", f"{name}: code package not readable: {_code(error)}",
                          "run as an identity allowed lambda:GetFunction")
            continue
        if model is None:
            yield Finding("function botocore", "fail",
                          f"{name}: no botocore in its package: it runs on the Lambda runtime's, which may lack "
                          "the HealthOmics batch APIs",
                          "deploy with bundling on (the default; cdk deploy without -c bundling=false)")
            continue
        missing = model_has(model, BATCH_FEATURES)
        if missing:
            yield Finding("function botocore", "fail", f"{name}: its botocore lacks {', '.join(missing)}",
                          "upgrade boto3/botocore in lambdas/requirements.txt and redeploy")
        else:
            yield Finding("function botocore", "ok", f"{name}: botocore has the batch APIs ({source})")


def diagnose(view: StackView, *, input_uri: str | None = None, output_uri: str | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for check in (check_rules, check_queues, check_run_cache):
        findings += check(view)
    findings += check_service_role(view, input_uri, output_uri)
    findings += check_function_botocore(view)
    return findings


def exit_code(findings: Iterable[Finding]) -> int:
    return EXIT_FAILURE if any(f.status == "fail" for f in findings) else EXIT_OK


def _code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}"
    return f"{type(error).__name__}: {error}"


# ------------------------------------------------------------------------------------ stack views
def model_from_package(package: bytes) -> tuple[str, dict[str, Any] | None]:
    """The newest botocore `omics` service model inside a Lambda code package (zip), if any."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        found = sorted((m.group(1), name) for name in archive.namelist() if (m := _MODEL_PATH.match(name)))
        if not found:
            return "package without botocore", None
        version, name = found[-1]
        data = archive.read(name)
    text = gzip.decompress(data) if name.endswith(".gz") else data
    return f"bundled botocore, omics API {version}", json.loads(text)


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def stack_view(target: Any, fetch: Callable[[str], bytes] = _download) -> StackView:
    """A StackView of the CLI's target: a deployed stack (CloudFormation) or the in-process sandbox."""
    from autopilot_cli.target import SandboxTarget, StackTarget

    if isinstance(target, StackTarget):
        return _deployed_view(target, fetch)
    if isinstance(target, SandboxTarget):
        return _sandbox_view(target)
    raise UsageError("doctor checks a deployed stack: pass --stack NAME (or $AUTOPILOT_STACK)")


def _deployed_view(target: Any, fetch: Callable[[str], bytes]) -> StackView:
    cfn = target.clients.client("cloudformation")
    resources: dict[str, list[tuple[str, str]]] = {}
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=target.stack):
            for r in page["StackResourceSummaries"]:
                resources.setdefault(r["ResourceType"], []).append(
                    (r["LogicalResourceId"], r.get("PhysicalResourceId", "")))
    except ClientError as error:
        if "does not exist" in str(error):
            raise NotFound(f"stack {target.stack} not found") from None
        raise
    lambda_client = target.clients.client("lambda")
    packages: dict[str, tuple[str, dict[str, Any] | None]] = {}

    def function_model(name: str) -> tuple[str, dict[str, Any] | None]:
        code = lambda_client.get_function(FunctionName=name)
        sha = code["Configuration"].get("CodeSha256", name)
        if sha not in packages:
            source, model = model_from_package(fetch(code["Code"]["Location"]))
            packages[sha] = (f"{source}, package {sha[:12]}", model)
        return packages[sha]

    return StackView(target.stack, resources, target.outputs, target.clients.client, function_model)


def _sandbox_view(target: Any) -> StackView:
    """The in-process sandbox: resources from its template, clients of its mocked account. Its handlers
    run in this process, so their botocore is this process's."""
    import botocore
    import botocore.loaders

    account = target.account
    physical = account.resources.physical
    resources: dict[str, list[tuple[str, str]]] = {
        "AWS::SQS::Queue": list(account.resources.queues.items()),
        "AWS::Events::Rule": [(lid, p["Ref"]) for lid, p in physical.items() if ":rule/" in str(p.get("Arn", ""))],
        "AWS::Lambda::Function": [(spec.logical_id, spec.arn.rsplit(":", 1)[-1])
                                  for spec in account.resources.functions.values()],
    }
    clients = {"events": account.events, "sqs": account.sqs, "omics": account.omics}

    def client(service: str) -> Any:
        if service not in clients:
            import boto3

            clients[service] = boto3.client(service, region_name=account.sqs.meta.region_name)
        return clients[service]

    def function_model(_name: str) -> tuple[str, dict[str, Any] | None]:
        model = botocore.loaders.Loader().load_service_model("omics", "service-2")
        return f"this process's botocore {botocore.__version__}", model

    return StackView("sandbox", resources, account.outputs, client, function_model)


# ---------------------------------------------------------------------------------------- command
def register(commands: Any) -> None:
    """Add `doctor` to the CLI's subcommands."""
    doctor = commands.add_parser("doctor", help="check a deployed stack before trusting it (read-only)")
    doctor.add_argument("--input", dest="input_uri", help="an s3:// input file the service role must read")
    doctor.add_argument("--output", dest="output_uri",
                        help="the s3:// output location the service role must write (default: the stack's runs/)")
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, target: Any, out: Any) -> int:
    findings = diagnose(stack_view(target), input_uri=args.input_uri, output_uri=args.output_uri)

    def human() -> None:
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]"}
        for finding in findings:
            out.console.print(f"{marks[finding.status]}  {escape(finding.check)}: {escape(finding.detail)}")
            if finding.fix and finding.status != "ok":
                out.console.print(f"        fix: {finding.fix}", markup=False)
        failed = sum(f.status == "fail" for f in findings)
        out.console.print(f"{failed} problem(s) found" if failed else "no problems found")

    out.emit({"findings": [asdict(f) for f in findings], "ok": exit_code(findings) == EXIT_OK}, human)
    return exit_code(findings)
