"""The team server (`mw server`): REST API, MLflow-compatible API, auth."""
