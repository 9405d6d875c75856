"""Compatibility shim: the aga-observability 1.0 import path, served by aga-otel."""
