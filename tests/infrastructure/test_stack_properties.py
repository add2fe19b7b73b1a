"""Property assertions on the synthesized template: what must hold, not how many resources exist."""

from __future__ import annotations

import ast
import importlib
import json
from typing import Any

from aws_cdk.assertions import Match, Template

from shared.provenance import keys
from stacks.app_builder import default_context
from stacks.runtime_contract import LAMBDAS_DIR
from tests.infrastructure.cfn import as_list, getatt, props, ref, resources

OMICS_DETAIL_TYPES = ["Run Status Change", "Task Status Change", "RunBatch Status Change"]


def _key_id(template_dict: dict[str, Any]) -> str:
    (key_id,) = resources(template_dict, "AWS::KMS::Key")
    return key_id


# --- provenance table ------------------------------------------------------------------------------


def test_table_is_on_demand_recoverable_encrypted_retained_and_protected(template: Template, wiring) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {
                    "SSEEnabled": True,
                    "SSEType": "KMS",
                    "KMSMasterKeyId": Match.any_value(),
                },
                "TimeToLiveSpecification": {"AttributeName": keys.TTL_ATTRIBUTE, "Enabled": True},
                "DeletionProtectionEnabled": True,
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_table_keys_and_indexes_are_those_of_the_key_module(template_dict, wiring) -> None:
    table = props(template_dict, wiring["table"])
    assert table["KeySchema"] == [
        {"AttributeName": keys.PK, "KeyType": "HASH"},
        {"AttributeName": keys.SK, "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {name for name, _, _ in keys.ALL_GSIS}
    for name, partition, sort in keys.ALL_GSIS:
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": sort, "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    declared = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert all(kind == "S" for kind in declared.values())


def test_table_is_encrypted_with_the_stack_key(template_dict, wiring) -> None:
    sse = props(template_dict, wiring["table"])["SSESpecification"]
    assert sse["KMSMasterKeyId"] == getatt(_key_id(template_dict))


# --- queues and event source mappings -------------------------------------------------------------


def test_every_queue_is_kms_encrypted_with_the_stack_key(template_dict) -> None:
    queues = resources(template_dict, "AWS::SQS::Queue")
    assert queues
    for lid, queue in queues.items():
        assert queue["Properties"]["KmsMasterKeyId"] == getatt(_key_id(template_dict)), lid


def test_every_queue_denies_requests_without_tls(template_dict) -> None:
    queues = resources(template_dict, "AWS::SQS::Queue")
    protected = set()
    for policy in resources(template_dict, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                protected |= {q["Ref"] for q in policy["Properties"]["Queues"]}
    assert protected == set(queues)


def test_provenance_queue_redrives_to_its_dlq_after_five_receives(template_dict, recorder) -> None:
    queue = props(template_dict, recorder["queue"])
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": getatt(recorder["deadLetterQueue"]),
        "maxReceiveCount": 5,
    }
    dlq = props(template_dict, recorder["deadLetterQueue"])
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in dlq


def test_dlq_outlives_the_source_queue_retention(template_dict, wiring) -> None:
    for consumer in wiring["consumers"].values():
        source = props(template_dict, consumer["queue"]).get("MessageRetentionPeriod", 345600)
        dlq = props(template_dict, consumer["deadLetterQueue"])["MessageRetentionPeriod"]
        assert dlq > source


def test_visibility_timeout_is_at_least_six_times_the_function_timeout(template_dict, wiring) -> None:
    for name, consumer in wiring["consumers"].items():
        timeout = props(template_dict, consumer["function"])["Timeout"]
        visibility = props(template_dict, consumer["queue"])["VisibilityTimeout"]
        assert visibility >= 6 * timeout, name


def test_recorder_mapping_reports_partial_failures_with_a_batching_window(
    template: Template, recorder
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": getatt(recorder["queue"]),
            "FunctionName": ref(recorder["function"]),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 5,
        },
    )


def test_every_mapping_reports_batch_item_failures(template_dict) -> None:
    mappings = resources(template_dict, "AWS::Lambda::EventSourceMapping")
    assert mappings
    for lid, mapping in mappings.items():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], lid


