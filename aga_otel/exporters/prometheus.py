"""The Prometheus endpoint, served from the shared reader's snapshots.

Names follow the OpenTelemetry → Prometheus compatibility rules, as the OTel Python
Prometheus exporter and the Collector's prometheus exporter apply them: invalid characters
become ``_``, the unit ``s`` becomes a ``_seconds`` suffix, monotonic sums are counters
(``_total``), non-monotonic sums and gauges are gauges, resource attributes go to
``target_info``. We translate ourselves instead of registering the OTel
``PrometheusMetricReader`` because that would be a second reader and double the
per-measurement aggregation cost; a test checks that the exposed names match the OTel
exporter's for every instrument of the table.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from aga_otel.httpserver import SERVER_NAME, server_ssl_context, start_wsgi_server, stop_server
from aga_otel.status import Status, StatusBoard

logger = logging.getLogger(__name__)

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "By": "bytes"}
COMPONENT = "metrics.prometheus"
DEFAULT_PREFIX = "aga"


def sanitize_name(name: str) -> str:
    name = _INVALID.sub("_", name)
    return "_" + name if name[:1].isdigit() else name


def label_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def prefixed(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``name`` with the AGA prefix replaced by ``prefix`` (aga-observability 1.0's option).

    Only AGA's own metrics (``aga_*``) are renamed; the pipeline's ``aga_otel_*`` metrics and
    ``target_info`` keep their names, so pipeline alerts work whatever the prefix.
    """
    if prefix == DEFAULT_PREFIX or not name.startswith("aga_") or name.startswith("aga_otel_"):
        return name
    return prefix + name[3:]


def to_families(
    data: MetricsData,
    const_labels: Mapping[str, str] | None = None,
    target_info: bool = True,
    prefix: str = DEFAULT_PREFIX,
) -> list[Metric]:
    """Translate a cumulative OTel snapshot into prometheus_client metric families."""
    const = dict(const_labels or {})
    families: dict[str, Metric] = {}
    resource_attrs: dict[str, str] = {}
    for rm in data.resource_metrics:
        resource_attrs.update(
            {sanitize_name(k): label_value(v) for k, v in rm.resource.attributes.items()}
        )
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                _add_metric(families, metric, const, prefix)
    out = list(families.values())
    if target_info and resource_attrs:
        info = InfoMetricFamily("target", "Target metadata")
        info.add_metric([], {**resource_attrs, **const})
        out.insert(0, info)
    return out


def _add_metric(families: dict[str, Metric], metric, const: dict[str, str], prefix: str) -> None:
    name = prefixed(sanitize_name(metric.name), prefix)
    unit = _UNITS.get(metric.unit or "", "")
    doc = metric.description or ""
    d = metric.data
    points = list(d.data_points)
    keys = sorted({sanitize_name(k) for p in points for k in p.attributes} | set(const))

    def labels(p) -> list[str]:
        a = {sanitize_name(k): label_value(v) for k, v in p.attributes.items()}
        return [a.get(k, const.get(k, "")) for k in keys]

    if isinstance(d, Sum) and d.is_monotonic:
        fam = families.setdefault(name, CounterMetricFamily(name, doc, labels=keys, unit=unit))
        for p in points:
            fam.add_metric(labels(p), p.value)
    elif isinstance(d, (Sum, Gauge)):
        fam = families.setdefault(name, GaugeMetricFamily(name, doc, labels=keys, unit=unit))
        for p in points:
            fam.add_metric(labels(p), p.value)
    elif isinstance(d, Histogram):
        fam = families.setdefault(name, HistogramMetricFamily(name, doc, labels=keys, unit=unit))
        for p in points:
            running, buckets = 0, []
            bounds = [*(floatToGoString(b) for b in p.explicit_bounds), "+Inf"]
            exemplars = bucket_exemplars(p)
            for i, (bound, count) in enumerate(zip(bounds, p.bucket_counts)):
                running += count
                ex = exemplars.get(i)
                buckets.append((bound, running) if ex is None else (bound, running, ex))
            fam.add_metric(labels(p), buckets, p.sum)
    else:  # exponential histograms are not configured by aga-otel
        logger.debug("skipping unsupported metric type for %s", metric.name)


def bucket_exemplars(point) -> dict[int, Exemplar]:
    """OTel exemplars of a histogram point → OpenMetrics exemplars by bucket index.

    Labels ``trace_id``/``span_id`` in lower-case hex, as the OTel → Prometheus
    compatibility spec asks; only the OpenMetrics exposition renders them (a scrape that
    asks for ``application/openmetrics-text``, as Prometheus with exemplar storage does).
    """
    out: dict[int, Exemplar] = {}
    for e in point.exemplars or ():
        if not e.trace_id or not e.span_id:
            continue
        labels = {"trace_id": f"{e.trace_id:032x}", "span_id": f"{e.span_id:016x}"}
        out[bisect_left(point.explicit_bounds, e.value)] = Exemplar(
            labels, e.value, e.time_unix_nano / 1e9
        )
    return out


