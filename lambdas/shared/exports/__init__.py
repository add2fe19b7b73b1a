"""Standard exports of a run and its lineage: Workflow Run RO-Crate (Provenance Run Crate profile),
W3C PROV-JSON, and a mermaid lineage diagram. Pure functions over what the provenance table records
(`lineage.load_lineage`); used by the operator CLI. `prov_json` needs the `prov` package (CLI only)."""
