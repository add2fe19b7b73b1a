"""Alarms on the HealthOmics calls of every function that may make them.

lambdas/shared/omics.py counts, under the function's service dimension, the attempts HealthOmics throttled
(OmicsThrottled: they got past the client-side rate limit and were retried) and the calls cut short by the
time the invocation had left (OmicsDeadlineExceeded: the SQS record comes back later). Which functions call
HealthOmics is read from their roles, as their call budgets are (omics_budgets.function_budgets), so a
capability added later is alarmed too. Built last, once every grant is in place.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.components.alarms import AlarmNotifications
from stacks.components.lambda_factory import FUNCTION_METADATA_KEY
from stacks.components.omics_budgets import function_budgets
from stacks.runtime_contract import METRICS_NAMESPACE

OMICS_CALL_METRICS = {
    "OmicsThrottled": "HealthOmics throttled calls past the client-side rate limit (retried): the account's "
                      "quota is also used outside this stack, or config omicsQuotas is above it",
    "OmicsDeadlineExceeded": "HealthOmics calls cut short by the invocation's time left (the work is retried "
                             "later); repeated, they end in the dead-letter queue",
}


def omics_call_alarms(stack: cdk.Stack, notifications: AlarmNotifications,
                      quotas: Mapping[str, float]) -> dict[tuple[str, str], cloudwatch.Alarm]:
    """(service, metric) -> an alarm as soon as the metric is above zero in five minutes."""
    callers = function_budgets(stack, quotas)
    services = set()
    for node in stack.node.find_all():
        cfn = node.node.default_child if isinstance(node, lambda_.Function) else None
        if isinstance(cfn, lambda_.CfnFunction) and stack.get_logical_id(cfn) in callers:
            services.add(str(cfn.get_metadata(FUNCTION_METADATA_KEY)["capability"]))
    scope = Construct(stack, "OmicsCallAlarms")
    return {
        (service, metric): notifications.when_any(
            scope, f"{service.title()}{metric}", description=f"{service}: {description}",
            metric=cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=metric,
                                     dimensions_map={"service": service}, period=cdk.Duration.minutes(5),
                                     statistic="Sum"),
        )
        for service in sorted(services) for metric, description in OMICS_CALL_METRICS.items()
    }