class SnapshotCollector:
    """A prometheus_client collector taking a fresh snapshot on every scrape."""

    def __init__(
        self,
        snapshot: Callable[[], MetricsData | None],
        const_labels: Mapping[str, str] | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._snapshot = snapshot
        self._const = dict(const_labels or {})
        self._prefix = prefix

    def collect(self) -> Iterable[Metric]:
        data = self._snapshot()
        if data is None:
            return []
        return to_families(data, self._const, prefix=self._prefix)


METRICS_PATHS = ("/metrics", "/")


def make_metrics_app(registry: CollectorRegistry) -> Callable:
    """A WSGI app exposing ``registry`` on ``/metrics`` (and ``/``); other paths are 404.

    The format follows the scrape's ``Accept`` header (OpenMetrics, with exemplars, when
    asked; the text format otherwise), the body is gzipped when the client accepts it, and
    HEAD gets the headers of a GET without the body.
    """

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if (environ.get("PATH_INFO") or "/") not in METRICS_PATHS:
            return _plain(start_response, HTTPStatus.NOT_FOUND, b"not found\n")
        if method not in ("GET", "HEAD"):
            return _plain(
                start_response, HTTPStatus.METHOD_NOT_ALLOWED, b"", [("Allow", "GET, HEAD")]
            )
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        body = encoder(registry)
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        return _plain(start_response, HTTPStatus.OK, body, headers, head=method == "HEAD")

    return app


def _plain(start_response, code: HTTPStatus, body: bytes, headers=None, head=False) -> list[bytes]:
    headers = headers or [("Content-Type", "text/plain; charset=utf-8")]
    headers += [("Content-Length", str(len(body))), ("Server", SERVER_NAME)]
    start_response(f"{code.value} {code.phrase}", headers)
    return [b""] if head else [body]


class PrometheusEndpoint:
    """Serves ``/metrics`` on host:port (port 0: any free port, see ``port``)."""

    def __init__(
        self,
        snapshot: Callable[[], MetricsData | None],
        status: StatusBoard,
        host: str = "127.0.0.1",
        port: int = 9464,
        const_labels: Mapping[str, str] | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        fallback: str = "",
        request_timeout: float = 10.0,
        workers=None,
    ) -> None:
        self.workers = workers  # multi-worker mode: the WorkerFiles of this process
        self.request_timeout = request_timeout
        self.fallback = fallback  # what still carries metrics if the port cannot be bound
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(snapshot, const_labels, prefix))
        self.host, self.requested_port = host, port
        self.status = status
        self._tls = (certfile, keyfile)
        self._server = None
        self.port: int | None = None

    def start(self) -> int | None:
        """Start serving; on failure (e.g. port in use) log, degrade, return None."""
        certfile, keyfile = self._tls
        try:
            ctx = server_ssl_context(certfile, keyfile) if certfile else None
            server, _thread = start_wsgi_server(
                make_metrics_app(self.registry),
                self.host,
                self.requested_port,
                label="prometheus",
                ssl_context=ctx,
                request_timeout=self.request_timeout,
            )
        except OSError as exc:
            sibling = self.workers.served_by_sibling(self.requested_port) if self.workers else None
            if sibling is not None:  # multi-worker mode: another worker serves the merged view
                logger.info(
                    "aga-otel: %s serves the merged /metrics; this worker writes its file", sibling
                )
                self.status.success(COMPONENT, f"merged view served by {sibling}")
                return None
            msg = (
                f"Prometheus endpoint could not bind {self.host}:{self.requested_port}: "
                f"{exc.strerror or exc}"
            )
            if self.fallback:
                msg += f"; {self.fallback}"
            logger.error("aga-otel: %s", msg)
            self.status.failure(COMPONENT, msg, Status.UNHEALTHY)
            return None
        self._server = server
        self.port = server.server_port
        if self.workers is not None:
            self.workers.announce(self.port)
        scheme = "https" if certfile else "http"
        self.status.success(COMPONENT, f"serving {scheme}://{self.host}:{self.port}/metrics")
        return self.port

    def close_inherited(self) -> None:
        """In a forked child: close the listening socket without touching the parent's."""
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def shutdown(self, timeout: float = 1.0) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            stop_server(server, timeout)
