"""Create the stack's resources in moto (and the HealthOmics emulator) FROM the synthesized template.

The template is the one source of truth: queue redrive, rule patterns and targets, table keys and
GSIs, function handlers and environments, event source mappings and schedules all come from it, so
the sandbox cannot drift from what `cdk deploy` creates. Only the resource types the product uses
are interpreted; everything else (IAM, KMS, log groups, alarms...) has no local behaviour and gets a
placeholder physical id so that references to it still resolve.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3


@dataclass
class FunctionSpec:
    logical_id: str
    handler: str
    environment: dict[str, str]
    timeout: int
    arn: str


@dataclass
class ConsumerSpec:
    """An SQS event source mapping: which queue feeds which function, with Lambda's batching knobs."""

    function: str  # logical id
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window: int
    visibility_timeout: int
    max_receive_count: int | None
    dlq_url: str | None


@dataclass
class ScheduleSpec:
    name: str
    expression: str
    target_arn: str
    input: str | None
    timezone: str | None = None


@dataclass
class StackResources:
    physical: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    consumers: list[ConsumerSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> url
    template: dict[str, Any] = field(default_factory=dict)  # what it was created from (GetTemplate)


class TemplateSandbox:
    """Interprets a CloudFormation template against moto in the current `mock_aws` context."""

    def __init__(self, template: dict[str, Any], account_id: str, region: str, stack_name: str,
                 omics: Any, clients: Mapping[str, Any] | None = None) -> None:
        """`clients`: the account's own clients by service name, used instead of new ones (a client costs ~5 ms of
        CPU to create, and the account has them already); a service it has none of gets one on first use."""
        self.template = template
        self.resources_by_id: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.account_id = account_id
        self.region = region
        self.stack_name = stack_name.lower()
        self.omics = omics
        self.result = StackResources()
        self._creating: set[str] = set()
        self._creators: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::SQS::Queue": self._queue,
            "AWS::DynamoDB::Table": self._table,
            "AWS::DynamoDB::GlobalTable": self._table,
            "AWS::SNS::Topic": self._topic,
            "AWS::Events::Rule": self._rule,
            "AWS::Events::Archive": self._archive,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::Scheduler::Schedule": self._schedule,
            "AWS::Omics::RunCache": self._run_cache,
            "AWS::IAM::Role": self._role,
        }
        self._clients = dict(clients or {})

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    # ------------------------------------------------------------------ driver
    def create_all(self) -> StackResources:
        self.result.template = self.template
        for logical_id in self.resources_by_id:
            self.physical(logical_id)
        self.result.outputs = {name: self.resolve(output["Value"])
                               for name, output in self.template.get("Outputs", {}).items()}
        return self.result

    def physical(self, logical_id: str) -> dict[str, Any]:
        """Create a resource on first reference (dependencies first) and return its attributes."""
        if logical_id in self.result.physical:
            return self.result.physical[logical_id]
        if logical_id in self._creating:
            raise ValueError(f"circular reference through {logical_id}")
        self._creating.add(logical_id)
        resource = self.resources_by_id[logical_id]
        creator = self._creators.get(resource["Type"], self._placeholder)
        attributes = creator(logical_id, resource)
        self.result.physical[logical_id] = attributes
        self._creating.discard(logical_id)
        return attributes

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.physical(logical_id).get(attribute, self.physical(logical_id)["Ref"])
            if name == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(p)) for p in parts)
            if name == "Fn::Sub":
                return self._sub(argument)
            if name == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if name == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if name == "Fn::If":
                return self.resolve(argument[1])
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        pseudo = {"AWS::AccountId": self.account_id, "AWS::Region": self.region, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": self.stack_name,
                  "AWS::NoValue": None, "AWS::StackId": f"arn:aws:cloudformation:{self.region}:"
                  f"{self.account_id}:stack/{self.stack_name}/sandbox"}
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.template["Parameters"][name].get("Default", "")
        return self.physical(name)["Ref"]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved = {k: self.resolve(v) for k, v in variables.items()}
        out, index = [], 0
        while (start := text.find("${", index)) >= 0:
            end = text.index("}", start)
            out.append(text[index:start])
            token = text[start + 2:end]
            if token in resolved:
                out.append(str(resolved[token]))
            elif "." in token:
                logical_id, attribute = token.split(".", 1)
                out.append(str(self.resolve({"Fn::GetAtt": [logical_id, attribute]})))
            else:
                out.append(str(self._ref(token)))
            index = end + 1
        out.append(text[index:])
        return "".join(out)

    def props(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self.resolve(resource.get("Properties", {}))  # type: ignore[no-any-return]

    def _name(self, logical_id: str, limit: int = 63) -> str:
        return f"{self.stack_name}-{logical_id}".lower()[:limit]

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    # ------------------------------------------------------------------ resource types
    def _placeholder(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        name = self._name(logical_id)
        return {"Ref": name, "Arn": self._arn("sandbox", name), "Id": name}

    def _role(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        name = self._name(logical_id, 64)
        arn = f"arn:aws:iam::{self.account_id}:role/{name}"
        return {"Ref": name, "Arn": arn, "RoleId": name}

    def _bucket(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        name = props.get("BucketName") or self._name(logical_id)
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client("s3").create_bucket(**kwargs)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            self.client("s3").put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration") is not None:
            self.client("s3").put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
        return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com"}

    def _queue(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        name = props.get("QueueName") or self._name(logical_id, 80)
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self._arn("sqs", name)
        self.result.queues[logical_id] = url
        return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url,
                "VisibilityTimeout": int(props.get("VisibilityTimeout", 30)),
                "MaxReceiveCount": (props.get("RedrivePolicy") or {}).get("maxReceiveCount"),
                "DeadLetterTargetArn": (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")}

    def _table(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        name = props.get("TableName") or self._name(logical_id, 255)
        request: dict[str, Any] = {
            "TableName": name, "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"], "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
                for gsi in props["GlobalSecondaryIndexes"]]
        self.client("dynamodb").create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.client("dynamodb").update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
        self.result.tables.append(name)
        return {"Ref": name, "Arn": self._arn("dynamodb", f"table/{name}"),
                "StreamArn": self._arn("dynamodb", f"table/{name}/stream/sandbox")}

    def _topic(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        arn = self.client("sns").create_topic(Name=props.get("TopicName") or self._name(logical_id, 256))["TopicArn"]
        return {"Ref": arn, "TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]}

    def _rule(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        name = props.get("Name") or self._name(logical_id, 64)
        bus = props.get("EventBusName") or "default"
        request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
        if "EventPattern" in props:
            request["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            request["ScheduleExpression"] = props["ScheduleExpression"]
        arn = self.client("events").put_rule(**request)["RuleArn"]
        targets = [{k: v for k, v in t.items() if k in ("Id", "Arn", "Input", "InputPath", "SqsParameters")}
                   for t in props.get("Targets", [])]
        if targets:
            self.client("events").put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return {"Ref": name, "Arn": arn}

    def _archive(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        name = props.get("ArchiveName") or self._name(logical_id, 48)
        source = props["SourceArn"]
        if not str(source).startswith("arn:"):
            source = self._arn("events", "event-bus/default")
        request: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": source,
                                   "RetentionDays": int(props.get("RetentionDays", 0))}
        if "EventPattern" in props:
            request["EventPattern"] = json.dumps(props["EventPattern"])
        arn = self.client("events").create_archive(**request)["ArchiveArn"]
        return {"Ref": name, "Arn": arn, "ArchiveName": name}

    def _function(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        name = props.get("FunctionName") or self._name(logical_id, 64)
        arn = self._arn("lambda", f"function:{name}")
        environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()
                       if v is not None}
        self.result.functions[logical_id] = FunctionSpec(
            logical_id=logical_id, handler=props["Handler"], environment=environment,
            timeout=int(props.get("Timeout", 3)), arn=arn)
        return {"Ref": name, "Arn": arn}

    def _event_source_mapping(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        raw = resource["Properties"]
        queue_logical = raw["EventSourceArn"]["Fn::GetAtt"][0]
        function_logical = raw["FunctionName"]["Ref"]
        queue = self.physical(queue_logical)
        self.physical(function_logical)
        props = self.props(resource)
        dlq_url = None
        if queue.get("DeadLetterTargetArn"):
            dlq_name = str(queue["DeadLetterTargetArn"]).rsplit(":", 1)[-1]
            dlq_url = self.client("sqs").get_queue_url(QueueName=dlq_name)["QueueUrl"]
        self.result.consumers.append(ConsumerSpec(
            function=function_logical, queue_url=queue["QueueUrl"], queue_arn=queue["Arn"],
            batch_size=int(props.get("BatchSize", 10)),
            batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            visibility_timeout=int(queue["VisibilityTimeout"]),
            max_receive_count=int(queue["MaxReceiveCount"]) if queue.get("MaxReceiveCount") else None,
            dlq_url=dlq_url))
        return {"Ref": f"esm-{logical_id}", "Id": f"esm-{logical_id}"}

    def _schedule(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        name = props.get("Name") or self._name(logical_id, 64)
        target = props["Target"]
        self.result.schedules.append(ScheduleSpec(
            name=name, expression=props["ScheduleExpression"], target_arn=target["Arn"],
            input=target.get("Input"), timezone=props.get("ScheduleExpressionTimezone")))
        return {"Ref": name, "Arn": self._arn("scheduler", f"schedule/default/{name}")}

    def _run_cache(self, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.props(resource)
        request: dict[str, Any] = {"cacheS3Location": props["CacheS3Location"],
                                   "requestId": f"sandbox-{logical_id}"}
        if props.get("CacheBehavior"):
            request["cacheBehavior"] = props["CacheBehavior"]
        if props.get("Name"):
            request["name"] = props["Name"]
        created = self.omics.create_run_cache(**request)
        return {"Ref": created["id"], "Id": created["id"], "Arn": created["arn"]}
