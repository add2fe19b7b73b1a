"""Pricing: the scheduled refresh of HealthOmics prices from the AWS Price List API into provenance."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
