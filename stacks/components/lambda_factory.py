"""One factory for every function: the defaults live here, capabilities only say what differs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.nag import INLINE_POLICY, INLINE_POLICY_REASON, acknowledge
from stacks.runtime_contract import METRICS_NAMESPACE

# Resource metadata key under which each function states its capability and handler, so the sandbox can
# find "the recorder" in the synthesized template without knowing CDK's logical-id hashing.
FUNCTION_METADATA_KEY = "OmicsAutopilot::Function"


@dataclass(frozen=True)
class FunctionSpec:
    """What one capability's function needs; everything else is a house default."""

    capability: str  # e.g. "recorder": also the Powertools service name
    handler: str  # e.g. "recorder.handler.lambda_handler" (relative to lambdas/)
    description: str
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(60))
    memory_mb: int = 512
    # The most concurrent executions the function needs (a consumer: its mapping's maximum concurrency;
    # a scheduled function: 1). Reserved only when the deployment opts in (config `reservedConcurrency`).
    reserved_concurrency: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"


class LambdaFactory:
    """Builds functions with: Python 3.13, arm64, JSON logs into an explicit encrypted log group with
    retention, X-Ray active tracing, Powertools environment, and a role of its own (no managed
    policies: log writing is granted on its log group only; callers add the rest with grant_*)."""

    def __init__(
        self,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        common_environment: Mapping[str, str] | None = None,
        reserve_concurrency: bool = False,
    ) -> None:
        self._code = code
        self._reserve_concurrency = reserve_concurrency
        self._key = key
        self._log_retention = log_retention
        self._common_environment = dict(common_environment or {})

    def create(self, scope: Construct, construct_id: str, spec: FunctionSpec) -> lambda_.Function:
        holder = Construct(scope, construct_id)
        log_group = logs.LogGroup(
            holder,
            "LogGroup",
            retention=self._log_retention,
            encryption_key=self._key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            holder,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {spec.capability} function",
        )
        environment = {
            **self._common_environment,
            "POWERTOOLS_SERVICE_NAME": spec.capability,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": spec.log_level,
            **spec.environment,
        }
        function = lambda_.Function(
            holder,
            "Function",
            description=spec.description,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=self._code,
            role=role,
            timeout=spec.timeout,
            memory_size=spec.memory_mb,
            reserved_concurrent_executions=spec.reserved_concurrency if self._reserve_concurrency else None,
            environment=environment,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[spec.log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
        )
        log_group.grant_write(role)
        function.node.add_dependency(log_group)
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.add_metadata(
            FUNCTION_METADATA_KEY, {"capability": spec.capability, "handler": spec.handler}
        )

        acknowledge(
            function,
            "Runtime is pinned to python3.13 on purpose: the bundled dependencies are built for cp313 "
            "and the runtime is supported; moving to a newer runtime is a deliberate upgrade.",
            "AwsSolutions-L1",
        )
        acknowledge(
            function,
            "No VPC: the function only calls regional AWS APIs (DynamoDB, SQS, HealthOmics) over TLS "
            "with IAM auth and reaches no private network resources.",
            "HIPAA.Security-LambdaInsideVPC",
        )
        acknowledge(
            role,
            "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions "
            "(active tracing, added by CDK).",
            "AwsSolutions-IAM5[Resource::*]",
        )
        if not self._reserve_concurrency:
            acknowledge(
                function,
                "Reserved concurrency is opt-in (config reservedConcurrency): Lambda keeps a minimum of the "
                "account's concurrency unreserved, so an account with the smallest quota could not deploy a "
                "stack that reserves any. Queue consumers are bounded by their event source mapping's "
                "maximum concurrency; scheduled functions are invoked once per schedule tick.",
                "HIPAA.Security-LambdaConcurrency",
            )
        acknowledge(role, INLINE_POLICY_REASON, INLINE_POLICY)
        return function
