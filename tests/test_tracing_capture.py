"""Context capture in the bridge: what sinks see, what is never touched, what never raises."""

from __future__ import annotations

import threading

import pytest
from conftest import local_config, simulate
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from aga_otel import semconv as sc
from aga_otel.bridge import EventBridge
from aga_otel.contract import Event, EventBus
from aga_otel.metrics.reader import SharedMetricReader
from aga_otel.metrics.recorder import MetricsRecorder
from aga_otel.status import StatusBoard
from aga_otel.tracing import SPAN_CONTEXT_ATTR, TracedEvent, build_tracing

FORWARD = {"aga_applied": False, "gate_mean": 0.1, "entropy_mean": 0.5, "layer_idx": 0,
           "latency_us": 80.0}  # fmt: skip


class Collect:
    """A sink keeping what it was handed."""

    name = "collect"

    def __init__(self) -> None:
        self.events: list = []
        self.threads: set[str] = set()

    def handle_batch(self, events) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.extend(events)

    def shutdown(self, timeout: float) -> None:
        pass


class SlottedEvent:
    """An Event with ``__slots__``, as aga-core may define it: it cannot take attributes."""

    __slots__ = ("type", "timestamp", "data", "source")

    def __init__(self, type_: str, data: dict) -> None:
        self.type, self.timestamp, self.data, self.source = type_, 1_700_000_000.0, data, "aga"


def run(capture: bool, feed) -> tuple[Collect, EventBridge]:
    sink = Collect()
    bridge = EventBridge([sink], status=StatusBoard(), capture_context=capture)
    bus = EventBus()
    bridge.subscribe(bus)
    bridge.start()
    try:
        feed(bus, bridge)
        assert bridge.drain(5)
    finally:
        bridge.stop(5)
    return sink, bridge


def test_events_in_an_active_span_arrive_traced_others_untouched():
    tracer = TracerProvider().get_tracer("app")
    seen: list = []

    def feed(bus, bridge):
        bus.subscribe("*", seen.append)  # another subscriber sees the very same objects
        bus.emit("forward", FORWARD)
        with tracer.start_as_current_span("request") as span:
            feed.expected = span.get_span_context()
            bus.emit("forward", FORWARD)
            bus.emit("audit", {"operation": "clear", "success": True})

    sink, _ = run(True, feed)
    # Lanes: audit events have their own, so order is kept within a lane only.
    (audit,) = [e for e in sink.events if e.type == "audit"]
    plain, traced = [e for e in sink.events if e.type == "forward"]
    assert plain is seen[0] and not isinstance(plain, TracedEvent)
    assert isinstance(traced, TracedEvent) and traced.event is seen[1]
    assert traced.otel_span_context == feed.expected and audit.otel_span_context == feed.expected
    assert (traced.type, traced.data, traced.timestamp, traced.source) == (
        "forward", FORWARD, seen[1].timestamp, "aga-core",
    )  # fmt: skip
    assert all(not hasattr(e, SPAN_CONTEXT_ATTR) for e in seen)  # aga-core's Event untouched
    assert sink.threads == {"aga-otel-bridge"}


def test_slotted_events_are_wrapped_never_mutated():
    tracer = TracerProvider().get_tracer("app")
    ev = SlottedEvent("forward", FORWARD)
    sink = Collect()
    bridge = EventBridge([sink], capture_context=True)
    bridge.start()
    with tracer.start_as_current_span("request"):
        bridge.handle_traced(ev)
    assert bridge.drain(5)
    bridge.stop(5)
    (got,) = sink.events
    assert got.event is ev and got.otel_span_context.is_valid


def test_without_capture_sinks_get_the_original_objects_and_no_context():
    tracer = TracerProvider().get_tracer("app")
    seen: list = []

    def feed(bus, bridge):
        assert not bridge.capture_context
        bus.subscribe("*", seen.append)
        with tracer.start_as_current_span("request"):
            bus.emit("forward", FORWARD)

    sink, _ = run(False, feed)
    assert sink.events == seen and sink.events[0] is seen[0]
    assert not hasattr(sink.events[0], SPAN_CONTEXT_ATTR)


class Hostile:
    """An "event" whose every attribute access raises something odd."""

    def __getattr__(self, name):
        raise RuntimeError(name)


@pytest.mark.parametrize("capture", [True, False])
def test_handler_never_raises_and_worker_survives_any_input(capture):
    tracer = TracerProvider().get_tracer("app")
    junk = [None, 5, "forward", ("a", "b"), (1, 2, 3), Hostile(), Event("forward", float("nan"))]

    def feed(bus, bridge):
        handler = bridge.handle_traced if capture else bridge.handle
        for item in junk:
            handler(item)
        with tracer.start_as_current_span("request"):
            for item in junk:
                handler(item)
        bridge.handle(("direct", "pair"))  # the plain handler, misused in capture mode

    sink, bridge = run(capture, feed)
    assert len(sink.events) == 2 * len(junk) + 1
    assert bridge.stats()["dropped"]["queue_full"] == 0


def test_queue_full_is_counted_with_capture_on():
    bridge = EventBridge([Collect()], queue_size=3, capture_context=True)  # worker not started
    for _ in range(5):
        bridge.handle_traced(Event("forward", 1.0, FORWARD))
    assert bridge.queue_depth == 3 and bridge.dropped_queue_full == 2


def test_recorder_ignores_invalid_span_contexts():
    reader = SharedMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    recorder = MetricsRecorder(provider.get_meter("t"), exemplars=True)
    for producer in recorder.producers:
        reader.add_producer(producer, Resource.create({}), InstrumentationScope("t"))
    bad = [Event("forward", 1.0, FORWARD) for _ in range(3)]
    for ev, value in zip(bad, ["junk", trace.INVALID_SPAN_CONTEXT, 42], strict=True):
        setattr(ev, SPAN_CONTEXT_ATTR, value)
    recorder.handle_batch(bad)
    (point,) = [
        p
        for m in reader.snapshot().resource_metrics[0].scope_metrics[0].metrics
        if m.name == sc.BY_KEY["forward_duration"].name
        for p in m.data.data_points
    ]
    assert point.count == 3 and point.exemplars == []


def test_tracing_off_builds_nothing_and_creates_no_span_objects(make_stack, plugin, monkeypatch):
    assert build_tracing(local_config(), StatusBoard(), Resource.create({})) is None
    # The serving framework's request span exists before counting starts.
    request = TracerProvider().get_tracer("app").start_span("request")
    created: list = []
    for cls in (Span, trace.NonRecordingSpan, TracedEvent):
        original = cls.__init__

        def counting(self, *a, _original=original, **kw):
            created.append(type(self).__name__)
            _original(self, *a, **kw)

        monkeypatch.setattr(cls, "__init__", counting)
    stack = make_stack(plugin.event_bus, local_config(log_enabled=True, log_level="DEBUG"))
    assert not stack.bridge.capture_context
    rare: list = []
    plugin.event_bus.subscribe("retrieval", rare.append)
    plugin.event_bus.subscribe("audit", rare.append)
    with trace.use_span(request, end_on_exit=True):
        simulate(plugin, steps=50)
    assert stack.force_flush(10)
    assert stack.get_stats()["bridge"]["received"] > 0
    # Retrieval and audit events keep the request's trace (for audit rows and log records);
    # forward events, the bulk, are handed over as they are and no span is ever created.
    assert rare and created.count("TracedEvent") == len(rare) and "Span" not in created
