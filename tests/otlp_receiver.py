"""A real OTLP receiver for tests, built on the official opentelemetry-proto definitions.

gRPC: MetricsService, LogsService and TraceService on a loopback port.
HTTP: POST /v1/metrics, /v1/logs, /v1/traces with application/x-protobuf bodies.
Both record every decoded export request.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

_REQUEST_TYPES = {
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest,
                 logs_service_pb2.ExportLogsServiceResponse),
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest,
                   trace_service_pb2.ExportTraceServiceResponse),
}  # fmt: skip


class Received:
    """Thread-safe record of decoded export requests, by signal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, list] = {"metrics": [], "logs": [], "traces": []}
        self.headers: list[dict] = []

    def add(self, signal: str, request, headers: dict) -> None:
        with self._lock:
            self.requests[signal].append(request)
            self.headers.append(headers)

    def wait_for(self, signal: str, predicate=lambda reqs: bool(reqs), timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                reqs = list(self.requests[signal])
            if predicate(reqs):
                return reqs
            time.sleep(0.05)
        raise AssertionError(f"no matching OTLP {signal} within {timeout}s ({len(reqs)} received)")

    # --- helpers to read what arrived ---------------------------------------------------
    def metric_points(self, name: str) -> list:
        """Data points of metric ``name`` from every request, in arrival order."""
        out = []
        for req in self.requests["metrics"]:
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name == name:
                            kind = m.WhichOneof("data")
                            out.extend(getattr(m, kind).data_points)
        return out

    def log_records(self) -> list:
        return [
            lr
            for req in self.requests["logs"]
            for rl in req.resource_logs
            for sl in rl.scope_logs
            for lr in sl.log_records
        ]

    def spans(self) -> list:
        return [
            s
            for req in self.requests["traces"]
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def resources(self, signal: str) -> list:
        attr = {"metrics": "resource_metrics", "logs": "resource_logs", "traces": "resource_spans"}[
            signal
        ]
        return [r.resource for req in self.requests[signal] for r in getattr(req, attr)]


def attrs(kvs) -> dict:
    """OTLP KeyValue list → plain dict of python values."""
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = getattr(v, kind) if kind else None
    return out


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        self.received.add("metrics", request, dict(context.invocation_metadata()))
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request, context):  # noqa: N802
        self.received.add("logs", request, dict(context.invocation_metadata()))
        return logs_service_pb2.ExportLogsServiceResponse()


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request, context):  # noqa: N802
        self.received.add("traces", request, dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()


class GrpcReceiver:
    def __init__(self) -> None:
        self.received = Received()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            _Metrics(self.received), self.server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self.received), self.server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _Traces(self.received), self.server
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GrpcReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop(grace=None)


class _NamedThreadingHTTPServer(ThreadingHTTPServer):
    """Request threads named ``otlp-receiver-request`` from their start, so tests that list
    the threads aga-otel starts can tell the receiver's apart."""

    block_on_close = False

    def process_request(self, request, client_address) -> None:
        threading.Thread(
            target=self.process_request_thread, args=(request, client_address),
            name="otlp-receiver-request", daemon=True,
        ).start()  # fmt: skip


class HttpReceiver:
    def __init__(self) -> None:
        self.received = received = Received()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # silent
                pass

            def do_POST(self) -> None:  # noqa: N802
                spec = _REQUEST_TYPES.get(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if spec is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                enc = self.headers.get("Content-Encoding", "")
                if enc == "gzip":
                    body = gzip.decompress(body)
                elif enc == "deflate":
                    body = zlib.decompress(body)
                signal, req_type, resp_type = spec
                req = req_type()
                req.ParseFromString(body)
                received.add(signal, req, {k.lower(): v for k, v in self.headers.items()})
                payload = resp_type().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = _NamedThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HttpReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # a standalone receiver for benchmarks: prints its endpoint
    import sys

    receiver = GrpcReceiver() if (sys.argv[1:] or ["grpc"])[0] == "grpc" else HttpReceiver()
    with receiver:
        print(receiver.endpoint, flush=True)
        sys.stdin.read()  # runs until stdin closes
