"""Reconciler: a scheduled sweep that heals provenance when HealthOmics events went missing."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
