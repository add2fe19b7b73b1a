"""Reconciler: a scheduled sweep that heals provenance when HealthOmics events went missing."""
