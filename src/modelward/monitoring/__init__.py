"""Monitoring: what happens to a model after it is deployed.

Prometheus metrics, the prediction log, live quality, alerts, and data drift:
`modelward.monitoring.drift` compares a reference dataset version with current
data (PSI, Kolmogorov-Smirnov, chi-square) and `modelward.monitoring.report`
renders the result as a self-contained HTML page.
"""
