"""Model registry: versions, aliases with gates and audit, safe loading."""
