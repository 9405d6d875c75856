"""Sinks for metrics: the Prometheus endpoint, OTLP (gRPC/HTTP) and the console."""
