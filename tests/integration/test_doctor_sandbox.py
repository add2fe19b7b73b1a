"""`autopilot doctor` against the sandbox account (the synthesized stack built in moto, the HealthOmics
emulator): what moto supports is checked for real (rules, queues, DLQs, GetRunCache); moto has no
SimulatePrincipalPolicy, so the service-role check reports it could not simulate (a warning; the
verdicts are tested with botocore's Stubber in tests/unit/test_doctor.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from autopilot_cli.app import main
from autopilot_cli.target import SandboxTarget
from sandbox.local import LocalAccount
from tests.operations_scenario import CONTEXT


@pytest.fixture(scope="module")
def account() -> Iterator[LocalAccount]:
    with LocalAccount(CONTEXT) as local:
        yield local


def _doctor(account: LocalAccount, *argv: str) -> tuple[int, dict[str, Any], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["--json", "doctor", *argv], target=SandboxTarget(account), stdout=stdout, stderr=stderr)
    return code, json.loads(stdout.getvalue()) if stdout.getvalue() else {}, stderr.getvalue()


def _by_check(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        grouped.setdefault(finding["check"], []).append(finding)
    return grouped


def test_a_fresh_sandbox_stack_is_healthy(account: LocalAccount) -> None:
    """Given the stack just built, When doctor runs, Then every rule is enabled, every queue present and
    every DLQ empty, the run cache ACTIVE, the handlers' botocore has the batch APIs: exit 0."""
    code, report, err = _doctor(account, "--input", "s3://lab-data/cohort/S1.bam")
    assert code == 0, err
    checks = _by_check(report)
    assert checks["rules"] and all(f["status"] == "ok" for f in checks["rules"])
    dead_letter = [f for f in checks["queues"] if "dead-letter queue" in f["detail"]]
    dlq_urls = [c.dlq_url for c in account.resources.consumers if c.dlq_url]
    dlq_urls += [url for lid, url in account.resources.queues.items() if "ScheduleDeadLetterQueue" in lid]
    assert len(dlq_urls) >= 5  # consumers' and schedules' dead-letter queues, all checked
    assert all(any(url.rsplit("/", 1)[-1] in f["detail"] for f in dead_letter) for url in dlq_urls)
    assert all(f["status"] == "ok" for f in checks["queues"])
    assert [f["status"] for f in checks["run cache"]] == ["ok"]
    assert all(f["status"] == "ok" for f in checks["function botocore"])
    # moto does not implement iam:SimulatePrincipalPolicy: reported, not guessed.
    assert {f["status"] for f in checks["service role"]} == {"warn"}
    assert report["ok"] is True


def test_a_disabled_rule_and_a_message_in_a_dlq_are_reported_with_fixes(account: LocalAccount) -> None:
    """Given a disabled rule and a message left in a dead-letter queue,
    When doctor runs, Then both are failures with the command that fixes them, and it exits 1."""
    rule = next(p["Ref"] for p in account.resources.physical.values() if ":rule/" in str(p.get("Arn", "")))
    dlq_url = next(c.dlq_url for c in account.resources.consumers if c.dlq_url)
    account.events.disable_rule(Name=rule)
    account.sqs.send_message(QueueUrl=dlq_url, MessageBody="{}")
    try:
        code, report, _ = _doctor(account)
        failures = [f for f in report["findings"] if f["status"] == "fail"]
        assert code == 1 and report["ok"] is False
        assert any(f"aws events enable-rule --name {rule}" == f["fix"] for f in failures)
        assert any("holds 1 message" in f["detail"] and "start-message-move-task" in f["fix"] for f in failures)

        stdout, stderr = io.StringIO(), io.StringIO()  # the human form says the same, and how to fix it
        assert main(["doctor"], target=SandboxTarget(account), stdout=stdout, stderr=stderr) == 1
        assert "FAIL" in stdout.getvalue() and "fix: aws events enable-rule" in stdout.getvalue()
        assert "2 problem(s) found" in stdout.getvalue()
    finally:
        account.events.enable_rule(Name=rule)
        account.sqs.purge_queue(QueueUrl=dlq_url)
