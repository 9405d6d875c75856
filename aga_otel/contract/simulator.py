"""A deterministic simulated AGA workload, driven through a contract EventBus.

One decoding step emits one ``forward`` event per hooked layer; high-entropy steps past a
cooldown call the retriever (``retrieval`` event); now and then an admin operation emits
an ``audit`` event (some of them failing). Same seed, same event stream.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aga_otel.contract.plugin import SimulatedPlugin


@dataclass
class WorkloadProfile:
    layers: int = 8
    steps_per_second: float = 20.0
    activation_rate: float = 0.3  # share of forward events where AGA applies
    retrieval_cooldown_steps: int = 5
    retrieval_probability: float = 0.3  # per step past cooldown
    audit_probability: float = 0.02  # per step
    audit_failure_rate: float = 0.1
    latency_us_mean: float = 120.0
    latency_outlier_rate: float = 0.001  # share of forward events 20x slower
    model_name: str = "sim-llama"


@dataclass
class EmittedTotals:
    """What the simulator emitted, for tests to compare telemetry against."""

    forward: Counter = field(default_factory=Counter)  # (layer, applied) -> n
    retrieval: Counter = field(default_factory=Counter)  # layer -> n
    results: Counter = field(default_factory=Counter)  # layer -> n
    injected: Counter = field(default_factory=Counter)  # layer -> n
    audit: Counter = field(default_factory=Counter)  # (operation, success) -> n
    latency_us: list = field(default_factory=list)
    gate: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    scores: list = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(self.forward.values()) + sum(self.retrieval.values()) + sum(self.audit.values())


class WorkloadSimulator:
    """Drives ``plugin.event_bus`` with a realistic, seeded AGA workload."""

    def __init__(
        self,
        plugin: SimulatedPlugin,
        profile: WorkloadProfile | None = None,
        seed: int = 0,
        record: bool = True,
        step_context=None,
    ) -> None:
        self.plugin = plugin
        self.bus = plugin.event_bus
        self.profile = profile or WorkloadProfile()
        self.rng = random.Random(seed)
        self.record = record
        self.totals = EmittedTotals()
        self.steps = 0
        self._since_retrieval = 0
        self._next_id = 0
        self._stop = threading.Event()
        # Optional: a callable returning a context manager each step runs in (e.g. the
        # serving framework's request span, for trace correlation in the demo).
        self.step_context = step_context

    # --- one step ---------------------------------------------------------------------------
    def start(self) -> None:
        """Attach the simulated model and register some initial knowledge (audited)."""
        p = self.profile
        self.plugin.attach(p.model_name, p.layers)
        self._audit(
            "attach",
            {
                "model_type": p.model_name,
                "layers": list(range(p.layers)),
                "hooks": p.layers,
                "knowledge_count": 0,
            },
        )
        for _ in range(min(16, self.plugin.config.max_slots)):
            self._register()

    def step(self) -> None:
        if self.step_context is None:
            self._step()
            return
        with self.step_context():
            self._step()

    def _step(self) -> None:
        p, rng = self.profile, self.rng
        entropy_step = rng.gammavariate(2.0, 1.0)  # the step's uncertainty, shared by layers
        for layer in range(p.layers):
            applied = rng.random() < p.activation_rate
            entropy = max(0.0, entropy_step + rng.gauss(0.0, 0.3))
            gate = min(1.0, max(0.0, rng.betavariate(5, 2) if applied else rng.betavariate(1, 8)))
            latency = rng.expovariate(1.0 / p.latency_us_mean)
            if rng.random() < p.latency_outlier_rate:
                latency *= 20
            self.plugin.record_forward(applied)
            data = {
                "aga_applied": applied,
                "gate_mean": gate,
                "entropy_mean": entropy,
                "layer_idx": layer,
                "latency_us": latency,
            }
            if self.record:
                t = self.totals
                t.forward[(layer, applied)] += 1
                t.latency_us.append(latency)
                t.gate.append(gate)
                t.entropy.append(entropy)
            self.bus.emit("forward", data)
        self._since_retrieval += 1
        if (
            self._since_retrieval >= p.retrieval_cooldown_steps
            and rng.random() < p.retrieval_probability
        ):
            self._since_retrieval = 0
            self._retrieve(rng.randrange(p.layers))
        if rng.random() < p.audit_probability:
            self._admin_operation()
        self.plugin.decay_slot_changes(0.98)
        self.steps += 1

    def run_steps(self, n: int) -> None:
        """Emit ``n`` steps as fast as possible (tests and benchmarks)."""
        for _ in range(n):
            self.step()

    def run(self, duration: float | None = None, stop: threading.Event | None = None) -> None:
        """Emit steps paced at ``steps_per_second`` until ``duration`` or ``stop``."""
        stop = stop or self._stop
        interval = 1.0 / self.profile.steps_per_second
        start = time.monotonic()
        next_at = start
        while not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - start >= duration:
                break
            if now < next_at:
                stop.wait(min(next_at - now, 0.1))
                continue
            self.step()
            next_at += interval
            if now - next_at > 1.0:  # fell far behind: don't burst to catch up
                next_at = now

    def stop(self) -> None:
        self._stop.set()

    # --- retrieval and admin operations ---------------------------------------------------
    def _retrieve(self, layer: int) -> None:
        rng = self.rng
        results = rng.randint(0, 5)
        injected = rng.randint(0, results)
        scores = sorted((rng.betavariate(4, 2) for _ in range(results)), reverse=True)
        ids = [f"k{rng.randrange(max(self._next_id, 1))}" for _ in range(results)]
        self.plugin.retriever.calls += 1
        if self.record:
            t = self.totals
            t.retrieval[layer] += 1
            t.results[layer] += results
            t.injected[layer] += injected
            t.scores.extend(scores)
        self.bus.emit(
            "retrieval",
            {
                "layer_idx": layer,
                "results_count": results,
                "injected_count": injected,
                "budget_remaining": max(0, 8 - injected),
                "ids": ids,
                "scores": scores,
            },
        )

    def _admin_operation(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            self._register()
        elif roll < 0.85:
            kid = f"k{rng.randrange(max(self._next_id, 1))}"
            ok = self.plugin.remove_knowledge(kid)
            self._audit(
                "unregister",
                {"id": kid, "store_count": len(self.plugin._knowledge)},
                success=ok,
                error=None if ok else "not found",
            )
        else:
            self._audit(
                "config_change",
                {"key": "entropy_threshold", "value": round(rng.uniform(1.5, 3.0), 2)},
            )

    def _register(self) -> None:
        rng = self.rng
        kid = f"k{self._next_id}"
        self._next_id += 1
        failed = rng.random() < self.profile.audit_failure_rate
        ok = not failed and self.plugin.add_knowledge(kid, pinned=rng.random() < 0.1)
        self._audit(
            "register",
            {
                "id": kid,
                "reliability": round(rng.uniform(0.5, 1.0), 3),
                "pinned": False,
                "metadata": {"source": "sim", "user": "demo"},
                "store_count": len(self.plugin._knowledge),
            },
            success=ok,
            error=None if ok else "store full or rejected",
        )

    def _audit(
        self, operation: str, details: dict, success: bool = True, error: str | None = None
    ) -> None:
        if self.record:
            self.totals.audit[(operation, success)] += 1
        self.bus.emit(
            "audit",
            {
                "operation": operation,
                "details": details,
                "success": success,
                "error": error,
                "timestamp": time.time(),
            },
        )
