"""Monitoring: what happens to a model after it is deployed.

Prometheus metrics (`metrics`), the prediction log and feedback (`predictions`),
live quality (`live`), the server's monitor (`monitor`), alert rules, their
evaluation, stored state and webhooks (`rules`, `durations`, `alerts`,
`alert_store`, `webhooks`), and data drift (the `drift` package: the engine, cached reference
statistics, the `mw monitor drift` check and its HTML report).
"""
