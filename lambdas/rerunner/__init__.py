"""Re-runner: failed runs re-run from the run cache when the failure reason makes it worthwhile."""
