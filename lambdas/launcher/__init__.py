"""Launcher: sample sheets -> one HealthOmics batch (StartRunBatch)."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
