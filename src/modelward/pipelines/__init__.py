"""Pipelines: a declared data -> transform -> train -> register -> promote run, each
step cached by a digest of its inputs, candidates trained in parallel."""
