"""Run-cache pruner: deletes stale HealthOmics run-cache entries (manifest version below current)."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
