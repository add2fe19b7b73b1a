"""The DynamoDB provenance table; its keys and indexes come from `shared.provenance.keys`."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.components.nag import acknowledge
from stacks.runtime_contract import table_keys

TABLE_METADATA_KEY = "OmicsAutopilot::Table"


class ProvenanceTable(Construct):
    """Single table, on-demand, PITR, CMK encryption, TTL, deletion protection, retained on delete."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=table_keys.PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=table_keys.SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=table_keys.TTL_ATTRIBUTE,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for index_name, partition, sort in table_keys.ALL_GSIS:
            self.table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        cfn_table = self.table.node.default_child
        assert isinstance(cfn_table, dynamodb.CfnTable)
        cfn_table.add_metadata(TABLE_METADATA_KEY, {"role": "provenance"})
        acknowledge(
            self.table,
            "Point-in-time recovery (35 days of continuous backups) is the table's backup; provenance "
            "can also be rebuilt by replaying the EventBridge archive. An AWS Backup plan is an "
            "account-level choice left to the operator.",
            "HIPAA.Security-DynamoDBInBackupPlan",
        )
