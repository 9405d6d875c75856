"""Shared helpers for the alert tests (no tests here): real instruments and a fake clock."""

from __future__ import annotations

from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from aga_otel import semconv
from aga_otel.semconv import Kind


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class Instruments:
    """A real MeterProvider with the semconv instruments the alert engine reads.

    Histograms use the table's bucket boundaries; gauges report only once ``set`` (like the
    plugin gauges before a plugin is bound).
    """

    KEYS = (
        "forward_duration", "gate_value", "entropy_value", "retrieval_results",
        "retrieval_injected", "events_received", "events_dropped", "activation_rate",
        "knowledge_utilization", "knowledge_count", "slot_change_rate",
    )  # fmt: skip

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.meter = self.provider.get_meter(semconv.METER_NAME)
        self._gauges: dict[str, float] = {}
        self._inst = {}
        for key in self.KEYS:
            spec = semconv.metric(key)
            if spec.kind is Kind.HISTOGRAM:
                self._inst[key] = self.meter.create_histogram(
                    spec.name,
                    unit=spec.unit,
                    explicit_bucket_boundaries_advisory=list(spec.buckets),
                )
            elif spec.kind is Kind.COUNTER:
                self._inst[key] = self.meter.create_counter(spec.name, unit=spec.unit)
            else:
                self.meter.create_observable_gauge(
                    spec.name, callbacks=[self._observer(key)], unit=spec.unit
                )

    def _observer(self, key: str):
        def observe(_options):
            if key in self._gauges:
                yield Observation(self._gauges[key])

        return observe

    def record(self, key: str, value: float, layer: int = 0) -> None:
        self._inst[key].record(value, {semconv.ATTR_LAYER: layer})

    def add(self, key: str, amount: float, **attributes) -> None:
        self._inst[key].add(amount, attributes)

    def set(self, key: str, value: float) -> None:
        self._gauges[key] = value

    def collect(self) -> MetricsData:
        return self.reader.get_metrics_data()
