"""Live dashboard figures: CPU per update, and nothing while nobody watches.

Run: ``.venv/bin/python benchmarks/dashboard.py [--layers 32] [--updates 300]``. Prints
figures; asserts nothing (no test asserts a timing). The target is ≤ 1 ms of CPU per
update for the dashboard's own work (reading the snapshot into totals, the view model,
the component panels, one JSON encoding), which is done once per update whatever the
number of pages. The snapshot itself is the stack's shared one (``reader.snapshot()``,
the same call ``/metrics`` makes per scrape) and is shown on its own line.
"""

from __future__ import annotations

import argparse
import statistics
import time

from alerts import cpu_us  # benchmarks/alerts.py: CPU microseconds per call

from aga_otel.config import ObservabilityConfig
from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
from aga_otel.live import Broadcaster, LiveModel
from aga_otel.stack import ObservabilityStack


def line(label: str, samples: list[float]) -> None:
    q = statistics.quantiles(samples, n=20)
    print(f"  {label:<48} median {statistics.median(samples) / 1000:6.3f} ms"
          f"   p95 {q[18] / 1000:6.3f} ms")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--updates", type=int, default=300)
    p.add_argument("--clients", type=int, default=5)
    args = p.parse_args()

    plugin = SimulatedPlugin()
    config = ObservabilityConfig(
        prometheus_port=0, prometheus_host="127.0.0.1", health_port=0, health_host="127.0.0.1",
        dashboard_enabled=True, audit_storage_backend="memory", audit_flush_interval=0.5,
    )  # fmt: skip
    stack = ObservabilityStack(plugin.event_bus, config, env={}).start()
    stack.bind_plugin(plugin)
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=args.layers, audit_probability=0.2),
                            record=False)  # fmt: skip
    sim.start()
    sim.run_steps(2000)
    stack.force_flush()
    time.sleep(1.0)
    components = dict(alerts=stack.alert_manager, health=stack.health,
                      audit=stack.audit_storage, plugin=lambda: plugin)  # fmt: skip

    data = stack.reader.snapshot()
    own = LiveModel(lambda: data, **components)
    own.update()  # the first update reads the audit tail and the slow panels
    full = LiveModel(stack.reader.snapshot, **components)
    full.update()
    print(f"dashboard update, {args.layers} layers, {args.updates} updates, CPU per update:")
    line("dashboard's own work (totals, view, panels, JSON)", cpu_us(own.update, args.updates))
    line("shared reader.snapshot() (as one /metrics scrape)",
         cpu_us(stack.reader.snapshot, args.updates))  # fmt: skip
    line("both together (what one update costs today)", cpu_us(full.update, args.updates))
    print(f"  payload size: {len(own.update()) / 1024:.1f} KiB per update, sent to every page")

    hub = Broadcaster(full.update, interval=0.02, max_clients=args.clients)
    time.sleep(1.0)
    idle = hub.stats()
    subs = [hub.subscribe() for _ in range(args.clients)]
    received = 0
    for _ in range(50):
        received += sum(1 for s in subs if s.next(5.0))
    for s in subs:
        s.close()
    stats = hub.stats()
    hub.close()
    print(f"  no page connected for 1 s: {idle['updates']} updates, {idle['cpu_s']:.6f} s CPU")
    print(
        f"  {args.clients} pages: {received} payloads delivered from {stats['updates']} "
        f"updates ({stats['cpu_s'] / max(stats['updates'], 1) * 1000:.3f} ms CPU each)"
    )
    stack.shutdown()


if __name__ == "__main__":
    main()
