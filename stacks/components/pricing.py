"""The price refresh: HealthOmics prices from the AWS Price List API into the provenance table.

EventBridge Scheduler (config `priceRefreshSchedule`) --invoke--> price refresh Lambda
  pricing GetProducts (service code AmazonOmics, regionCode = the stack's region), from the Price List
  API endpoint botocore's data gives for the region (or `priceListEndpointRegion`), paginated
  -> a dated list + the region's CURRENT pointer in the provenance table (lambdas/shared/cost/price_source.py).
A refresh with no usable line never replaces the current list: it is recorded and alarmed
(metric PriceRefreshUnusable). `autopilot prices refresh` invokes the same function on demand, and
CloudFormation does at deploy (`refresh_on_deploy`): a new stack prices with AWS's list from its first run.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of, service_metric
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import acknowledge
from stacks.config import AutopilotConfig
from stacks.runtime_contract import LAMBDAS_DIR  # noqa: F401  (puts lambdas/ on sys.path)

# isort: off
from pricing.config import ENV_PRICE_LIST_ENDPOINT, LINES_METRIC, UNUSABLE_METRIC
# isort: on

PRICE_REFRESH_HANDLER = "pricing.handler.lambda_handler"
# The function answers CloudFormation before it refreshes (lambdas/pricing/deploy.py): a cold start, not the
# Price List API, bounds the wait. Without an answer by then the deployment fails (not after the 1 h default).
DEPLOY_ANSWER_TIMEOUT = cdk.Duration.minutes(5)
# GetProducts supports no resource-level permission (IAM Service Authorization Reference): "*" only.
PRICING_ACTIONS = ("pricing:GetProducts",)


class PriceRefresh(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        config: AutopilotConfig,
    ) -> None:
        super().__init__(scope, construct_id, context)
        environment = {ENV_PRICE_LIST_ENDPOINT: config.price_list_endpoint_region} \
            if config.price_list_endpoint_region else {}
        self.function = self.table_function(
            "PriceRefresh",
            FunctionSpec(
                capability="pricing",
                handler=PRICE_REFRESH_HANDLER,
                description="Refreshes HealthOmics prices from the AWS Price List API into provenance (scheduled)",
                timeout=cdk.Duration.minutes(2),
                memory_mb=256,
                reserved_concurrency=1,
                environment=environment,
            ),
            index_use=None,
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(sid="PriceListRead", actions=list(PRICING_ACTIONS), resources=["*"])
        )

        self.scheduled = self.invoke_on_schedule(
            self.function,
            expression=config.price_refresh_schedule,
            description="Refresh HealthOmics prices from the AWS Price List API",
            what="price refresh",
            max_event_age=cdk.Duration.hours(6),
        )
        self.on_deploy = refresh_on_deploy(self, self.function, environment)
        self.unusable_metric = service_metric("pricing", UNUSABLE_METRIC, period=cdk.Duration.hours(6))
        self.lines_metric = service_metric("pricing", LINES_METRIC, period=cdk.Duration.hours(6), statistic="Maximum")
        self.unusable_alarm = self.notifications.when_any(
            self,
            "RefreshUnusable",
            description="price refresh: the AWS Price List API gave no usable HealthOmics price (or refused); "
                        "the previous price list stays current (see `autopilot prices show`)",
            metric=self.unusable_metric,
        )

        acknowledge(
            role_of(self.function),
            "pricing:GetProducts supports no resource-level permission (IAM Service Authorization Reference), "
            "so it is granted on * (besides X-Ray's resource-less actions); it reads public prices only.",
            "AwsSolutions-IAM5[Resource::*]",
        )


def refresh_on_deploy(scope: Construct, function: lambda_.Function,
                      configuration: dict[str, str]) -> cdk.CustomResource:
    """A custom resource whose provider is the refresh itself: CloudFormation invokes it (asynchronously, with
    the deploying principal's credentials) when the stack is created and again when the function's code or
    the refresh's configuration changes (its properties). No other function, role or grant: its failures
    take the scheduled path (the FAILED record, PriceRefreshUnusable, Lambda's retries, the alarmed
    dead-letter queue), never the deployment's."""
    cfn_function = function.node.default_child
    assert isinstance(cfn_function, lambda_.CfnFunction)
    code = cfn_function.code
    assert isinstance(code, lambda_.CfnFunction.CodeProperty)
    resource = cdk.CustomResource(
        scope, "RefreshOnDeploy", service_token=function.function_arn, resource_type="Custom::PriceRefresh",
        service_timeout=DEPLOY_ANSWER_TIMEOUT,
        properties={"Code": code.s3_key, "Configuration": dict(sorted(configuration.items()))},
    )
    # After the function's asynchronous invoke configuration: the first refresh's failures reach its queue.
    invoke_config = function.node.try_find_child("EventInvokeConfig")
    assert invoke_config is not None, "configure the function's asynchronous invocation first"
    resource.node.add_dependency(invoke_config)
    return resource
