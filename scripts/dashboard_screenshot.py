"""Screenshot of the real live dashboard, for docs/dashboard.md.

Starts a full stack (everything on, as ``aga-otel demo`` runs it) on free loopback ports,
feeds it the simulated workload for ``--warmup`` seconds while a headless Chromium watches
the page, provokes one alert through the bus, and writes a PNG.

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/img/dashboard.png]

Needs Debian's chromium and chromium-driver (scripts/install-system-deps.sh) and selenium
(the ``test`` extra).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the Chromium helper shared with the tests

from chromium import chromium  # noqa: E402

from aga_otel import AlertRuleConfig, ObservabilityConfig, ObservabilityStack  # noqa: E402
from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator  # noqa: E402
from aga_otel.live import dashboard_url  # noqa: E402

ALERT = AlertRuleConfig(
    name="entropy_spike", metric="entropy_mean", operator=">", threshold=5.0,
    window_seconds=5, severity="critical", message="mean entropy {value:.2f} > {threshold}",
)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "dashboard.png"))
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds of workload first")
    parser.add_argument("--layers", type=int, default=12)
    args = parser.parse_args()

    plugin = SimulatedPlugin()
    config = ObservabilityConfig(
        service_name="aga-demo", prometheus_host="127.0.0.1", prometheus_port=0,
        health_host="127.0.0.1", health_port=0, dashboard_enabled=True,
        alert_evaluation_interval=1.0, alert_rules=[ALERT], audit_flush_interval=1.0,
    )  # fmt: skip
    stack = ObservabilityStack(plugin.event_bus, config, env={}).start()
    stack.bind_plugin(plugin)
    sim = WorkloadSimulator(
        plugin,
        WorkloadProfile(layers=args.layers, steps_per_second=25, audit_probability=0.05),
        seed=3,
        record=False,
    )
    sim.start()
    stop = threading.Event()
    runner = threading.Thread(target=sim.run, args=(None, stop), daemon=True)
    runner.start()
    try:
        with chromium(1440, 1900) as driver:
            driver.get(dashboard_url(stack, "127.0.0.1"))
            time.sleep(args.warmup)
            for _ in range(200):  # an uncertain stretch: high entropy on every layer
                for layer in range(args.layers):
                    plugin.event_bus.emit("forward", {
                        "aga_applied": True, "gate_mean": 0.9, "entropy_mean": 7.5,
                        "layer_idx": layer, "latency_us": 300.0,
                    })  # fmt: skip
            time.sleep(4.0)
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
            print(f"wrote {out} ({out.stat().st_size} bytes)")
    finally:
        stop.set()
        runner.join(2)
        stack.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