def test_every_consumer_is_bounded_by_its_mapping_and_reserves_nothing_by_default(template_dict, wiring) -> None:
    for name, consumer in wiring["consumers"].items():
        scaling = props(template_dict, consumer["eventSourceMapping"])["ScalingConfig"]["MaximumConcurrency"]
        assert scaling >= 2, name  # AWS's minimum for an SQS event source's maximum concurrency
        assert "ReservedConcurrentExecutions" not in props(template_dict, consumer["function"]), name


def test_with_the_opt_in_each_consumer_reserves_exactly_its_mapping_concurrency(byo_template_dict) -> None:
    wiring = byo_template_dict["Metadata"]["OmicsAutopilot::Wiring"]
    for name, consumer in wiring["consumers"].items():
        scaling = props(byo_template_dict, consumer["eventSourceMapping"])["ScalingConfig"]["MaximumConcurrency"]
        reserved = props(byo_template_dict, consumer["function"])["ReservedConcurrentExecutions"]
        assert 2 <= scaling <= reserved, name  # never fewer executions than pollers


# --- functions ------------------------------------------------------------------------------------


def test_functions_are_python313_arm64_json_logged_traced(template_dict) -> None:
    functions = resources(template_dict, "AWS::Lambda::Function")
    assert functions
    for lid, function in functions.items():
        p = function["Properties"]
        assert p["Runtime"] == "python3.13", lid
        assert p["Architectures"] == ["arm64"], lid
        assert p["TracingConfig"] == {"Mode": "Active"}, lid
        assert p["LoggingConfig"]["LogFormat"] == "JSON", lid
        assert "Ref" in p["LoggingConfig"]["LogGroup"], lid
        env = p["Environment"]["Variables"]
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "OmicsAutopilot", lid
        assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_LOG_LEVEL"], lid


def test_each_function_has_a_role_of_its_own(template_dict) -> None:
    roles = [
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in resources(template_dict, "AWS::Lambda::Function").values()
    ]
    assert len(roles) == len(set(roles))
    for role in roles:
        assert "ManagedPolicyArns" not in props(template_dict, role)


def test_log_groups_have_retention_and_the_stack_key(template_dict) -> None:
    retention = default_context()["logRetentionDays"]
    groups = resources(template_dict, "AWS::Logs::LogGroup")
    assert groups
    for lid, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == retention, lid
        assert group["Properties"]["KmsKeyId"] == getatt(_key_id(template_dict)), lid


def test_recorder_environment_follows_the_settings_contract(template_dict, wiring, recorder) -> None:
    env = props(template_dict, recorder["function"])["Environment"]["Variables"]
    assert env["PROVENANCE_TABLE"] == ref(wiring["table"])
    assert set(json.loads(env["OMICS_RATE_LIMITS"])) == {"run", "batch"}  # what its role may call
    assert env["RUN_CACHE_ID"] == getatt(wiring["runCache"], "Id")
    assert env["OMICS_ROLE_ARN"] == getatt(wiring["serviceRole"])
    assert env["ALARM_TOPIC_ARN"] == ref(wiring["alarmTopic"])
    assert env["POWERTOOLS_SERVICE_NAME"] == "recorder"


