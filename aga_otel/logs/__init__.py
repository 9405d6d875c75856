"""Event log records (OpenTelemetry Logs) and the feed of the audit trail.

Usage::

    from aga_otel.logs import build_log_pipeline

    pipeline = build_log_pipeline(config, status_board, resource)
    bridge.sinks.append(pipeline)          # handle_batch(events) on the worker thread
    pipeline.audit_store.query(operation="register", limit=10)
    pipeline.shutdown(5.0)

Only :mod:`aga_otel.logs._sdk` imports the unstable ``opentelemetry.sdk._logs`` namespace.
"""

from aga_otel.logs.pipeline import LogPipeline, build_log_pipeline

__all__ = ["LogPipeline", "build_log_pipeline"]
