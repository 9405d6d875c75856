"""The Prometheus endpoint: a real HTTP scrape parsed with prometheus_client's parser."""

import time
import urllib.request

import pytest
from conftest import local_config, simulate
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.exporters.prometheus import to_families
from aga_otel.metrics.reader import SharedMetricReader
from aga_otel.metrics.recorder import create_instrument
from aga_otel.status import Status


def scrape(port: int) -> dict:
    """sample name -> list of (labels, value)."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples: dict = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def sample_names(spec: sc.MetricSpec) -> list[str]:
    base = spec.prometheus_name
    if spec.is_histogram:
        return [base + "_bucket", base + "_count", base + "_sum"]
    return [base]


CONDITIONAL = {"export_failures", "alerts_firing", "health_status"}  # need their components


def test_scrape_has_every_metric_of_the_table_with_emitted_values(plugin, make_stack):
    stack = make_stack(plugin.event_bus, local_config(prometheus_labels={"env": "test"}))
    stack.bind_plugin(plugin)
    sim = simulate(plugin, steps=200, layers=4, audit_probability=0.2)
    stack.force_flush()
    samples = scrape(stack.prometheus.port)
    for spec in sc.METRICS:
        if spec.key in CONDITIONAL:
            continue
        for sample in sample_names(spec):
            assert sample in samples, sample
    # the counter family is `aga_forward`; its samples are `aga_forward_total`
    forward = {
        (int(lab["layer"]), lab["applied"] == "true"): v for lab, v in samples["aga_forward_total"]
    }
    assert forward == dict(sim.totals.forward)
    assert sum(v for _, v in samples["aga_forward_duration_seconds_count"]) == len(
        sim.totals.latency_us
    )
    total_s = sum(v for _, v in samples["aga_forward_duration_seconds_sum"])
    assert total_s == pytest.approx(sum(sim.totals.latency_us) / 1e6)
    # prometheus_labels reach every series (and target_info)
    for name, rows in samples.items():
        for labels, _ in rows:
            assert labels.get("env") == "test", name
    ((info_labels, _),) = samples["target_info"]
    assert info_labels["service_name"] == "aga"
    assert not any(n.endswith("_ratio") for n in samples)


def test_names_match_the_official_otel_prometheus_exporter():
    """Our translation of the shared reader's data = PrometheusMetricReader's, for every spec."""
    registry = CollectorRegistry()
    official = PrometheusMetricReader(registry=registry)
    shared = SharedMetricReader()
    provider = MeterProvider(metric_readers=[official, shared])
    meter = provider.get_meter(sc.METER_NAME)

    def cb(options):
        return [Observation(1, {})]

    for spec in sc.METRICS:
        if spec.kind in (sc.Kind.GAUGE, sc.Kind.UPDOWN):
            create_instrument(meter, spec, [cb])
        elif spec.kind is sc.Kind.HISTOGRAM:
            create_instrument(meter, spec).record(0.5)
        else:
            create_instrument(meter, spec).add(1)
    theirs = {
        s.name
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        for s in f.samples
    }
    ours_registry = CollectorRegistry()

    class Once:
        def collect(self):
            return to_families(shared.snapshot())

    ours_registry.register(Once())
    ours = {
        s.name
        for f in text_string_to_metric_families(generate_latest(ours_registry).decode())
        for s in f.samples
    }
    assert ours == theirs
    for spec in sc.METRICS:
        assert set(sample_names(spec)) <= ours
    provider.shutdown()


def collector_prometheus_name(spec: sc.MetricSpec) -> str:
    """The Collector's prometheus exporter naming (pkg/translator/prometheus, default
    add_metric_suffixes): unit suffix from the UCUM unit, `_ratio` for unit "1" gauges,
    `_total` for monotonic sums."""
    name = spec.name.replace(".", "_")
    unit = {"s": "seconds", "1": "ratio", "By": "bytes"}.get(spec.unit, spec.unit)
    if spec.unit == "1" and spec.kind is not sc.Kind.GAUGE:
        unit = ""
    if unit and not name.endswith("_" + unit):
        name += "_" + unit
    if spec.kind is sc.Kind.COUNTER:
        name += "_total"
    return name


def test_names_are_the_same_scraped_directly_or_through_a_collector():
    for spec in sc.METRICS:
        assert spec.unit in ("", "s"), f"{spec.name}: dimensionless instruments carry no unit"
        assert collector_prometheus_name(spec) == spec.prometheus_name


def test_port_in_use_gives_a_clear_error_and_the_rest_keeps_working(
    plugin, make_stack, caplog, busy_port
):
    port = busy_port
    reader = InMemoryMetricReader()
    stack = make_stack(
        plugin.event_bus, local_config(prometheus_port=port), metric_readers=[reader]
    )
    assert stack.prometheus.port is None
    state = stack.status.get("metrics.prometheus")
    assert state.status is Status.UNHEALTHY and str(port) in state.detail
    assert any(
        str(port) in r.getMessage() and "could not bind" in r.getMessage() for r in caplog.records
    )
    simulate(plugin, steps=10)
    stack.force_flush()
    points = [
        p
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == sc.metric("events_received").name
        for p in m.data.data_points
    ]
    assert points and points[0].value > 0


def test_a_scrape_sees_every_event_emitted_before_it_without_a_flush(plugin, make_stack):
    """The bridge wakes once a second by itself; a scrape hands what is queued to the
    sinks first (no drain, no force_flush here), alone and in the full stack."""
    minimal = make_stack(plugin.event_bus, local_config())
    full = make_stack(plugin.event_bus, local_config(alert_enabled=True, health_enabled=True,
                                                     log_enabled=True))  # fmt: skip
    for round_ in range(1, 4):
        time.sleep(0.6)  # past the shared snapshot's 0.5 s reuse
        for i in range(50):
            plugin.event_bus.emit("forward", {"aga_applied": i % 2 == 0, "gate_mean": 0.5,
                                              "entropy_mean": 1.0, "layer_idx": i % 4,
                                              "latency_us": 20.0})  # fmt: skip
        for stack in (minimal, full):
            samples = scrape(stack.prometheus.port)
            assert sum(v for _, v in samples["aga_forward_total"]) == 50 * round_
