"""aga-observability 1.0's ``PrometheusExporter``, a face over aga-otel's metrics pipeline.

Events become OpenTelemetry measurements on aga-otel's worker and are exposed by aga-otel's
Prometheus endpoint under aga-otel's names (``aga_forward_duration_seconds`` for 1.0's
``aga_forward_latency_us``; see docs/migration.md), with ``prefix`` replacing ``aga``.
Gauges read from the plugin come from ``update_gauges(plugin)``; ``set_build_info`` adds
1.0's ``{prefix}_build`` info metric. With ``registry`` (a prometheus_client
``CollectorRegistry``) the same metrics are also served by that registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aga_observability._face import Face, logger

__all__ = ["PrometheusExporter"]


class PrometheusExporter(Face):
    def __init__(
        self,
        prefix: str = "aga",
        port: int = 9090,
        labels: Mapping[str, str] | None = None,
        registry: Any = None,
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.requested_port = port
        self.labels = dict(labels or {})
        self.registry = registry
        self._endpoint: Any = None  # aga-otel's PrometheusEndpoint serving this face
        self._own_endpoint = False
        self._build_info: dict[str, str] = {}
        self._plugin: Any = None

    @property
    def port(self) -> int:
        """The bound port once serving (useful with port 0), else the configured one."""
        if self._endpoint is not None and self._endpoint.port is not None:
            return self._endpoint.port
        return self.requested_port

    def update_gauges(self, plugin: Any) -> None:
        """Knowledge count, utilization, pinned count and slot change rate from ``plugin``
        (read at each scrape from then on)."""
        self._plugin = plugin
        if self._stack is not None:
            self._stack.bind_plugin(plugin)

    def set_build_info(self, info: Mapping[str, Any]) -> None:
        self._build_info = {str(k): str(v) for k, v in info.items()}

    def start_server(self) -> None:
        """Serve ``/metrics`` on ``port`` (a 1.0 stack's endpoint is already serving)."""
        stack = self._ensure_stack()
        if self._endpoint is not None:
            return
        from aga_otel.exporters.prometheus import PrometheusEndpoint

        endpoint = PrometheusEndpoint(
            stack.reader.snapshot, stack.status, stack.config.prometheus_host,
            self.requested_port, self.labels, prefix=self.prefix,
        )  # fmt: skip
        endpoint.registry.register(_BuildInfo(self))
        if endpoint.start() is not None:
            self._endpoint, self._own_endpoint = endpoint, True

    def get_stats(self) -> dict[str, Any]:
        return {
            "server_started": self._endpoint is not None and self._endpoint.port is not None,
            "subscribed": self.subscribed,
            "port": self.port,
            "prefix": self.prefix,
            "window_size": None,  # aga-otel keeps histograms, not a window of samples
        }

    def shutdown(self) -> None:
        if self._own_endpoint and self._endpoint is not None:
            self._endpoint.shutdown()
            self._endpoint = None
        super().shutdown()

    # --- binding ---------------------------------------------------------------------------
    def _on_attach(self, stack: Any) -> None:
        if stack.prometheus is not None:
            self._endpoint = stack.prometheus
            stack.prometheus.registry.register(_BuildInfo(self))
        if self.registry is not None:
            from aga_otel.exporters.prometheus import SnapshotCollector

            self.registry.register(
                SnapshotCollector(stack.reader.snapshot, self.labels, self.prefix)
            )
            self.registry.register(_BuildInfo(self))
        if self._plugin is not None:
            stack.bind_plugin(self._plugin)


class _BuildInfo:
    """1.0's ``{prefix}_build`` info metric from ``set_build_info``.

    Once a plugin is bound, aga-otel's own ``aga_build_info`` (read from the plugin) is the
    series of that name; two families of one name would break the scrape, so this one
    steps aside (logged once).
    """

    def __init__(self, face: PrometheusExporter) -> None:
        self._face = face
        self._noted = False

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import InfoMetricFamily

        info = self._face._build_info
        stack = self._face._stack
        if not info:
            return []
        if stack is not None and stack.plugin is not None:
            if not self._noted:
                self._noted = True
                logger.info("aga_observability: build info now comes from the bound plugin")
            return []
        fam = InfoMetricFamily(f"{self._face.prefix}_build", "AGA build information")
        fam.add_metric([], info)
        return [fam]
