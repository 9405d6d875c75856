"""Hot-path benchmark: what aga-otel costs the thread that emits, and the pipeline behind it.

Everything is measured in one run on the contract EventBus with the simulator's events:
  1. CPU µs per ``emit`` on the emitting thread, nothing subscribed (the baseline);
  2. the same with the full stack subscribed (Prometheus + OTLP/gRPC to a receiver in another
     process, logs at INFO, audit, alerts, health); the difference is the added cost;
  3. worker-thread CPU per forward event, and the whole process's CPU per forward event
     outside the emitting thread (worker + exporters + consumers);
  4. the highest sustained forward-event rate with zero drops (20,000/s held for 30 s, then
     higher rates for shorter runs);
  5. RSS growth over 1,000,000 events;
  6. with tracing on (``tracing_enabled``, 1 % of forward events as spans), emitting inside
     an active request span: the bridge's context hand-off alone, then the full stack's
     added cost and worker CPU (target: added cost <= 1.5 µs per event);
  7. paced, as a generating model emits: 12 layers' events every 9 ms, 80 layers' every
     30 ms, 1 event every 9 ms, and no events at all: the CPU of every thread but the
     emitting one, per forward event (target <= 5 µs at generation pacing) and, idle, as a
     share of one core (target <= 0.2 %).
CPU times come from per-thread clocks (``pthread_getcpuclockid``), so a busy neighbour on a
shared machine slows the run but barely moves the figures. Targets: added cost ≤ 1 µs per
event; worker ≤ 30 µs per forward event; zero drops at 20,000/s; RSS growth ≤ 10 MiB.

Usage: python benchmarks/hot_path.py [--quick] [--idle]  (--idle: only the idle scenarios)
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from aga_otel import ObservabilityConfig  # noqa: E402
from aga_otel.bridge import EventBridge  # noqa: E402
from aga_otel.contract import EventBus, SimulatedPlugin, WorkloadProfile, WorkloadSimulator  # noqa: E402
from aga_otel.stack import ObservabilityStack  # noqa: E402


def forward_payloads(n_steps: int = 2500, layers: int = 32) -> list[dict]:
    """Forward-event data from the simulator (replayed in a loop by the benchmark)."""
    plugin = SimulatedPlugin()
    captured: list[dict] = []
    plugin.event_bus.subscribe("forward", lambda e: captured.append(e.data))
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=layers), seed=1, record=False)
    sim.run_steps(n_steps)
    return captured


def thread_cpu(thread: threading.Thread) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def emit_cost(bus: EventBus, payloads: list[dict], n: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per emit on this thread, for n forward events."""
    emit, m = bus.emit, len(payloads)
    gc.collect()
    c0, w0 = time.thread_time(), time.perf_counter()
    for i in range(n):
        emit("forward", payloads[i % m])
    return (time.thread_time() - c0) / n * 1e6, (time.perf_counter() - w0) / n * 1e6


def added_cost(base: EventBus, bus: EventBus, payloads: list[dict], n: int, rounds: int = 9):
    """CPU µs per emit added by ``bus``'s subscribers over the bare ``base`` bus: the two
    alternate in ``rounds`` slices, and the median of the per-slice differences is taken, so
    a neighbour's burst on this shared machine lands in both sides of a pair, or in one pair.
    Returns ``(added, bare, subscribed)``."""
    bare, full, diffs = [], [], []
    for _ in range(rounds):
        b = emit_cost(base, payloads, n // rounds)[0]
        f = emit_cost(bus, payloads, n // rounds)[0]
        bare.append(b)
        full.append(f)
        diffs.append(f - b)
    return statistics.median(diffs), statistics.median(bare), statistics.median(full)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_receiver() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "otlp_receiver.py"), "grpc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def full_stack(
    bus: EventBus, endpoint: str | None, plugin: SimulatedPlugin, **overrides
) -> ObservabilityStack:
    settings = dict(
        prometheus_port=0,
        prometheus_host="127.0.0.1",
        health_port=0,
        health_host="127.0.0.1",
        otlp_endpoint=endpoint,
        export_interval=5.0,
        queue_size=65536,
    )
    cfg = ObservabilityConfig(**{**settings, **overrides})
    stack = ObservabilityStack(bus, cfg, env={}).start()
    stack.bind_plugin(plugin)
    return stack


def paced(bus: EventBus, payloads: list[dict], rate: float, seconds: float) -> float:
    """Emit at ``rate`` events/s for ``seconds`` in 1 ms slices; returns the achieved rate."""
    emit, m, i = bus.emit, len(payloads), 0
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return i / elapsed
        due = int(elapsed * rate)
        while i < due:
            emit("forward", payloads[i % m])
            i += 1
        time.sleep(0.001)


