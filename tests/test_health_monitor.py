"""HealthMonitor: report, caching, probes, the health gauge and the consumer role."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from aga_otel import semconv
from aga_otel.config import ObservabilityConfig
from aga_otel.contract import SimulatedPlugin
from aga_otel.health import CheckResult, HealthMonitor, build_health
from aga_otel.pipeline import MetricsConsumer
from aga_otel.status import Status, StatusBoard

OK_STATS = {"worker_alive": True, "subscribed": True, "queue_depth": 0,
            "queue_capacity": 1000, "received": 0, "dropped": {}}  # fmt: skip


class Harness:
    """A monitor with an injected clock and switchable plugin, bridge and readiness."""

    def __init__(self, meter=None, plugin=None, **kwargs) -> None:
        self.now = 0.0
        self.plugin = plugin
        self.stats = dict(OK_STATS)
        self.is_ready = True
        self.broken = False  # the stack's callables raise (they are not supposed to)
        self.status = StatusBoard(clock=lambda: 1000.0)
        self.monitor = HealthMonitor(
            ObservabilityConfig(health_host="127.0.0.1", health_port=0), self.status, meter,
            plugin=lambda: self.plugin, bridge_stats=self.bridge_stats,
            ready=self.ready, clock=lambda: self.now, wall_clock=lambda: 1234.5,
            **kwargs,
        )  # fmt: skip

    def bridge_stats(self) -> dict:
        if self.broken:
            raise RuntimeError("bridge gone")
        return self.stats

    def ready(self) -> bool:
        if self.broken:
            raise RuntimeError("stack gone")
        return self.is_ready

    def close(self) -> None:
        self.monitor.shutdown(2.0)


@pytest.fixture
def h():
    harness = Harness()
    yield harness
    harness.close()


def test_factory_builds_a_metrics_consumer():
    monitor = build_health(ObservabilityConfig(), StatusBoard(), None, plugin=lambda: None,
                           bridge_stats=lambda: OK_STATS, ready=lambda: True)  # fmt: skip
    assert isinstance(monitor, MetricsConsumer)
    assert monitor.name == "health" and monitor.interval > 0 and monitor.port is None
    monitor.shutdown(1.0)


def test_report_shape_with_no_plugin(h):
    report = h.monitor.report()
    assert report["status"] == "healthy" and report["timestamp"] == 1234.5
    assert report["checks"]["plugin.gate"] == {"status": "healthy", "detail": "plugin not bound",
                                               "skipped": True}  # fmt: skip
    assert set(report["checks"]) >= {"pipeline.worker", "pipeline.queue", "pipeline.drops"}
    verbose = h.monitor.report(verbose=True)
    assert verbose["checks"]["pipeline.worker"]["data"] == {"worker_alive": True,
                                                            "subscribed": True}  # fmt: skip
    assert "duration_ms" in verbose["checks"]["pipeline.worker"]


def test_overall_is_the_worst_and_status_board_components_count(h):
    h.plugin = SimulatedPlugin()  # not attached: degraded
    assert h.monitor.report()["status"] == "degraded"
    h.now += 10
    h.status.failure("metrics.otlp", "export to http://c:4317/x failed", Status.UNHEALTHY)
    report = h.monitor.report()
    assert report["status"] == "unhealthy"
    assert report["checks"]["metrics.otlp"] == {
        "status": "unhealthy",
        "detail": "export to http://c:4317/<redacted> failed",
    }


def test_results_are_cached_for_the_ttl(h):
    calls = []
    h.monitor.add_check("counted", lambda: calls.append(1))
    h.monitor.report()
    h.now += 1.9
    h.monitor.report(verbose=True)
    assert len(calls) == 1
    h.now += 0.2  # past the 2 s TTL
    h.monitor.report()
    assert len(calls) == 2


def test_concurrent_reports_share_one_refresh(h):
    calls = []
    gate = threading.Event()

    def slow():
        calls.append(1)
        gate.wait(2)

    h.monitor.add_check("slow", slow)
    threads = [threading.Thread(target=h.monitor.report) for _ in range(16)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1


def test_user_checks(h):
    h.monitor.add_check("raises", lambda: 1 / 0)
    h.monitor.add_check("degraded", lambda: CheckResult.degraded("slow disk", free_gb=3))
    checks = h.monitor.report(verbose=True)["checks"]
    assert checks["raises"]["status"] == "unhealthy"
    assert checks["raises"]["detail"] == "check raised ZeroDivisionError: division by zero"
    assert checks["degraded"]["data"] == {"free_gb": 3}
    h.status.success("audit")
    for bad in ("audit", "overall", "degraded"):
        with pytest.raises(ValueError):
            h.monitor.add_check(bad, lambda: True)


@pytest.mark.parametrize(
    ("change", "live", "ready"),
    [
        ({}, True, True),
        ({"worker_alive": False}, False, False),
        ({"subscribed": False}, True, False),
    ],
)
def test_probes_follow_bridge_stats(h, change, live, ready):
    h.stats.update(change)
    assert h.monitor.liveness()[0] is live
    assert h.monitor.readiness()[0] is ready


def test_readiness_needs_the_stack_and_a_writable_audit_store(h):
    h.status.failure("audit", "disk full", Status.DEGRADED)
    ok, body = h.monitor.readiness()  # audit not required: still ready, but not writable
    assert ok is True and body["checks"]["audit_writable"] is False
    h.status.failure("audit", "read-only file system", Status.UNHEALTHY)
    ok, body = h.monitor.readiness()
    assert not ok and body["checks"]["audit_writable"] is False
    h.status.success("audit")
    h.is_ready = False
    assert h.monitor.readiness() == (False, {"status": "not_ready", "checks": {
        "stack_ready": False, "worker_alive": True, "subscribed": True,
        "audit_writable": True}})  # fmt: skip


def test_probes_survive_raising_callables(h):
    h.broken = True
    assert h.monitor.liveness()[0] is False
    assert h.monitor.readiness()[0] is False
    assert h.monitor.report()["checks"]["pipeline.worker"]["status"] == "unhealthy"


def test_health_gauge_exported_per_component():
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter(semconv.METER_NAME)
    harness = Harness(meter=meter, plugin=SimulatedPlugin())
    try:
        assert _gauge(reader) == {}  # nothing before the first evaluation
        harness.monitor.report()
        values = _gauge(reader)
        assert values["overall"] == int(Status.DEGRADED)
        assert values["plugin.attachment"] == int(Status.DEGRADED)
        assert values["plugin.gate"] == int(Status.HEALTHY)
        harness.plugin.gate_system.weights.values[0] = float("nan")
        harness.monitor.consume(reader.get_metrics_data())  # the consumer path refreshes
        values = _gauge(reader)
        assert values["overall"] == values["plugin.gate"] == int(Status.UNHEALTHY)
    finally:
        harness.close()


def _gauge(reader: InMemoryMetricReader) -> dict[str, float]:
    name = semconv.metric("health_status").name
    data = reader.get_metrics_data()
    out = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        out[p.attributes[semconv.ATTR_COMPONENT]] = p.value
    return out


def test_consume_tracks_drop_rate_and_stops_after_shutdown():
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter(semconv.METER_NAME)
    received = meter.create_counter(semconv.metric("events_received").name)
    dropped = meter.create_counter(semconv.metric("events_dropped").name)
    harness = Harness()
    monitor = harness.monitor
    monitor.consume(reader.get_metrics_data())  # None: no instrument has data yet
    received.add(0)
    monitor.consume(reader.get_metrics_data())
    harness.now += 5
    received.add(100)
    dropped.add(60, {semconv.ATTR_REASON: semconv.DROP_QUEUE_FULL})
    monitor.consume(reader.get_metrics_data())
    report = monitor.report(verbose=True)
    assert report["status"] == "unhealthy"
    assert report["checks"]["pipeline.drops"]["data"]["drop_rate"] == pytest.approx(0.6)
    monitor.shutdown(1.0)
    monitor.shutdown(1.0)  # idempotent: the reader and the stack both call it
    harness.now += 100
    monitor.consume(reader.get_metrics_data())  # no-op, no error
