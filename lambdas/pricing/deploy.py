"""The deploy-time refresh: a CloudFormation custom resource whose provider is the price refresh itself.

CloudFormation invokes the function (asynchronously) when the stack is created and again when the function
changes (stacks/components/pricing.py), and waits for an answer at the request's ResponseURL, a presigned
S3 URL. The answer is SUCCESS, sent before the refresh runs: a deployment never waits on, or fails because
of, the Price List API. The refresh then runs as a scheduled one does: its outcome is recorded in the table,
an unusable one alarms (PriceRefreshUnusable), a retryable error fails the invocation so that Lambda's
asynchronous retries, then the schedule's alarmed dead-letter queue, take over. A Delete is answered and
refreshes nothing: price lists are kept (every recorded cost names the list it used).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

REQUEST_TYPES = ("Create", "Update", "Delete")
# The guide to custom resources: a response body is at most 4,096 bytes.
MAX_RESPONSE_BYTES = 4096
ANSWER_TIMEOUT_SECONDS = 10
REASON = ("Answered before the refresh runs (a deployment never waits on the Price List API); its outcome: "
          "`autopilot prices show`, alarm PriceRefreshUnusable.")


def is_deploy_request(event: Any) -> bool:
    return (isinstance(event, Mapping) and event.get("RequestType") in REQUEST_TYPES
            and isinstance(event.get("ResponseURL"), str))


def response_body(event: Mapping[str, Any]) -> bytes:
    """SUCCESS, with the request's identity copied verbatim. The physical id stays the same for every
    answer about this resource (a new one would make CloudFormation replace it, then delete the old)."""
    physical = event.get("PhysicalResourceId") or f"{event['StackId']}/{event['LogicalResourceId']}"
    body = json.dumps({"Status": "SUCCESS", "Reason": REASON, "PhysicalResourceId": physical,
                       "StackId": event["StackId"], "RequestId": event["RequestId"],
                       "LogicalResourceId": event["LogicalResourceId"], "Data": {}}).encode()
    if len(body) > MAX_RESPONSE_BYTES:
        raise ValueError(f"custom resource response of {len(body)} bytes (at most {MAX_RESPONSE_BYTES})")
    return body


def answer_deploy_request(event: Mapping[str, Any]) -> bool:
    """Answer CloudFormation (PUT to the presigned ResponseURL); returns whether a refresh follows (not on a
    Delete). A failed PUT raises: the invocation fails and Lambda retries it, answering again."""
    # Imported here: only a deployment's request needs it (cold start of the scheduled refresh).
    import urllib.request
    from urllib.parse import urlsplit

    url = str(event["ResponseURL"])
    if urlsplit(url).scheme != "https":  # CloudFormation's presigned S3 URL: never a file: or plain http URL
        raise ValueError("custom resource ResponseURL is not https")
    body = response_body(event)
    # An empty Content-Type: the presigned URL was signed without one.
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_SECONDS) as response:
        response.read()
    return event["RequestType"] != "Delete"