def test_handlers_resolve_to_functions_in_the_lambda_asset(template_dict) -> None:
    for lid, function in resources(template_dict, "AWS::Lambda::Function").items():
        module, _, name = function["Properties"]["Handler"].rpartition(".")
        source = LAMBDAS_DIR / (module.replace(".", "/") + ".py")
        assert source.is_file(), f"{lid}: {source} missing"
        defined = {
            node.name for node in ast.parse(source.read_text()).body if isinstance(node, ast.FunctionDef)
        }
        defined |= {
            target.id
            for node in ast.parse(source.read_text()).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert name in defined, f"{lid}: {name} not defined in {source}"
        assert (
            function["Metadata"]["OmicsAutopilot::Function"]["handler"] == function["Properties"]["Handler"]
        )


# --- event routing and archive ------------------------------------------------------------------------


def test_provenance_rule_is_on_the_default_bus_and_targets_the_provenance_queue(
    template_dict, recorder
) -> None:
    (rule_id,) = recorder["rules"]
    rule = props(template_dict, rule_id)
    assert rule.get("EventBusName", "default") == "default"
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {"source": ["aws.omics"], "detail-type": OMICS_DETAIL_TYPES}
    (target,) = rule["Targets"]
    assert target["Arn"] == getatt(recorder["queue"])
    assert target["DeadLetterConfig"] == {"Arn": getatt(recorder["deadLetterQueue"])}


def test_every_rule_listens_to_aws_sources_on_the_default_bus(template_dict) -> None:
    rules = resources(template_dict, "AWS::Events::Rule")
    assert rules
    for lid, rule in rules.items():
        p = rule["Properties"]
        assert p.get("EventBusName", "default") == "default", lid
        assert set(p["EventPattern"]["source"]) <= {"aws.omics", "aws.s3"}, lid


def test_eventbridge_may_send_to_the_rule_target_queues(template_dict, recorder) -> None:
    allowed = set()
    for policy in resources(template_dict, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow" and statement["Principal"] == {
                "Service": "events.amazonaws.com"
            }:
                assert "sqs:SendMessage" in as_list(statement["Action"])
                assert "Condition" in statement  # scoped to this account / rule
                allowed.add(statement["Resource"]["Fn::GetAtt"][0])
    assert {recorder["queue"], recorder["deadLetterQueue"]} <= allowed


def test_archive_keeps_every_aws_omics_event_of_the_default_bus(
    template: Template, template_dict, wiring
) -> None:
    archive = props(template_dict, wiring["archive"])
    assert archive["EventPattern"] == {"source": ["aws.omics"]}
    assert archive["SourceArn"]["Fn::Join"][1][-1] == ":event-bus/default"
    assert archive["RetentionDays"] == default_context()["eventArchiveRetentionDays"]
    assert archive["KmsKeyIdentifier"] == getatt(_key_id(template_dict))


# --- buckets, key, topic, alarms --------------------------------------------------------------------


def test_buckets_block_public_access_are_encrypted_versioned_and_retained(template_dict) -> None:
    buckets = resources(template_dict, "AWS::S3::Bucket")
    assert len(buckets) >= 3
    for lid, bucket in buckets.items():
        p = bucket["Properties"]
        assert p["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, lid
        (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256"), lid
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}, lid
        assert bucket["DeletionPolicy"] == "Retain", lid


def test_data_buckets_use_the_stack_key_and_log_access(template_dict, wiring) -> None:
    key = getatt(_key_id(template_dict))
    for role in ("submissions", "outputs", "runCache"):
        p = props(template_dict, wiring["buckets"][role])
        (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}, (
            role
        )
        assert p["LoggingConfiguration"]["DestinationBucketName"] == ref(wiring["buckets"]["accessLogs"]), (
            role
        )


def test_every_bucket_policy_denies_requests_without_tls(template_dict) -> None:
    buckets = set(resources(template_dict, "AWS::S3::Bucket"))
    enforced = set()
    for policy in resources(template_dict, "AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                enforced.add(policy["Properties"]["Bucket"]["Ref"])
    assert enforced == buckets


def test_key_rotates_and_is_retained(template: Template) -> None:
    template.has_resource(
        "AWS::KMS::Key",
        {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain"},
    )


def test_key_policy_lets_services_use_it_only_within_this_account(template_dict) -> None:
    statements = props(template_dict, _key_id(template_dict))["KeyPolicy"]["Statement"]
    services: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        principal = statement["Principal"]
        if "Service" in principal:
            name = principal["Service"] if isinstance(principal["Service"], str) else "logs"
            services.setdefault(name, []).append(statement)
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com", "logs"} <= set(services)
    for name, granted in services.items():
        for statement in granted:
            if as_list(statement["Action"]) != ["kms:DescribeKey"]:
                assert "Condition" in statement, (name, statement)


def test_alarm_topic_is_encrypted_and_tls_only_without_email_by_default(template_dict, wiring) -> None:
    topic = props(template_dict, wiring["alarmTopic"])
    assert topic["KmsMasterKeyId"] == getatt(_key_id(template_dict))
    assert resources(template_dict, "AWS::SNS::Subscription") == {}
    policies = resources(template_dict, "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    )


def _alarms_on(template_dict: dict[str, Any], dimension_ref: str) -> list[dict[str, Any]]:
    found = []
    for alarm in resources(template_dict, "AWS::CloudWatch::Alarm").values():
        dims = alarm["Properties"].get("Dimensions", [])
        if any(
            d["Value"] == {"Fn::GetAtt": [dimension_ref, "QueueName"]} or d["Value"] == ref(dimension_ref)
            for d in dims
        ):
            found.append(alarm["Properties"])
    return found


def test_dlq_depth_alarm_notifies_the_topic(template_dict, wiring) -> None:
    for name, consumer in wiring["consumers"].items():
        (alarm,) = [
            a
            for a in _alarms_on(template_dict, consumer["deadLetterQueue"])
            if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        ]
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert alarm["AlarmActions"] == [ref(wiring["alarmTopic"])], name


def test_function_error_alarm_notifies_the_topic(template_dict, wiring) -> None:
    for name, consumer in wiring["consumers"].items():
        (alarm,) = [a for a in _alarms_on(template_dict, consumer["function"]) if a["MetricName"] == "Errors"]
        assert alarm["Namespace"] == "AWS/Lambda" and alarm["Threshold"] == 0, name
        assert alarm["AlarmActions"] == [ref(wiring["alarmTopic"])], name


# --- HealthOmics resources -------------------------------------------------------------------------


def test_run_cache_caches_on_failure_in_the_stack_cache_bucket(template_dict, wiring) -> None:
    cache = props(template_dict, wiring["runCache"])
    assert cache["CacheBehavior"] == "CACHE_ON_FAILURE"
    # under cache/, so that the pruner's deletes can be scoped to the cache (tests/infrastructure/test_pruner.py)
    assert cache["CacheS3Location"] == {"Fn::Join": ["", ["s3://", ref(wiring["buckets"]["runCache"]), "/cache/"]]}


def test_service_role_is_assumable_only_by_healthomics_of_this_account(template_dict, wiring) -> None:
    trust = props(template_dict, wiring["serviceRole"])["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "omics.amazonaws.com"},
        }
    ]


# --- sandbox discovery ------------------------------------------------------------------------------


def test_wiring_index_points_at_resources_of_the_right_types(template_dict, wiring) -> None:
    kinds = {
        "table": "AWS::DynamoDB::Table",
        "archive": "AWS::Events::Archive",
        "alarmTopic": "AWS::SNS::Topic",
        "key": "AWS::KMS::Key",
        "runCache": "AWS::Omics::RunCache",
        "serviceRole": "AWS::IAM::Role",
    }
    for field, kind in kinds.items():
        assert template_dict["Resources"][wiring[field]]["Type"] == kind, field
    for bucket in wiring["buckets"].values():
        assert template_dict["Resources"][bucket]["Type"] == "AWS::S3::Bucket"
    consumer_kinds = {
        "function": "AWS::Lambda::Function",
        "queue": "AWS::SQS::Queue",
        "deadLetterQueue": "AWS::SQS::Queue",
        "eventSourceMapping": "AWS::Lambda::EventSourceMapping",
    }
    for consumer in wiring["consumers"].values():
        for field, kind in consumer_kinds.items():
            assert template_dict["Resources"][consumer[field]]["Type"] == kind, field
        esm = props(template_dict, consumer["eventSourceMapping"])
        assert esm["BatchSize"] == consumer["batchSize"]
        assert esm.get("MaximumBatchingWindowInSeconds", 0) == consumer["maximumBatchingWindowInSeconds"]
        assert props(template_dict, consumer["function"])["Handler"] == consumer["handler"]
    json.dumps(wiring)  # plain JSON: the sandbox reads it without CDK


def test_every_deployed_handler_leaves_error_texts_behind(template_dict: dict[str, Any]) -> None:
    """Each of our handlers the stack deploys (its functions' Handler settings) goes through the guard that
    lets no error text escape into Lambda's ERROR log line (tests/unit/test_followups_error_logs.py)."""
    ours = {path.name for path in LAMBDAS_DIR.iterdir() if (path / "handler.py").is_file()}
    handlers = sorted({r["Properties"]["Handler"] for r in template_dict["Resources"].values()
                       if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"].split(".")[0] in ours})
    assert {h.split(".")[0] for h in handlers} == ours  # every function folder is deployed, and checked
    unguarded = [h for h in handlers if not getattr(
        getattr(importlib.import_module(h.rsplit(".", 1)[0]), h.rsplit(".", 1)[1]), "leaves_error_text_behind", False)]
    assert unguarded == []
