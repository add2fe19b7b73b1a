"""Response-shape validation against botocore's omics model."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.validate import ParamValidator

_MODEL = botocore.session.get_session().get_service_model("omics")


def assert_valid_response(operation: str, response: dict[str, Any]) -> None:
    """The parsed response, minus ResponseMetadata, must satisfy the operation's output shape."""
    shape = _MODEL.operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    if shape is None:
        assert body == {}
        return
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()
