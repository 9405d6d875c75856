"""Alert evaluation figures: CPU per evaluation, none per event.

Run: ``.venv/bin/python benchmarks/alerts.py [--layers 32] [--evaluations 200]``. Prints
figures; asserts nothing. The engine consumes the stack's shared reader, so its cost is one
snapshot plus one evaluation every ``alert_evaluation_interval`` (0.5 s by default), whatever
the event rate.
"""

from __future__ import annotations

import argparse
import statistics
import time

from aga_otel.config import ALERT_METRICS, AlertRuleConfig, ObservabilityConfig
from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
from aga_otel.stack import ObservabilityStack


def rules() -> list[AlertRuleConfig]:
    """One threshold rule per alert metric plus three adaptive ones (on top of the defaults)."""
    out = [AlertRuleConfig(name=f"bench_{m}", metric=m, threshold=1e9) for m in ALERT_METRICS]
    out += [AlertRuleConfig(name=f"bench_adaptive_{m}", metric=m, kind="adaptive",
                            learning_seconds=60)
            for m in ("activation_rate", "entropy_mean", "latency_p99")]  # fmt: skip
    out += [AlertRuleConfig(name=f"bench_1_0_{m}", metric=m, threshold=1e9, semantics="1.0")
            for m in ("gate_mean", "entropy_mean", "retrieval_failure_rate")]  # fmt: skip
    return out


def cpu_us(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.thread_time_ns()
        fn()
        samples.append((time.thread_time_ns() - t0) / 1000)
    return samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--evaluations", type=int, default=200)
    args = p.parse_args()
    config = ObservabilityConfig(
        prometheus_enabled=False, health_enabled=False, log_enabled=False,
        alert_rules=rules(), alert_evaluation_interval=3600,
    )  # fmt: skip
    plugin = SimulatedPlugin()
    stack = ObservabilityStack(plugin.event_bus, config, env={}).start()
    stack.bind_plugin(plugin)
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=args.layers), seed=1, record=False)
    sim.start()
    sim.run_steps(500)
    stack.force_flush()
    mgr = stack.alert_manager
    data = stack.reader.snapshot()
    snap = cpu_us(stack.reader.snapshot, args.evaluations)
    evaluate = cpu_us(lambda: mgr.consume(data), args.evaluations)
    print(f"rules: {len(mgr.rules)}, layers: {args.layers}")
    print(f"snapshot (shared reader collect): median {statistics.median(snap):.0f} µs CPU")
    print(f"evaluation of all rules:          median {statistics.median(evaluate):.0f} µs CPU")
    interval = ObservabilityConfig().alert_evaluation_interval
    per_s = (statistics.median(snap) + statistics.median(evaluate)) / interval
    print(f"at the default {interval:g} s interval: {per_s:.0f} µs CPU per second; 0 per event")
    stack.shutdown(timeout=5)


if __name__ == "__main__":
    main()
