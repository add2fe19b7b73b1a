"""The operations dashboard: one CloudWatch dashboard for the whole autopilot.

Metrics are the ones the handlers emit through Powertools (namespace OmicsAutopilot) plus the Lambda
and SQS service metrics of every function and dead-letter queue in the stack. Application metrics are
graphed with SEARCH expressions, so a dimension value that appears later (a new status, failure
reason or cache) shows up without a redeploy.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.pricing import PriceRefresh
from stacks.runtime_contract import METRICS_NAMESPACE

# Emitted by the recorder per priced run (USD): what runs cost, and what cache hits avoided.
RUN_COST_METRIC = "RunCostUSD"
CACHE_AVOIDED_COST_METRIC = "CacheAvoidedCostUSD"

WIDTH = 24
HALF = 12
THIRD = 8


def search(metric_name: str, statistic: str, period: cdk.Duration, label: str) -> cloudwatch.MathExpression:
    """Every series of one application metric, whatever its dimensions (status, reason, cache...)."""
    query = f"SEARCH('Namespace=\"{METRICS_NAMESPACE}\" MetricName=\"{metric_name}\"', '{statistic}', " \
            f"{int(period.to_seconds())})"
    return cloudwatch.MathExpression(expression=query, label=label, period=period, using_metrics={})


def _name(function: lambda_.IFunction, functions: Sequence[tuple[str, lambda_.IFunction]]) -> str:
    return next(label for label, f in functions if f is function)


class OperationsDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[tuple[str, lambda_.IFunction]],
        dead_letter_queues: Sequence[tuple[str, sqs.IQueue]],
        price_refresh: PriceRefresh | None = None,
        period: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        period = period or cdk.Duration.minutes(15)
        hour = cdk.Duration.hours(1)
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", default_interval=cdk.Duration.days(1),
            period_override=cloudwatch.PeriodOverride.INHERIT,
        )
        self.dashboard.add_widgets(cloudwatch.TextWidget(
            markdown="# HealthOmics autopilot\nRuns, re-runs, batches, cache and the health of every handler. "
                     "Provenance answers: `autopilot run show <runId>`, `autopilot failures`, "
                     "`autopilot batch show <batchId>` (docs/OPERATIONS.md).",
            width=WIDTH, height=2))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs by status (active, from the reconciler's sweep)", width=THIRD, stacked=True,
                left=[search("ActiveRuns", "Maximum", period, "")],
            ),
            cloudwatch.GraphWidget(
                title="Status events recorded", width=THIRD,
                left=[search(name, "Sum", period, "") for name in ("RunEvents", "TaskEvents", "BatchEvents")],
                right=[search("RunsEnriched", "Sum", period, "")],
            ),
            cloudwatch.GraphWidget(
                title="Batches in flight", width=THIRD,
                left=[search("BatchesInFlight", "Maximum", period, "")],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Re-run decisions (re-runner) and unresolved failures by reason", width=HALF,
                left=[search(name, "Sum", period, "") for name in
                      ("RerunStarted", "RerunDelayed", "RerunBraked", "RerunNever", "RerunExhausted")],
                right=[search("UnresolvedFailures", "Maximum", period, "")],
            ),
            cloudwatch.GraphWidget(
                title="Provenance healed by the reconciler", width=HALF,
                left=[search("RecordsHealed", "Sum", period, "")],
                right=[search("ReconcileChecked", "Sum", period, "")],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Run cache: bytes reclaimed by the pruner", width=HALF,
                left=[search("PruneBytesReclaimed", "Sum", hour, "")],
                right=[search("PruneBytesStale", "Sum", hour, "")],
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depths", width=HALF,
                left=[queue.metric_approximate_number_of_messages_visible(
                    label=label, period=cdk.Duration.minutes(5), statistic="Maximum")
                    for label, queue in dead_letter_queues],
            ),
        )
        day = cdk.Duration.days(1)
        # A run priced with an unknown price emits no figure: these are sums of what could be priced.
        cost: list[cloudwatch.IWidget] = [
            cloudwatch.SingleValueWidget(
                title="Run cost and cost avoided by the cache (USD, time range)", width=THIRD, height=6,
                metrics=[search(RUN_COST_METRIC, "Sum", day, "run cost"),
                         search(CACHE_AVOIDED_COST_METRIC, "Sum", day, "avoided by cache")],
                set_period_to_time_range=True,
            ),
            cloudwatch.GraphWidget(
                title="Run cost and cost avoided by the cache (USD per day)",
                width=THIRD if price_refresh else 2 * THIRD,
                left=[search(RUN_COST_METRIC, "Sum", day, ""), search(CACHE_AVOIDED_COST_METRIC, "Sum", day, "")],
            ),
        ]
        if price_refresh is not None:
            cost.append(cloudwatch.GraphWidget(
                title="Price refresh: lines read, refreshes that kept the previous list, errors",
                width=THIRD,
                left=[price_refresh.lines_metric.with_(label="price lines read")],
                right=[price_refresh.unusable_metric.with_(label="unusable refreshes"),
                       price_refresh.function.metric_errors(label="refresh errors", period=hour, statistic="Sum")],
            ))
        self.dashboard.add_widgets(*cost)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Handler errors", width=HALF,
                left=[function.metric_errors(label=label, period=period, statistic="Sum")
                      for label, function in functions],
                right=[function.metric_throttles(label=f"{label} throttles", period=period, statistic="Sum")
                       for label, function in functions],
            ),
            cloudwatch.GraphWidget(
                title="Handler duration (p99)", width=HALF,
                left=[function.metric_duration(label=label, period=period, statistic="p99")
                      for label, function in functions],
            ),
        )
