"""What a sheet may make the service role do is what the deployer allowed (issue 11, "Deployer allow-lists").

Each test reproduces a sheet that, before the allow-lists, was accepted: outputs into the run-cache bucket
or any writable bucket, any workflow, run group or cache, 100,000 GiB of static storage. Each is now REJECTED
with zero HealthOmics calls and an error naming the deploy setting. Also: a settings file planted at the
content-addressed key is never used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from launcher.config import LauncherConfig
from launcher.plan import SheetIdentity, build_plan, settings_chunks
from launcher.sheet import parse
from launcher.validation import validate
from sandbox.moto_speedups import speedups
from stacks.config import AutopilotConfig, ConfigError
from tests.launcher_env import BUCKET, LauncherEnv, csv_sheet, launcher_env


@pytest.fixture
def env() -> Iterator[LauncherEnv]:
    with speedups(), mock_aws(), launcher_env() as environment:
        yield environment


def _launch(env: LauncherEnv, sheet: dict[str, Any], name: str = "s.json") -> list[tuple[Any, Any, str]]:
    key = f"submissions/{name}"
    env.upload(key, json.dumps(sheet))
    calls = env.omics_calls
    outcome = env.launcher.launch_object(BUCKET, key)
    assert outcome is not None
    if outcome.status != "SUBMITTED":
        assert outcome.status == "REJECTED" and env.omics_calls == calls
    return [(e["row"], e["column"], e["reason"]) for e in outcome.errors]


def _runs(**fields: Any) -> list[dict[str, Any]]:
    return [{"runSettingId": "S1", **fields}]


def test_outputs_into_the_run_cache_bucket_are_refused_even_when_allowed() -> None:
    with speedups(), mock_aws(), launcher_env(allowed_output_prefixes=["s3://lab-outputs/", "s3://lab-cache/"]) as env:
        errors = _launch(env, {"outputUri": "s3://lab-cache/cache/", "runs": _runs()})
        assert errors == [(None, "outputUri", "outputUri is in a run-cache bucket (lab-cache); run outputs never go "
                                              "there, whatever sheetOutputPrefixes says")]
        per_run = _launch(env, {"runs": _runs(outputUri="s3://lab-cache/9876543/out/")}, "p.json")
        assert per_run == [(1, "outputUri", "outputUri is in a run-cache bucket (lab-cache); run outputs never go "
                                            "there, whatever sheetOutputPrefixes says")]


def test_outputs_outside_the_allowed_prefixes_are_refused(env: LauncherEnv) -> None:
    reason = "outputUri is outside the output locations the deployment allows (sheetOutputPrefixes)"
    assert _launch(env, {"outputUri": "s3://other-team/x/", "runs": _runs()}) == [(None, "outputUri", reason)]
    csv = "sample_id,outputUri\nS1,s3://lab-outputs/trio/\nS2,s3://lab-outputs-evil/x/\n"
    env.upload("submissions/o.csv", csv)
    outcome = env.launcher.launch_object(BUCKET, "submissions/o.csv")
    assert outcome is not None and [(e["row"], e["column"], e["reason"]) for e in outcome.errors] == [
        (3, "outputUri", reason)]


def test_a_folder_prefix_does_not_allow_its_longer_siblings() -> None:
    with speedups(), mock_aws(), launcher_env(allowed_output_prefixes=["s3://lab-outputs/runs"]) as env:
        assert _launch(env, {"outputUri": "s3://lab-outputs/runs/a/", "runs": _runs()}) == []
        assert _launch(env, {"outputUri": "s3://lab-outputs/runs-x/", "runs": _runs()}, "b.json") == [
            (None, "outputUri", "outputUri is outside the output locations the deployment allows "
                                "(sheetOutputPrefixes)")]


def test_workflows_and_versions_outside_the_list_are_refused(env: LauncherEnv) -> None:
    assert _launch(env, {"workflowId": "999", "runs": _runs()}) == [
        (None, "workflowId", "workflow 999 (no version named) is not one the deployment allows sheets to run "
                             "(sheetWorkflows)")]
    pinned = LauncherConfig(**{**env.launcher.config.model_dump(), "allowed_workflows": ["77:v1"]})
    policy = pinned.policy()
    assert policy.workflow_problem("77", "v1") is None
    assert policy.workflow_problem("77", "v2") == ("workflow 77 version v2 is not one the deployment allows "
                                                   "sheets to run (sheetWorkflows)")
    assert policy.workflow_problem(env.workflow_id, None) is None  # the deployment's default, as configured
    assert policy.workflow_problem(env.workflow_id, "v9") is not None
    opted_in = LauncherConfig(**{**env.launcher.config.model_dump(), "allowed_workflows": ["*"]}).policy()
    assert opted_in.workflow_problem("123456", "any") is None  # sheetWorkflows=*: the deployer's explicit choice


def test_a_sheet_naming_another_workflow_does_not_inherit_the_default_workflow_s_version() -> None:
    """The deployment runs W1 at version "v1" and allows sheets to run W2. A sheet naming only `workflowId: W2`
    was started with W2 *and* "v1", the deployment's version name merged under it key by key: every sample ran
    W2's "v1", a version nobody chose (or a valid sheet was refused when W2 had none). workflowVersionName
    names a version OF workflowId (StartRunBatch defaultRunSetting, botocore's omics model): it does not
    outlive a change of workflow; a sheet naming W1 itself still runs the deployment's version."""
    with speedups(), mock_aws(), launcher_env(workflow_version_name="v1", allowed_workflows=[]) as env:
        omics = boto3.client("omics")
        omics.create_workflow_version(workflowId=env.workflow_id, versionName="v1", requestId="w1v1",
                                      definitionUri="s3://lab/germline-v1.zip")
        other = env.emu.register_workflow("somatic")
        omics.create_workflow_version(workflowId=other, versionName="v1", requestId="w2v1",
                                      definitionUri="s3://lab/somatic-v1.zip")
        env.launcher.config.allowed_workflows = [other, env.workflow_id]
        versions = {}
        for name, workflow in (("w2.json", other), ("w1.json", env.workflow_id)):
            env.upload(f"submissions/{name}", json.dumps({"workflowId": workflow, "runs": _runs()}))
            outcome = env.launcher.launch_object(BUCKET, f"submissions/{name}")
            assert outcome is not None and outcome.status == "SUBMITTED", (name, outcome.errors)
            versions[workflow] = env.emu.batches[outcome.batch_id].default_run_setting.get("workflowVersionName")
        assert versions == {other: None, env.workflow_id: "v1"}


def test_run_groups_storage_and_another_cache_are_refused(env: LauncherEnv) -> None:
    errors = _launch(env, {"runGroupId": "4242", "cacheId": "31337", "storageType": "STATIC",
                           "storageCapacity": 100_000, "runs": _runs()})
    assert errors == [
        (None, "cacheId", "cacheId 31337: runs always use this stack's run cache (runCacheId)"),
        (None, "runGroupId", "run group 4242 is not one the deployment allows sheets to use (sheetRunGroupIds)"),
        (None, "storageCapacity", "storageCapacity 100000 GiB is over the deployment's cap of 4800 GiB "
                                  "(sheetMaxStorageGib)"),
    ]


DYNAMIC_REFUSED = ("storageType DYNAMIC grows with the run's use, past the deployment's cap of 4800 GiB "
                   "(sheetMaxStorageGib): the deployment does not let sheets choose it (sheetAllowDynamicStorage)")


def test_dynamic_storage_escapes_no_storage_cap(env: LauncherEnv) -> None:
    # DYNAMIC storage takes no storageCapacity and grows with use: it must not slip past sheetMaxStorageGib
    assert _launch(env, {"storageType": "DYNAMIC", "runs": _runs()}) == [(None, "storageType", DYNAMIC_REFUSED)]
    # nor per run (storage is batch-level only): no way around the cap
    per_run = _launch(env, {"runs": _runs(storageType="DYNAMIC")}, "p.json")
    assert [(row, column) for row, column, _ in per_run] == [(1, "storageType")]
    assert env.emu.calls["StartRunBatch"] == 0


@pytest.mark.parametrize("config", [{"allow_dynamic_storage": True}, {"storage_type": "DYNAMIC"}],
                         ids=["sheetAllowDynamicStorage", "runStorageType-DYNAMIC"])
def test_dynamic_storage_the_deployment_allows_is_submitted(config: dict[str, Any]) -> None:
    # Given the deployer let sheets choose DYNAMIC storage, or chose it for every sheet itself
    with speedups(), mock_aws(), launcher_env(**config) as env:
        assert _launch(env, {"storageType": "DYNAMIC", "runs": _runs()}) == []
        (batch,) = env.emu.batches.values()
        assert batch.default_run_setting["storageType"] == "DYNAMIC"
        assert "storageCapacity" not in batch.default_run_setting


def test_a_sheet_choosing_dynamic_storage_does_not_inherit_the_deployments_static_capacity() -> None:
    with speedups(), mock_aws(), launcher_env(allow_dynamic_storage=True, storage_type="STATIC",
                                              storage_capacity=2400) as env:
        assert _launch(env, {"storageType": "DYNAMIC", "runs": _runs()}) == []
        (batch,) = env.emu.batches.values()
        assert batch.default_run_setting["storageType"] == "DYNAMIC"
        assert "storageCapacity" not in batch.default_run_setting
        # and a capacity it names itself is refused, naming the field: DYNAMIC takes none
        assert _launch(env, {"storageType": "DYNAMIC", "storageCapacity": 1200, "runs": _runs()}, "c.json") == [
            (None, "storageCapacity", "storageCapacity applies to STATIC storage only; DYNAMIC storage takes none")]


def test_what_the_lists_allow_is_submitted() -> None:
    with speedups(), mock_aws(), launcher_env(max_storage_gib=9600) as env:
        sheet = {"storageType": "STATIC", "storageCapacity": 9600, "cacheId": env.cache_id,
                 "outputUri": "s3://lab-outputs/trio/", "runs": _runs()}
        assert _launch(env, sheet) == []
        assert env.emu.calls["StartRunBatch"] == 1


def test_allow_lists_come_from_the_environment_the_stack_sets() -> None:
    config = LauncherConfig.from_env({
        "WORKFLOW_ID": "1", "RUN_OUTPUT_URI": "s3://out/runs/", "SHEET_WORKFLOWS": "2, 3:v1",
        "SHEET_OUTPUT_PREFIXES": "s3://out/,s3://shared/team-a/", "SHEET_RUN_GROUP_IDS": "9",
        "SHEET_MAX_STORAGE_GIB": "2400", "SHEET_MAX_BYTES": "1048576", "RUN_CACHE_BUCKETS": "cache-b,cache-c"})
    policy = config.policy()
    assert policy.workflows == {("1", ""), ("2", None), ("3", "v1")}
    assert policy.output_prefixes == (("out", ""), ("shared", "team-a/"), ("out", "runs/"))
    assert policy.run_group_ids == {"9"} and policy.max_storage_gib == 2400
    assert not policy.dynamic_storage  # unless the deployment says so
    assert LauncherConfig.from_env({"SHEET_ALLOW_DYNAMIC_STORAGE": "true"}).policy().dynamic_storage
    assert LauncherConfig.from_env({"RUN_STORAGE_TYPE": "DYNAMIC"}).policy().dynamic_storage
    assert policy.cache_buckets == {"cache-b", "cache-c"} and config.max_sheet_bytes == 1 << 20


def test_validate_without_a_policy_allows_only_the_deployment_defaults() -> None:
    defaults = {"workflowId": "1", "roleArn": "arn:aws:iam::123456789012:role/r", "outputUri": "s3://out/runs/"}
    body = json.dumps({"workflowId": "2", "runs": [{"runSettingId": "S1", "outputUri": "s3://out/other/"}]})
    reasons = [e.column for e in validate(parse(body.encode(), "json"), defaults, "sub").errors]
    assert reasons == ["workflowId", "outputUri"]


# ------------------------------------------------------------------------------ deploy configuration
def test_configuration_keys_are_validated() -> None:
    config = AutopilotConfig.from_context({"sheetWorkflows": "123,456:v2", "sheetRunGroupIds": [42],
                                           "sheetOutputPrefixes": ["s3://lab-out/runs/"]})
    assert config.sheet_workflows == ["123", "456:v2"] and config.sheet_run_group_ids == ["42"]
    assert config.sheet_max_bytes == 64 << 20 and config.sheet_max_storage_gib == 4800
    assert config.sheet_allow_dynamic_storage is False
    assert AutopilotConfig.from_context({"sheetAllowDynamicStorage": "true"}).sheet_allow_dynamic_storage is True
    for context, hint in [
        ({"sheetWorkflows": "abc"}, "sheetWorkflows: 'abc' does not match"),
        ({"sheetOutputPrefixes": "https://x/"}, "sheetOutputPrefixes: 'https://x/' does not match"),
        ({"sheetOutputPrefixes": "s3://cache-b/x/", "pruneCacheBuckets": "cache-b"},
         "sheetOutputPrefixes: s3://cache-b/x/ is in a run-cache bucket (pruneCacheBuckets)"),
        ({"runStorageType": "STATIC", "runStorageCapacity": 9600},
         "runStorageCapacity: 9600 GiB is over sheetMaxStorageGib (4800 GiB)"),
        ({"sheetMaxBytes": 10}, "sheetMaxBytes"),
        ({"sheetAllowDynamicStorage": "sometimes"}, "sheetAllowDynamicStorage"),
    ]:
        with pytest.raises(ConfigError, match="Invalid configuration") as raised:
            AutopilotConfig.from_context(context)
        assert hint in str(raised.value)


# ------------------------------------------------------------------------------ settings file reuse
def _settings_key(env: LauncherEnv, body: str, key: str) -> tuple[str, bytes]:
    """Where the launcher will put this sheet's settings file, and the bytes it would write."""
    obj = env.s3.get_object(Bucket=BUCKET, Key=key)
    from launcher.plan import sha256_hex

    identity = SheetIdentity("s3", sha256_hex(obj["Body"].read()), bucket=BUCKET, key=key)
    config = env.launcher.config
    validated = validate(parse(body.encode(), "csv"), config.default_run_setting(), identity.submission_id,
                         config.policy())
    plan = build_plan(validated, identity, config.settings_prefix)
    assert plan.settings_key is not None
    return plan.settings_key, b"".join(settings_chunks(validated.encoded))


def test_a_planted_settings_file_is_never_used(env: LauncherEnv) -> None:
    # Given someone who can write batch-settings/ planted a file at the key the sheet's settings go to
    body = csv_sheet(150)
    env.upload("submissions/big.csv", body)
    settings_key, genuine = _settings_key(env, body, "submissions/big.csv")
    forged = genuine.replace(b"s3://lab-data/S000000.bam", b"s3://attacker/evil.bam")
    env.s3.put_object(Bucket=BUCKET, Key=settings_key, Body=forged)
    # When the sheet is launched
    outcome = env.launcher.launch_object(BUCKET, "submissions/big.csv")
    # Then no batch starts, the sheet is rejected with the reason, and the alarm says so (without details)
    assert outcome is not None and outcome.status == "REJECTED"
    (error,) = outcome.errors
    assert error["reason"].startswith(f"settings file s3://{BUCKET}/{settings_key} exists with other content")
    assert env.emu.calls["StartRunBatch"] == 0 and env.metrics["SettingsFileMismatches"] == 1
    assert [a["error_count"] for a in env.alarms()] == [1]


def test_a_genuine_settings_file_is_reused_after_its_hash_is_checked(env: LauncherEnv) -> None:
    body = csv_sheet(150)
    env.upload("submissions/big.csv", body)
    settings_key, genuine = _settings_key(env, body, "submissions/big.csv")
    env.s3.put_object(Bucket=BUCKET, Key=settings_key, Body=genuine)  # e.g. written before a crash
    outcome = env.launcher.launch_object(BUCKET, "submissions/big.csv")
    assert outcome is not None and outcome.status == "SUBMITTED"
    assert env.emu.calls["StartRunBatch"] == 1


def test_a_workflow_s_own_dynamic_default_is_bounded_like_a_sheet_s_choice() -> None:
    # A sheet that names no storageType runs with its workflow's default (CreateWorkflow and
    # CreateWorkflowVersion take a storageType: botocore's omics model), which may be DYNAMIC
    with speedups(), mock_aws(), launcher_env() as env:
        dynamic = env.emu.register_workflow("germline-dynamic", storage_type="DYNAMIC")
        omics = boto3.client("omics")
        omics.create_workflow_version(workflowId=env.workflow_id, versionName="v2-dynamic", storageType="DYNAMIC",
                                      requestId="v2", definitionUri="s3://lab/germline-v2.zip")
        env.launcher.config.allowed_workflows = [dynamic, env.workflow_id]
        # When sheets name that workflow, or that version of the allowed one, and no storageType
        for name, sheet in (("w.json", {"workflowId": dynamic}),
                            ("v.json", {"workflowId": env.workflow_id, "workflowVersionName": "v2-dynamic"})):
            env.upload(f"submissions/{name}", json.dumps({**sheet, "runs": _runs()}))
            outcome = env.launcher.launch_object(BUCKET, f"submissions/{name}")
            # Then each is REJECTED on storageType, with no batch started
            assert outcome is not None and outcome.status == "REJECTED", name
            (error,) = outcome.errors
            assert error["column"] == "storageType" and "runs with DYNAMIC storage unless told otherwise" in \
                error["reason"] and "sheetAllowDynamicStorage" in error["reason"]
        assert env.emu.batches == {}
        # and naming STATIC storage with a capacity runs the same workflow
        env.upload("submissions/s.json", json.dumps({"workflowId": dynamic, "storageType": "STATIC",
                                                     "storageCapacity": 1200, "runs": _runs()}))
        outcome = env.launcher.launch_object(BUCKET, "submissions/s.json")
        assert outcome is not None and outcome.status == "SUBMITTED"
        (batch,) = env.emu.batches.values()
        assert batch.default_run_setting["storageType"] == "STATIC"


def test_a_workflow_s_own_static_capacity_over_the_cap_is_bounded_like_a_sheet_s_choice() -> None:
    """The deployer caps static run storage (sheetMaxStorageGib, 4,800 GiB by default). A workflow whose own
    default is STATIC 9,600 GiB (CreateWorkflow takes storageType and storageCapacity, GetWorkflow returns both:
    botocore's omics model) was not checked: a sheet naming that allowed workflow and no storage started every
    run with 9,600 GiB, twice what the deployment allows (a sheet naming 9,600 itself is REJECTED). Now REJECTED
    the same way, with no batch started; naming a capacity within the cap runs it."""
    with speedups(), mock_aws(), launcher_env() as env:
        big = env.emu.register_workflow("germline-big", storage_type="STATIC", storage_capacity=9_600)
        env.launcher.config.allowed_workflows = [big, env.workflow_id]
        env.upload("submissions/big.json", json.dumps({"workflowId": big, "runs": _runs()}))
        outcome = env.launcher.launch_object(BUCKET, "submissions/big.json")
        assert outcome is not None and outcome.status == "REJECTED" and env.emu.batches == {}
        (error,) = outcome.errors
        assert error["column"] == "storageCapacity" and "storageCapacity 9600 GiB is over the deployment's cap " \
            "of 4800 GiB (sheetMaxStorageGib)" in error["reason"]
        env.upload("submissions/small.json", json.dumps({"workflowId": big, "storageCapacity": 2400, "runs": _runs()}))
        outcome = env.launcher.launch_object(BUCKET, "submissions/small.json")
        assert outcome is not None and outcome.status == "SUBMITTED", outcome.errors
        (batch,) = env.emu.batches.values()
        assert batch.default_run_setting["storageCapacity"] == 2400
