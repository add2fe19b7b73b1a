"""Pricing: the scheduled refresh of HealthOmics prices from the AWS Price List API into provenance."""
