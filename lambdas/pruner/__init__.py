"""Run-cache pruner: deletes stale HealthOmics run-cache entries (manifest version below current)."""
