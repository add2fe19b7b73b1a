"""The launcher's field lists against botocore's StartRunBatch model (an oracle we did not write).

sheet.py spells them out rather than loading the service model at import (a cold start for every sheet);
this test keeps the two from drifting apart."""

from __future__ import annotations

import botocore.session

from launcher.sheet import BATCH_FIELDS, FIXED_BY_DEPLOYMENT, PER_RUN_FIELDS
from shared.api_limits import api_limits


def _default_run_setting_members() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("omics")
    request = model.operation_model("StartRunBatch").input_shape
    return frozenset(request.members["defaultRunSetting"].members)


def test_per_run_fields_are_the_models_inline_run_setting_members() -> None:
    assert api_limits().per_run_fields == PER_RUN_FIELDS


def test_batch_fields_and_the_deployments_fields_are_exactly_the_default_run_setting() -> None:
    assert _default_run_setting_members() == BATCH_FIELDS | FIXED_BY_DEPLOYMENT
