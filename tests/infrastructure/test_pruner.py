"""The pruner's infrastructure: schedule, fan-out queue, least privilege, configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure import iam_reference
from tests.infrastructure.cfn import resources


def function(template: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    [(lid, res)] = [
        (lid, r)
        for lid, r in resources(template, "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == handler
    ]
    return lid, res["Properties"]


def statements(template: dict[str, Any], function_props: dict[str, Any]) -> list[dict[str, Any]]:
    role = function_props["Role"]["Fn::GetAtt"][0]
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


def test_schedule_invokes_the_planner_with_its_scheduled_time_and_a_dead_letter_queue(
    template_dict: dict[str, Any],
) -> None:
    planner, _ = function(template_dict, "pruner.handler.lambda_handler")
    [schedule] = [
        r["Properties"]
        for r in resources(template_dict, "AWS::Scheduler::Schedule").values()
        if r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [planner, "Arn"]}
    ]
    assert schedule["ScheduleExpression"] == "rate(1 day)"
    assert json.loads(schedule["Target"]["Input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
    assert "DeadLetterConfig" in schedule["Target"] and schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_worker_consumes_one_range_per_invocation_with_partial_batch_failures(template_dict: dict[str, Any]) -> None:
    worker, props = function(template_dict, "pruner.handler.worker_handler")
    [esm] = [
        r["Properties"]
        for r in resources(template_dict, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": worker}
    ]
    assert esm["BatchSize"] == 1 and esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = esm["EventSourceArn"]["Fn::GetAtt"][0]
    queue_props = template_dict["Resources"][queue]["Properties"]
    assert queue_props["VisibilityTimeout"] >= 6 * props["Timeout"]
    assert "deadLetterTargetArn" in queue_props["RedrivePolicy"]
    assert props["Environment"]["Variables"]["PRUNE_MODE"] == "dry-run"  # safe default


def test_only_the_worker_deletes_and_only_under_the_cache_prefix(template_dict: dict[str, Any]) -> None:
    """IAM: `*` in a resource matches any characters, `/` and the empty string included, so no pattern
    means "entry depth" (`bucket/*/*/*/*/*` is any key with four slashes: run outputs too). Deletes are
    scoped by the one thing IAM can express: the cache's key prefix, `cache/` in the stack's bucket."""
    _, worker = function(template_dict, "pruner.handler.worker_handler")
    _, planner = function(template_dict, "pruner.handler.lambda_handler")
    cache_bucket = _bucket(template_dict, "RunCache")
    cache_arn = {"Fn::GetAtt": [cache_bucket, "Arn"]}
    [run_cache] = [r["Properties"] for r in resources(template_dict, "AWS::Omics::RunCache").values()]
    assert run_cache["CacheS3Location"] == {"Fn::Join": ["", ["s3://", {"Ref": cache_bucket}, "/cache/"]]}
    deletes = [s for s in statements(template_dict, worker) if "s3:DeleteObject" in actions(s)]
    assert [(s["Resource"], actions(s)) for s in deletes] == [
        ({"Fn::Join": ["", [cache_arn, "/cache/*"]]}, {"s3:DeleteObject"})
    ]
    reads = [s for s in statements(template_dict, worker) if "s3:GetObject" in actions(s)]
    assert [s["Resource"] for s in reads] == [{"Fn::Join": ["", [cache_arn, "/cache/*.json"]]}]
    assert any(
        "s3:GetBucketVersioning" in actions(s) and s["Resource"] == cache_arn
        for s in statements(template_dict, planner)
    )
    assert not any(
        a.startswith("s3:Delete") or a == "s3:*" for s in statements(template_dict, planner) for a in actions(s)
    )
    for role in (worker, planner):  # reports; the planner writes the summary of a pass it settles
        puts = [s for s in statements(template_dict, role) if "s3:PutObject" in actions(s)]
        assert [s["Resource"] for s in puts] == [
            {"Fn::Join": ["", [{"Fn::GetAtt": [_bucket(template_dict, "RunOutputs"), "Arn"]}, "/prune-reports/*"]]}
        ]
    omics = {a for s in statements(template_dict, planner) for a in actions(s) if a.startswith("omics:")}
    assert omics == {"omics:GetRunCache"}  # ListRunCaches only when every cache is pruned
    assert not any(a.startswith("omics:") for s in statements(template_dict, worker) for a in actions(s))


def _bucket(template: dict[str, Any], name: str) -> str:
    [lid] = [lid for lid in resources(template, "AWS::S3::Bucket") if lid.startswith(f"Storage{name}")]
    return lid


def test_pruning_every_cache_grants_list_run_caches_and_deletes_only_under_the_named_cache_locations(
        byo_template_dict) -> None:
    # byo_template_dict: deployed with pruneCacheIds=*, these pruneCacheBuckets and pruneMode=enforce
    template = byo_template_dict
    _, planner = function(template, "pruner.handler.lambda_handler")
    _, worker = function(template, "pruner.handler.worker_handler")
    assert any("omics:ListRunCaches" in actions(s) for s in statements(template, planner))
    deletes = [
        r
        for s in statements(template, worker)
        if "s3:DeleteObject" in actions(s)
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]

    def arn(key: str) -> dict[str, Any]:
        return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{key}"]]}

    # s3://bucket/prefix: under the prefix only; a bare bucket name: the cache is the whole bucket
    assert arn("legacy-cache-bucket/omics/cache/*") in deletes and arn("whole-cache-bucket/*") in deletes
    assert not any("legacy-cache-bucket/*" in json.dumps(r) for r in deletes)
    assert worker["Environment"]["Variables"]["PRUNE_CACHE_IDS"] == "*"
    assert worker["Environment"]["Variables"]["PRUNE_MODE"] == "enforce"


def test_cache_locations_are_normalised_and_unversioned_consent_names_their_buckets() -> None:
    config = AutopilotConfig.from_context(
        {"pruneCacheBuckets": "s3://a-cache/x/y, s3://b-cache/, c-cache", "pruneAllowUnversionedBuckets": "a-cache"}
    )
    assert config.prune_cache_locations == [("a-cache", "x/y/"), ("b-cache", ""), ("c-cache", "")]
    assert config.prune_cache_bucket_names == ["a-cache", "b-cache", "c-cache"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pruneMode", "delete-everything"),
        ("pruneSchedule", "every day"),
        ("pruneCacheIds", "abc"),
        ("pruneMinVersion", 0),
        ("pruneCacheBuckets", "Not_A_Bucket"),
        ("pruneCacheBuckets", "s3://Not_A_Bucket/cache"),
        ("pruneCacheBuckets", "https://bucket/cache"),
        ("pruneWorkerConcurrency", 1),
        ("pruneUndoRetentionDays", 0),
        ("pruneAllowUnversionedBuckets", "not-a-cache-bucket"),
    ],
)
def test_invalid_prune_configuration_names_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        AutopilotConfig.from_context({key: value})


def test_prune_configuration_from_cli_strings() -> None:
    config = AutopilotConfig.from_context(
        {
            "pruneMinVersion": "3",
            "pruneUndoRetentionDays": "14",
            "pruneCacheIds": "1234,5678",
            "pruneCacheBuckets": "old-cache,other-cache",
            "pruneAllowUnversionedBuckets": "old-cache",
        }
    )
    assert (config.prune_min_version, config.prune_undo_retention_days) == (3, 14)
    assert config.prune_cache_ids == "1234,5678" and config.prune_allow_unversioned_buckets == ["old-cache"]


def test_the_run_cache_bucket_keeps_pruned_versions_for_undo_and_expires_delete_markers(
    template_dict: dict[str, Any],
) -> None:
    bucket = template_dict["Resources"][_bucket(template_dict, "RunCache")]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rules["expire-delete-markers"]["ExpiredObjectDeleteMarker"] is True
    assert rules["expire-delete-markers"]["Status"] == "Enabled"


@pytest.mark.parametrize(
    "metric",
    [
        "PruneFloorJumpHeld",  # a version jump held for the operator
        "PruneNoEntryOfThisCache",  # manifests found, none of this cache: prunes nothing forever
        "PrunePassRefused",  # an enforce pass refused (unversioned bucket)
    ],
)
def test_the_conditions_a_pass_cannot_settle_alone_are_alarmed(template_dict: dict[str, Any], metric: str) -> None:
    [alarm] = [
        r["Properties"]
        for r in resources(template_dict, "AWS::CloudWatch::Alarm").values()
        if r["Properties"].get("MetricName") == metric
    ]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "pruner"}]
    assert alarm["Threshold"] == 0 and alarm["AlarmActions"]


def test_inventory_reports_are_read_only_under_their_configured_location(byo_template_dict) -> None:
    """pruneInventories: S3 publishes a report under <destination prefix><source bucket>/<configId>/ (S3 User
    Guide, "Locating your inventory list"). The planner may list that location (ListBucket with an s3:prefix
    condition) and both functions read objects there; nothing else of the destination bucket, and each grant
    is on a resource type the action authorizes on (the IAM reference cfn-lint ships)."""
    template = byo_template_dict  # deployed with pruneInventories=PRUNE_INVENTORIES
    _, planner = function(template, "pruner.handler.lambda_handler")
    _, worker = function(template, "pruner.handler.worker_handler")

    def on_inventory(props: dict[str, Any]) -> set[tuple[str, str, str]]:
        """(action, rendered resource ARN, condition) of every grant on the inventory bucket."""
        grants = set()
        for statement in statements(template, props):
            listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in listed:
                arn = iam_reference.render_arn(resource, template)
                if "inventory-reports" in arn:
                    grants |= {(a, arn, json.dumps(statement.get("Condition"))) for a in actions(statement)}
        return grants

    objects = "arn:aws:s3:::inventory-reports/inv/*/cache-daily/*"
    listing = ("s3:ListBucket", "arn:aws:s3:::inventory-reports",
               json.dumps({"StringLike": {"s3:prefix": ["inv/*/cache-daily/*"]}}))
    assert on_inventory(planner) == {listing, ("s3:GetObject", objects, "null")}
    assert on_inventory(worker) == {("s3:GetObject", objects, "null")}
    for action, arn, _ in on_inventory(planner):
        assert all(iam_reference.authorizes(info, arn) for info in iam_reference.expand(action)), (action, arn)
    variables = worker["Environment"]["Variables"]
    assert json.loads(variables["PRUNE_INVENTORIES"]) == {
        "runCache": {"destination": "s3://inventory-reports/inv/", "configId": "cache-daily", "frequency": "Daily"}
    }


@pytest.mark.parametrize(
    "value",
    [
        '{"abc": {"destination": "s3://inv/x/", "configId": "c"}}',  # not a cache id
        '{"runCache": {"destination": "s3://inv/x", "configId": "c"}}',  # the prefix must end with /
        '{"runCache": {"destination": "s3://inv/x/", "configId": "c", "frequency": "Hourly"}}',
        '{"runCache": {"destination": "s3://inv/", "configId": "c", "extra": 1}}',
        "not json",
    ],
)
def test_invalid_inventory_configuration_names_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="pruneInventories"):
        AutopilotConfig.from_context({"pruneInventories": value})
