"""What an application's own MeterProvider costs (``AgaInstrumentor(meter_provider=...)``).

With ``meter_provider=`` (the Instrumentor's, or the global SDK provider under
``opentelemetry-instrument``), the provider's readers are fed from the stack's own
aggregations at their collections (``aga_otel/metrics/feed.py``); where the application's
views ask for what the feed cannot reproduce (here: other duration buckets), every forward
event is recorded through the provider's SDK instruments instead (one ``add`` + three
``record`` calls on the worker). Measured the way ``benchmarks/hot_path.py`` does
(per-thread CPU clocks), with a minimal stack (no servers, no logs, no alerts):
  1. CPU µs per ``emit`` on the emitting thread, without and with the app provider;
  2. worker-thread CPU µs per forward event: own provider only, fed app provider,
     per-event fallback;
  3. the CPU of one collection of the application's reader (12 layers of data).

Usage: python benchmarks/app_provider.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hot_path import emit_cost, forward_payloads, thread_cpu  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View  # noqa: E402

from aga_otel import ObservabilityConfig  # noqa: E402
from aga_otel import semconv as sc  # noqa: E402
from aga_otel.contract import EventBus  # noqa: E402
from aga_otel.stack import ObservabilityStack  # noqa: E402

MINIMAL = dict(prometheus_enabled=False, health_enabled=False, log_enabled=False,
               alert_enabled=False, queue_size=1 << 20)  # fmt: skip


def measure(
    payloads: list[dict], n: int, app_provider: MeterProvider | None
) -> tuple[float, float]:
    """(emitting-thread CPU µs, worker CPU µs) per forward event."""
    bus = EventBus()
    stack = ObservabilityStack(
        bus, ObservabilityConfig(**MINIMAL), env={}, meter_provider=app_provider
    ).start()
    try:
        worker = stack.bridge._thread
        emit_cost(bus, payloads, 20_000)  # warm-up: instruments, attribute sets
        stack.force_flush(60)
        w0 = thread_cpu(worker)
        cpu, _ = emit_cost(bus, payloads, n)
        stack.force_flush(120)
        return cpu, (thread_cpu(worker) - w0) / n * 1e6
    finally:
        stack.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    n = 30_000 if ap.parse_args().quick else 200_000
    payloads = forward_payloads()
    base_cpu, _ = emit_cost(EventBus(), payloads, n)
    own_cpu, own_worker = measure(payloads, n, None)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    app_cpu, app_worker = measure(payloads, n, provider)
    t0 = time.thread_time()
    for _ in range(20):
        reader.get_metrics_data()
    collect_ms = (time.thread_time() - t0) / 20 * 1e3
    provider.shutdown()
    other_buckets = View(
        instrument_name=sc.BY_KEY["forward_duration"].name,
        aggregation=ExplicitBucketHistogramAggregation([0.001, 0.01, 0.1]),
    )
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], views=[other_buckets])
    _, fallback_worker = measure(payloads, n, provider)
    provider.shutdown()
    print(f"aga-otel app-provider benchmark ({n} forward events, {time.strftime('%F %T')})")
    print(f"  emit, nothing subscribed          : {base_cpu:6.2f} µs CPU")
    print(f"  added on the emitting thread      : {own_cpu - base_cpu:6.2f} µs (own provider)")
    print(f"  added on the emitting thread      : {app_cpu - base_cpu:6.2f} µs (+ app provider)")
    print(f"  worker CPU per forward event      : {own_worker:6.2f} µs (own provider only)")
    print(f"  worker CPU per forward event      : {app_worker:6.2f} µs (+ app provider, fed)")
    print(f"  worker CPU per forward event      : {fallback_worker:6.2f} µs (+ app provider, "
          "per-event fallback)")  # fmt: skip
    print(f"  one collection of the app reader  : {collect_ms:6.2f} ms CPU")


if __name__ == "__main__":
    main()
