"""Where alarms go: one CMK-encrypted SNS topic, with an e-mail subscription only when configured."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class AlarmNotifications(Construct):
    """The alarm topic (always created, so alarms always have an action and e-mail can be added later)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str | None) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Topic", display_name="HealthOmics autopilot alarms", master_key=key, enforce_ssl=True
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self._action = cw_actions.SnsAction(self.topic)

    def notify(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm

    def when_any(
        self, scope: Construct, alarm_id: str, *, description: str, metric: cloudwatch.IMetric
    ) -> cloudwatch.Alarm:
        """An alarm, notified here, as soon as `metric` is above zero in one period (no data: all is well)."""
        return self.notify(
            cloudwatch.Alarm(
                scope,
                alarm_id,
                alarm_description=description,
                metric=metric,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
