"""What an application's own MeterProvider costs (issue 13, ``AgaInstrumentor``).

With ``meter_provider=`` (the Instrumentor's, or the global SDK provider under
``opentelemetry-instrument``), forward events are also recorded per event through that
provider's SDK instruments on the worker (one ``add`` + three ``record`` calls), next to
aga-otel's bulk aggregation for its private provider. Measured the way
``benchmarks/hot_path.py`` does (per-thread CPU clocks), with a minimal stack (no servers,
no logs, no alerts) so the difference is the mirror:
  1. CPU µs per ``emit`` on the emitting thread, without and with the app provider;
  2. worker-thread CPU µs per forward event, without and with it.

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

from aga_otel import ObservabilityConfig  # noqa: E402
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
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    app_cpu, app_worker = measure(payloads, n, provider)
    provider.shutdown()
    print(f"aga-otel app-provider benchmark ({n} forward events, {time.strftime('%F %T')})")
    print(f"  emit, nothing subscribed          : {base_cpu:6.2f} µs CPU")
    print(f"  added on the emitting thread      : {own_cpu - base_cpu:6.2f} µs (own provider)")
    print(f"  added on the emitting thread      : {app_cpu - base_cpu:6.2f} µs (+ app provider)")
    print(f"  worker CPU per forward event      : {own_worker:6.2f} µs (own provider only)")
    print(f"  worker CPU per forward event      : {app_worker:6.2f} µs (+ app provider, per event)")


if __name__ == "__main__":
    main()
