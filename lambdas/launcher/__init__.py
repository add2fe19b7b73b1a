"""Launcher: sample sheets -> one HealthOmics batch (StartRunBatch)."""
