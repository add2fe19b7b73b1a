"""Infrastructure fixtures: the stack is synthesized once per session (bundling off, cdk-nag on)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.synth import synth_assembly_dir, synth_template
from tests.infrastructure.cfn import WIRING

# A deployment that brings its own HealthOmics role and run cache, wants e-mail alarms, and sets away from their
# defaults the options whose tests check that they reach the functions (re-run policy, foreign runs, the
# launcher's run defaults, pruning every cache, inventory reports): one synthesis for all of them (each context
# is a synthesis of its own, ~2-3 s), and cfn-lint and the IAM reference check them all (test_real_account).
RERUN_POLICY_OVERRIDE = {"rules": {"RUN_TASK_FAILED": {"action": "NEVER"}}, "brake": {"maxFailures": 50}}
LAUNCHER_DEFAULTS = {"workflowId": 1234567, "workflowVersionName": "v2", "runStorageType": "STATIC",
                     "runStorageCapacity": 1200, "runRetentionMode": "REMOVE", "runLogLevel": "ERROR",
                     "runGroupId": "42", "runOutputUri": "s3://lab-out/runs/"}
PRUNE_INVENTORIES = {"runCache": {"destination": "s3://inventory-reports/inv/", "configId": "cache-daily"}}
BRING_YOUR_OWN = {
    "omicsServiceRoleArn": "arn:aws:iam::123456789012:role/existing-omics-service-role",
    "runCacheId": "7654321",
    "alarmEmail": "oncall@example.org",
    "logRetentionDays": "30",  # as `-c logRetentionDays=30` passes it
    "eventArchiveRetentionDays": 0,
    "omicsQuotas": '{"run": 20}',  # as `-c omicsQuotas=...` passes it
    "recorderMaxConcurrency": 3,
    "reservedConcurrency": "true",  # the opt-in, as `-c reservedConcurrency=true` passes it
    "rerunPolicy": json.dumps(RERUN_POLICY_OVERRIDE),
    "rerunForeignRuns": "true",
    **LAUNCHER_DEFAULTS,
    "pruneCacheIds": "*",
    "pruneCacheBuckets": "s3://legacy-cache-bucket/omics/cache,whole-cache-bucket",
    "pruneMode": "enforce",
    "pruneInventories": json.dumps(PRUNE_INVENTORIES),
    "reconcileSchedule": "rate(7 days)",  # the operations scenario's (tests/operations_scenario.py), validated here
    "sheetWorkflows": "*",
}


@pytest.fixture(scope="session")
def template_dict() -> dict[str, Any]:
    return synth_template()


@pytest.fixture(scope="session")
def template(template_dict: dict[str, Any]) -> Template:
    return Template.from_json(template_dict)


@pytest.fixture(scope="session")
def wiring(template_dict: dict[str, Any]) -> dict[str, Any]:
    return template_dict["Metadata"][WIRING]


@pytest.fixture(scope="session")
def recorder(wiring: dict[str, Any]) -> dict[str, Any]:
    return wiring["consumers"]["recorder"]


@pytest.fixture(scope="session")
def validation_report(template_dict: dict[str, Any]) -> dict[str, Any]:
    return json.loads((synth_assembly_dir() / "validation-report.json").read_text())


@pytest.fixture(scope="session")
def byo_template_dict() -> dict[str, Any]:
    return synth_template(BRING_YOUR_OWN, builtin_validation=True)  # as `cdk synth` validates it
