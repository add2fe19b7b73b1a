"""Re-runner: failed runs re-run from the run cache when the failure reason makes it worthwhile."""

import shared.coldstart  # noqa: F401  (must stay first: see shared/coldstart.py)
