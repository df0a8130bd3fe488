"""Monitoring: Prometheus metrics, the prediction log, live quality, drift, anomalies, alerts."""
