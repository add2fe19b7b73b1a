"""Grants no broader than what the functions' code calls (review G). The IAM Service Authorization Reference as
cfn-lint ships it (tests/infrastructure/iam_reference.py) is the oracle for what a granted action authorizes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infrastructure.cfn import as_list, getatt, policies_of_role, resources
from tests.infrastructure.iam_reference import expand


def _role(template: dict[str, Any], prefix: str) -> str:
    (role,) = [lid for lid in resources(template, "AWS::IAM::Role") if lid.startswith(prefix)]
    return role


def _bucket(template: dict[str, Any], prefix: str) -> str:
    (bucket,) = [lid for lid in resources(template, "AWS::S3::Bucket") if lid.startswith(prefix)]
    return bucket


def test_rerunner_cannot_list_the_submitted_sheets(template_dict: dict[str, Any]) -> None:
    """Regression (review G, LOW): the re-runner only gets and puts settings files by key (lambdas/rerunner/dal.py:
    GetObject, conditional PutObject; no List call in lambdas/rerunner), and its cdk-nag justification says "never
    the submitted sheets". `settings_bucket.grant_read(prefix)` also granted s3:List* and s3:GetBucket* on the
    submissions bucket itself (s3:ListBucket / ListBucketVersions authorize on the `bucket` resource type), so
    the role could list every key under submissions/: the sheets' names, which labs make of sample/patient ids.
    Now stacks/components/rerunner.py grants s3:GetObject on batch-settings/* and reruns/*, s3:PutObject on
    reruns/* only."""
    submissions = getatt(_bucket(template_dict, "StorageSubmissions"))
    listing = set()
    for statement in policies_of_role(template_dict, _role(template_dict, "RerunnerRole")):
        if statement["Effect"] != "Allow" or submissions not in as_list(statement["Resource"]):
            continue
        for action in as_list(statement["Action"]):
            if action.startswith("s3:"):
                listing |= {info.action for info in expand(action)
                            if "bucket" in info.resource_types and info.action.lower().startswith("s3:list")}
    assert not listing, f"re-runner role may list the submissions bucket (sheet keys): {sorted(listing)}"


@pytest.mark.parametrize("fixture", ["template_dict", "byo_template_dict"])  # rerunForeignRuns off, on
def test_rerunner_starts_runs_only_with_the_stacks_run_cache(fixture: str, request: pytest.FixtureRequest) -> None:
    """Regression (review G, LOW): without rerunForeignRuns (the default) the re-runner only re-runs runs this
    stack started, and the launcher may attach only the stack's run cache (StartRun on runCache/<its id>,
    stacks/components/launcher.py). The re-runner's RERUNNER_OMICS_ACTIONS (stacks/components/rerunner.py)
    granted omics:StartRun on runCache/* in every configuration: it could attach any run cache of the account
    (and have the service role write cache data to that cache's bucket). Now it follows the launcher's rule:
    the stack's cache by id, any cache only under rerunForeignRuns (as the launcher then has)."""
    template_dict = request.getfixturevalue(fixture)

    def caches(role: str) -> set[str]:
        found = set()
        for statement in policies_of_role(template_dict, _role(template_dict, role)):
            if "omics:StartRun" in as_list(statement["Action"]):
                found |= {json.dumps(r, sort_keys=True) for r in as_list(statement["Resource"])
                          if "runCache/" in json.dumps(r)}
        return found

    launcher, rerunner = caches("LauncherRole"), caches("RerunnerRole")
    assert launcher and rerunner <= launcher, (
        f"re-runner StartRun run caches {sorted(rerunner - launcher)} beyond the launcher's {sorted(launcher)}")


def test_service_role_writes_the_run_cache_bucket_only_under_the_cache_prefix(template_dict: dict[str, Any]) -> None:
    """Regression (review G, LOW): the stack's run cache lives under s3://<run cache bucket>/cache/
    (stacks/components/omics_resources.py, so that the pruner's deletes and inventory cover the cache), and sheets
    may never write outputs into a run-cache bucket (lambdas/launcher/policy.py); outputs go to the outputs
    bucket. The created HealthOmics service role was nevertheless granted s3:PutObject (and GetObject) on
    `<run cache bucket>/*`: any run could write anywhere in that bucket, outside the cache. Now both are on
    `<run cache bucket>/cache/*`."""
    cache = getatt(_bucket(template_dict, "StorageRunCache"))
    whole = {"Fn::Join": ["", [cache, "/*"]]}
    wide = [statement["Action"] for statement in
            policies_of_role(template_dict, _role(template_dict, "OmicsServiceRole"))
            if "s3:PutObject" in as_list(statement["Action"]) and whole in as_list(statement["Resource"])]
    assert not wide, f"service role: {wide} on the whole run cache bucket (<bucket>/*), not <bucket>/cache/*"
    cached = {"Fn::Join": ["", [cache, "/cache/*"]]}
    objects = {action for statement in policies_of_role(template_dict, _role(template_dict, "OmicsServiceRole"))
               if cached in as_list(statement["Resource"]) for action in as_list(statement["Action"])}
    assert {"s3:GetObject", "s3:PutObject"} <= objects, objects  # the cache itself stays readable and writable
