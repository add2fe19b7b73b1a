"""Provenance recorder: HealthOmics status events -> provenance table."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
