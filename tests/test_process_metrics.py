"""Issue 13: optional process/runtime metrics (OTel process and CPython semantic
conventions), through a real scrape; names equal the official OTel Prometheus exporter's."""

from __future__ import annotations

import threading

from conftest import local_config, simulate
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_integration_support import scrape

from aga_otel import semconv as sc
from aga_otel.contract import SimulatedPlugin
from aga_otel.metrics import gauges
from aga_otel.metrics.gauges import register_process_metrics

NAMES = {spec.key: spec.prometheus_name for spec in sc.PROCESS_METRICS}


def test_process_metrics_are_scraped_with_live_values(make_stack):
    plugin = SimulatedPlugin()
    stack = make_stack(plugin.event_bus, local_config(process_metrics=True))
    simulate(plugin, steps=20)
    stack.force_flush()
    samples = scrape(stack.prometheus.port)
    cpu = {s.labels["cpu_mode"]: s.value for s in samples[NAMES["process_cpu_time"]]}
    assert set(cpu) == {"user", "system"} and cpu["user"] > 0
    (rss,) = samples[NAMES["process_memory_usage"]]
    assert rss.value > 10 * 2**20  # a Python process with the SDK loaded: well over 10 MiB
    (threads,) = samples[NAMES["process_thread_count"]]
    assert threads.value >= threading.active_count() >= 2  # at least main + the bridge worker
    gens = {s.labels["cpython_gc_generation"] for s in samples[NAMES["gc_collections"]]}
    assert gens == {"0", "1", "2"}


def test_off_by_default(make_stack):
    stack = make_stack(SimulatedPlugin().event_bus, local_config())
    assert not set(NAMES.values()) & set(scrape(stack.prometheus.port))


def test_read_at_collection_only_never_per_event(make_stack, monkeypatch):
    calls = []
    real = gauges._proc_rss_bytes
    monkeypatch.setattr(gauges, "_proc_rss_bytes", lambda: calls.append(1) or real())
    plugin = SimulatedPlugin()
    stack = make_stack(plugin.event_bus, local_config(process_metrics=True))
    simulate(plugin, steps=200, layers=8)  # 1,600 forward events
    assert stack.bridge.drain(10)
    assert calls == []  # no collection yet: the events cost the callbacks nothing
    scrape(stack.prometheus.port)
    assert len(calls) == 1


def test_names_match_the_official_otel_prometheus_exporter():
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    register_process_metrics(provider.get_meter("test"))
    families = text_string_to_metric_families(generate_latest(registry).decode())
    theirs = {s.name for f in families for s in f.samples if not s.name.startswith("target")}
    provider.shutdown()
    assert theirs == set(NAMES.values())
