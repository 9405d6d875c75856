"""Metrics: the shared reader, the instruments of the metric table and the event recorder."""
