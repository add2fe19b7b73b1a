"""Right-sizing: a COMPLETED run's manifest (CloudWatch Logs) -> per task name advice in provenance."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
