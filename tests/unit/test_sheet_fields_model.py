"""The launcher's field lists against botocore's StartRunBatch model (an oracle we did not write).

The per-run fields are the model's own (api_limits().per_run_fields, read with the first sheet); the batch
fields are spelled out rather than loading the model at import (a cold start for every sheet): these tests
keep them from drifting apart, and show that a sheet's runs may set exactly the model's per-run fields."""

from __future__ import annotations

import json

import botocore.session
import pytest

from launcher.sheet import BATCH_FIELDS, FIXED_BY_DEPLOYMENT, parse


def _start_run_batch_members(member: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("omics")
    shape = model.operation_model("StartRunBatch").input_shape.members[member]
    return frozenset(shape.members if member == "defaultRunSetting" else shape.members["inlineSettings"].member.members)


def _default_run_setting_members() -> frozenset[str]:
    return _start_run_batch_members("defaultRunSetting")


@pytest.mark.parametrize("name", sorted(_start_run_batch_members("batchRunSettings") - {"runSettingId"}))
def test_a_run_may_set_each_of_the_models_per_run_fields(name: str) -> None:
    sheet = parse(json.dumps({"runs": [{"runSettingId": "S1", name: "x"}]}).encode(), "json")
    assert not sheet.errors and sheet.runs[0].fields == {"runSettingId": "S1", name: "x"}


@pytest.mark.parametrize("name", sorted(_default_run_setting_members() - _start_run_batch_members("batchRunSettings")))
def test_a_run_may_not_set_a_batch_only_field_of_the_model(name: str) -> None:
    sheet = parse(json.dumps({"runs": [{"runSettingId": "S1", name: "x"}]}).encode(), "json")
    assert [error.reason for error in sheet.errors] == [f"{name} is a batch-level setting and cannot be set per run"]


def test_batch_fields_and_the_deployments_fields_are_exactly_the_default_run_setting() -> None:
    assert _default_run_setting_members() == BATCH_FIELDS | FIXED_BY_DEPLOYMENT
