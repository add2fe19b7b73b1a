"""One Logger, one Metrics (EMF) and one Tracer for every function of the stack."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "omics-autopilot"
NAMESPACE = "OmicsAutopilot"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