def paced_cpu(bus: EventBus, payloads: list[dict], per_tick: int, tick: float, seconds: float):
    """Emit ``per_tick`` events every ``tick`` s; (µs CPU off this thread per event, events)."""
    emit, m, i = bus.emit, len(payloads), 0
    gc.collect()
    p0, t0 = time.process_time(), time.thread_time()
    start = time.perf_counter()
    ticks = int(seconds / tick)
    for k in range(ticks):
        for _ in range(per_tick):
            emit("forward", payloads[i % m])
            i += 1
        delay = start + (k + 1) * tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    off = (time.process_time() - p0) - (time.thread_time() - t0)
    return (off / i * 1e6 if i else off), i


def paced_section(endpoint: str, quick: bool) -> None:
    """The regime users live in: a generating model's pacing, the full stack on."""
    secs = 4 if quick else 15
    for layers, per_tick, tick, label in (
        (12, 12, 0.009, "12 events every 9 ms (12 layers)"),
        (80, 80, 0.030, "80 events every 30 ms (80 layers)"),
        (12, 1, 0.009, "1 event every 9 ms"),
    ):
        payloads = forward_payloads(n_steps=200, layers=layers)
        plugin = SimulatedPlugin()
        # OTLP at its default 60 s interval: the schedule users run.
        stack = full_stack(plugin.event_bus, endpoint, plugin, export_interval=60.0)
        try:
            paced_cpu(plugin.event_bus, payloads, per_tick, tick, 1.0)  # warm-up
            us, n = paced_cpu(plugin.event_bus, payloads, per_tick, tick, secs)
        finally:
            stack.shutdown(10)
        print(f"  paced, {label:34s}: {us:6.2f} µs CPU off the emitting thread per event "
              f"({n / secs:,.0f} events/s; target <= 5)")  # fmt: skip
    idle_section(endpoint, secs)


