"""Provenance recorder: HealthOmics status events -> provenance table."""
