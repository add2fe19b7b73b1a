"""Right-sizing: a COMPLETED run's manifest (CloudWatch Logs) -> per task name advice in provenance."""