def idle_section(endpoint: str, secs: float) -> None:
    """No events at all: the whole process's CPU as a share of one core."""
    for label, otlp, extra in (
        ("defaults, no OTLP", None, {}),
        ("+ OTLP/gRPC, 60 s", endpoint, {}),
        ("+ dashboard, unwatched", None, {"dashboard_enabled": True}),
    ):
        plugin = SimulatedPlugin()
        stack = full_stack(plugin.event_bus, otlp, plugin, export_interval=60.0, **extra)
        try:
            time.sleep(1.0)
            p0, w0 = time.process_time(), time.perf_counter()
            time.sleep(secs)
            share = (time.process_time() - p0) / (time.perf_counter() - w0) * 100
        finally:
            stack.shutdown(10)
        print(f"  idle, no events, {label:22s}: {share:6.3f} % of one core (target <= 0.2)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    ap.add_argument("--idle", action="store_true", help="only the idle scenarios (15 s each)")
    args = ap.parse_args()
    if args.idle:
        receiver, endpoint = start_receiver()
        try:
            idle_section(endpoint, 4 if args.quick else 15)
        finally:
            receiver.stdin.close()
            receiver.wait(10)
        return
    n = 50_000 if args.quick else 200_000
    payloads = forward_payloads()
    print(
        f"aga-otel hot-path benchmark ({len(payloads)} simulated forward payloads, "
        f"python {sys.version.split()[0]}, pid {os.getpid()})"
    )

    base_bus = EventBus()
    emit_cost(base_bus, payloads, 20_000)  # warm-up
    base_cpu, base_wall = emit_cost(base_bus, payloads, n)
    print(f"  emit, nothing subscribed        : {base_cpu:6.2f} µs CPU  {base_wall:6.2f} µs wall")

    receiver, endpoint = start_receiver()
    paced_section(endpoint, args.quick)
    plugin = SimulatedPlugin()
    bus = plugin.event_bus
    stack = full_stack(bus, endpoint, plugin)
    worker = stack.bridge._thread
    try:
        emit_cost(bus, payloads, 20_000)
        stack.force_flush(60)
        w0, p0 = thread_cpu(worker), time.process_time()
        t0 = time.thread_time()
        cpu, wall = emit_cost(bus, payloads, n)
        emitter = time.thread_time() - t0
        stack.force_flush(120)
        worker_us = (thread_cpu(worker) - w0) / n * 1e6
        pipeline_us = ((time.process_time() - p0) - emitter) / n * 1e6
        print(f"  emit, full stack subscribed     : {cpu:6.2f} µs CPU  {wall:6.2f} µs wall")
        added, bare, full = added_cost(base_bus, bus, payloads, n)
        stack.force_flush(120)
        print(
            f"  added on the emitting thread    : {added:6.2f} µs CPU per event "
            f"(median of 9 alternating slices, bare {bare:.2f} / subscribed {full:.2f}; "
            f"target <= 1.00)"
        )
        print(f"  worker CPU per forward event    : {worker_us:6.2f} µs (saturating; target <= 3)")
        print(f"  all pipeline threads per event  : {pipeline_us:6.2f} µs")

        dropped0 = stack.get_stats()["bridge"]["dropped"]["queue_full"]
        secs = 3 if args.quick else 30
        achieved = paced(bus, payloads, 20_000, secs)
        stack.force_flush(120)
        dropped = stack.get_stats()["bridge"]["dropped"]["queue_full"] - dropped0
        print(
            f"  20,000 forward events/s, {secs:2d} s   : achieved {achieved:,.0f}/s, "
            f"{dropped} dropped (target 0)"
        )
        best = achieved if dropped == 0 else 0
        for rate in (30_000, 40_000, 60_000, 80_000):
            d0 = stack.get_stats()["bridge"]["dropped"]["queue_full"]
            achieved = paced(bus, payloads, rate, 2 if args.quick else 5)
            stack.force_flush(120)
            d = stack.get_stats()["bridge"]["dropped"]["queue_full"] - d0
            print(f"  {rate:,} forward events/s asked  : achieved {achieved:,.0f}/s, {d} dropped")
            if d:
                break
            best = max(best, achieved)
        print(
            f"  highest sustained rate, 0 drops : {best:,.0f} forward events/s (of those tried;"
            " the queue absorbs bursts, so short runs flatter the worker)"
        )

        gc.collect()
        before = rss_mib()
        total = 200_000 if args.quick else 1_000_000
        for _ in range(total // 50_000):
            emit_cost(bus, payloads, 50_000)
            stack.force_flush(120)
        gc.collect()
        print(f"  RSS growth over {total:,} events  : {rss_mib() - before:+.1f} MiB (target <= 10)")
    finally:
        stack.shutdown(10)
    try:
        tracing_section(payloads, base_bus, n, endpoint)
    finally:
        receiver.stdin.close()
        receiver.wait(10)


def tracing_section(payloads: list[dict], base_bus: EventBus, n: int, endpoint: str) -> None:
    """Tracing on, every event emitted inside the serving framework's request span."""
    app = TracerProvider().get_tracer("benchmark-app")  # the application's own provider
    handoff = {}
    for capture in (False, True):  # the hand-off alone: no sinks behind the bridge
        bus = EventBus()
        bridge = EventBridge([], capture_context=capture)
        bridge.subscribe(bus)
        bridge.start()
        with app.start_as_current_span("request"):
            emit_cost(bus, payloads, 20_000)
            handoff[capture] = emit_cost(bus, payloads, n)[0]
        bridge.stop(60)
    print(
        f"  tracing: hand-off in a span     : {handoff[True]:6.2f} µs CPU with context capture, "
        f"{handoff[False]:.2f} without (+{handoff[True] - handoff[False]:.2f})"
    )
    plugin = SimulatedPlugin()
    bus = plugin.event_bus
    stack = full_stack(bus, endpoint, plugin, tracing_enabled=True, trace_forward_sample_rate=0.01)
    try:
        worker = stack.bridge._thread
        with app.start_as_current_span("request"):
            emit_cost(bus, payloads, 20_000)
            stack.force_flush(60)
            w0 = thread_cpu(worker)
            cpu, wall = emit_cost(bus, payloads, n)
            stack.force_flush(120)
            worker_us = (thread_cpu(worker) - w0) / n * 1e6
            added, bare, full = added_cost(base_bus, bus, payloads, n)
        stack.force_flush(120)
        print(f"  emit, full stack + tracing      : {cpu:6.2f} µs CPU  {wall:6.2f} µs wall")
        print(
            f"  added on the emitting thread    : {added:6.2f} µs CPU per event, tracing on "
            f"(median of 9 alternating slices, bare {bare:.2f} / subscribed {full:.2f}; "
            "target <= 1.50)"
        )
        print(f"  worker CPU per forward event    : {worker_us:6.2f} µs, tracing on (1 % as spans)")
    finally:
        stack.shutdown(10)


if __name__ == "__main__":
    main()
