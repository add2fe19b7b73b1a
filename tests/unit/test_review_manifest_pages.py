"""Reading a run manifest stream: GetLogEvents pages may be partly full or empty before the end (botocore's
logs model: "Partially full or empty pages don't necessarily mean that pagination is finished"); the end is
the page whose nextForwardToken is the token that asked for it. botocore's Stubber plays the service."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from rightsizer.dal import ManifestLogs
from shared.cost.rightsizing import LOG_GROUP

STREAM = "manifest/run/1234567/uuid-1"


def _event(n: int) -> dict[str, Any]:
    return {"timestamp": n, "message": f'{{"n": {n}}}', "ingestionTime": n}


def _expect(stub: Stubber, token: str | None, events: list[dict[str, Any]], following: str) -> None:
    params: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": STREAM, "startFromHead": True,
                              "limit": 1000}
    if token:
        params["nextToken"] = token
    stub.add_response("get_log_events", {"events": events, "nextForwardToken": following,
                                         "nextBackwardToken": "b/0"}, params)


def test_an_empty_page_before_the_end_does_not_end_the_stream() -> None:
    # Given a stream served as: 2 events, an empty page, 1 event, then the end (the same token back)
    client = boto3.client("logs", region_name="us-east-1")
    with Stubber(client) as stub:
        _expect(stub, None, [_event(1), _event(2)], "f/1")
        _expect(stub, "f/1", [], "f/2")
        _expect(stub, "f/2", [_event(3)], "f/3")
        _expect(stub, "f/3", [], "f/3")
        # When the manifest is read
        read = [e["timestamp"] for e in ManifestLogs(lambda: client).events(STREAM)]
        # Then every event is read, and the read ends where the service says the stream ends
        assert read == [1, 2, 3]
        stub.assert_no_pending_responses()


def test_an_empty_first_page_is_not_an_empty_manifest() -> None:
    client = boto3.client("logs", region_name="us-east-1")
    with Stubber(client) as stub:
        _expect(stub, None, [], "f/0")
        _expect(stub, "f/0", [_event(1)], "f/1")
        _expect(stub, "f/1", [], "f/1")
        assert [e["timestamp"] for e in ManifestLogs(lambda: client).events(STREAM)] == [1]
        stub.assert_no_pending_responses()
