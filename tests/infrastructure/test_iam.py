"""Least privilege: each function's role holds only what its code calls."""

from __future__ import annotations

from tests.infrastructure.cfn import as_list, join_text, policies_of_role, policy_statements, props


def _role_of(template_dict, function_id: str) -> str:
    return props(template_dict, function_id)["Role"]["Fn::GetAtt"][0]


def test_recorder_calls_only_the_three_healthomics_read_actions(template_dict, recorder) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, recorder["function"]))
    omics = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            if action.startswith("omics:"):
                omics[action] = [join_text(r) for r in as_list(statement["Resource"])]
    assert omics == {
        "omics:GetRun": ["arn:<AWS::Partition>:omics:<AWS::Region>:<AWS::AccountId>:run/*"],
        "omics:ListRunTasks": ["arn:<AWS::Partition>:omics:<AWS::Region>:<AWS::AccountId>:run/*"],
        "omics:ListRunsInBatch": ["arn:<AWS::Partition>:omics:<AWS::Region>:<AWS::AccountId>:runBatch/*"],
    }


def test_no_identity_policy_grants_wildcard_actions(template_dict) -> None:
    for lid, statement in policy_statements(template_dict):
        for action in as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert action != "*" and name != "*", (lid, action)
            if service == "omics":
                assert "*" not in name, (lid, action)


def test_recorder_reads_and_writes_only_the_provenance_table(template_dict, wiring, recorder) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, recorder["function"]))
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert dynamo
    for statement in dynamo:
        targets = {join_text(r) for r in as_list(statement["Resource"])}
        assert targets <= {f"<{wiring['table']}.Arn>", f"<{wiring['table']}.Arn>/index/*"}
    actions = {a for s in dynamo for a in as_list(s["Action"])}
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"} <= actions


def test_recorder_consumes_and_continues_only_on_its_own_queue_and_writes_only_its_log_group(
        template_dict, recorder) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, recorder["function"]))
    queue_actions: set[str] = set()
    for statement in statements:
        actions = as_list(statement["Action"])
        if any(a.startswith("sqs:") for a in actions):
            assert statement["Resource"] == {"Fn::GetAtt": [recorder["queue"], "Arn"]}
            queue_actions.update(actions)
        if any(a.startswith("logs:") for a in actions):
            log_group = props(template_dict, recorder["function"])["LoggingConfig"]["LogGroup"]["Ref"]
            assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    assert "sqs:SendMessage" in queue_actions  # continuations of checkpointed work go to its own queue only
    environment = props(template_dict, recorder["function"])["Environment"]["Variables"]
    assert environment["CONTINUATION_QUEUE_URL"] == {"Ref": recorder["queue"]}


def test_service_role_cannot_delete_objects_or_touch_foreign_buckets(template_dict, wiring) -> None:
    statements = policies_of_role(template_dict, wiring["serviceRole"])
    allowed_buckets = {
        f"<{b}.Arn>" for b in wiring["buckets"].values() if b != wiring["buckets"]["accessLogs"]
    }
    for statement in statements:
        for action in as_list(statement["Action"]):
            assert not action.startswith(("s3:Delete", "iam:", "omics:")), action
        if any(a.startswith("s3:") for a in as_list(statement["Action"])):
            for resource in as_list(statement["Resource"]):
                # the bucket itself or keys in it (<bucket>/*, the run cache's <bucket>/cache/*)
                assert join_text(resource).split("/", 1)[0] in allowed_buckets, resource
