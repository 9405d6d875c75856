"""CPU per rare event: µs off the emitting thread per ``retrieval`` and ``audit`` event.

Run: ``.venv/bin/python benchmarks/rare_events.py [--quick] [--tracing]``. The full stack
(JSON log file, SQLite audit trail with its hash chain, Prometheus and health on port 0,
alerts) turns a retrieval event into a log record, an ``inject`` audit row and metric
points, and an audit event into a log record, an audit row and metric points.

*Paced* (the figure that matters): the emitting thread behaves like a generating model
with 12 hooked layers: a forward batch of 12 events every 9 ms, a retrieval event every
5 decoding steps (aga-core's default ``retriever_cooldown_steps``) and an audit event per
injected fact. Three mixes in interleaved rounds, each the same length and each drained the
same way before the clocks are read (the bridge synced, the audit backlog written, the log
batch processor's next export waited for):

- ``forward``: forward events only;
- ``+retrieval``: the same, plus the retrieval events;
- ``+audit``: the same, plus the audit events.

A retrieval event's cost is (``+retrieval`` − ``forward``) per retrieval event, an audit
event's (``+audit`` − ``+retrieval``) per audit event: every thread but the emitting one,
from per-thread CPU clocks, per round, medians printed with the rounds' spread, and per
thread. ``--tracing`` adds span export (an in-process exporter that discards).

*Hot* and *cold* (the log pipeline alone, on the calling thread): ``LogPipeline.handle_batch``
in a tight loop, and one event per batch with caches evicted in between. The audit writer's
and the SDK's export threads are not counted there.

Prints figures; asserts nothing. On a shared machine treat them as indicative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aga_otel import ObservabilityConfig, ObservabilityStack  # noqa: E402
from aga_otel.contract import EventBus  # noqa: E402
from aga_otel.contract.bus import Event  # noqa: E402

_SCRATCH = bytearray(8 << 20)  # touched between cold batches to evict the caches
LAYERS, STEP_S, COOLDOWN = 12, 0.009, 5  # 12 hooked layers, a step every 9 ms, cooldown 5
MIXES = ("forward", "+retrieval", "+audit")


def retrieval_data(i: int) -> dict:
    return {
        "layer_idx": i % LAYERS, "results_count": 4, "injected_count": 2, "budget_remaining": 10,
        "ids": [f"fact-{i % 97}", f"fact-{(i + 1) % 97}"], "scores": [0.91, 0.74],
    }  # fmt: skip


def audit_data(i: int) -> dict:
    details = {"id": f"fact-{i % 97}", "reliability": 0.9, "pinned": False, "metadata": {
        "source": "https://docs.example.com/kb/article-12", "user": "bench", "tags": ["a", "b"],
        "api_key": "sk-not-a-real-key", "note": "registered from the nightly import job",
    }, "store_count": 100 + i % 50}  # fmt: skip
    return {"operation": "register", "success": True, "error": None, "details": details,
            "timestamp": time.time()}  # fmt: skip


def forward_data(layer: int, step: int) -> dict:
    applied = (step + layer) % 5 == 0
    return {"aga_applied": applied, "gate_mean": 0.6 if applied else 0.05,
            "entropy_mean": 2.0 + (layer % 4) * 0.5, "layer_idx": layer,
            "latency_us": 40.0 + layer}  # fmt: skip


def retrieval_event(i: int) -> Event:
    return Event("retrieval", time.time(), retrieval_data(i))


def audit_event(i: int) -> Event:
    return Event("audit", time.time(), audit_data(i))


class _DiscardSpans:
    """A span exporter that drops what it gets (the spans are still built and batched)."""

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def start_stack(workdir: str, bus=None, tracing: bool = False) -> ObservabilityStack:
    cfg = ObservabilityConfig(
        service_name="bench", otlp_metrics_enabled=False, otlp_logs_enabled=False,
        prometheus_port=0, prometheus_host="127.0.0.1", health_port=0, health_host="127.0.0.1",
        log_file=os.path.join(workdir, "aga.log"), audit_storage_backend="sqlite",
        audit_storage_path=os.path.join(workdir, "audit.db"), tracing_enabled=tracing,
    )  # fmt: skip
    stack = ObservabilityStack(bus if bus is not None else EventBus(), cfg, env={})
    if tracing:  # spans on aga-otel's own provider, exported to nowhere
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        stack.start()
        stack.tracing.tracer_provider.add_span_processor(
            BatchSpanProcessor(_DiscardSpans(), schedule_delay_millis=1000)
        )
        stack.tracing.exporting = True
        return stack
    return stack.start()


# --- paced ------------------------------------------------------------------------------------
def thread_cpu() -> dict[str, float]:
    """CPU seconds of every Python thread but this one, by name (Linux per-thread clocks)."""
    me, out = threading.get_ident(), {}
    for t in threading.enumerate():
        if t.ident == me:
            continue
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, TypeError, AttributeError):
            continue
        name = t.name.removeprefix("aga-otel-")
        out[name] = out.get(name, 0.0) + cpu
    return out


def settle(stack: ObservabilityStack) -> None:
    """Let every thread finish this phase's work on its own (never on this thread)."""
    stack.bridge.sync(5.0)
    writer = stack.log_exporter.audit_writer
    writer._wake.set()  # the writer thread writes the partial batch now
    deadline = time.monotonic() + 5.0
    while writer.stats()["backlog"] and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(1.2)  # the log batch processor exports once a second


def paced_phase(stack: ObservabilityStack, mix: str, seconds: float) -> dict:
    """One mix for ``seconds`` at generation pacing, then settled; CPU and event counts."""
    emit = stack.event_bus.emit
    retrieval, audit = mix != "forward", mix == "+audit"
    n = {"forward": 0, "retrieval": 0, "audit": 0}
    before, p0, t0 = thread_cpu(), time.process_time(), time.thread_time()
    start = time.perf_counter()
    for step in range(int(seconds / STEP_S)):
        for layer in range(LAYERS):
            emit("forward", forward_data(layer, step))
        n["forward"] += LAYERS
        if retrieval and step % COOLDOWN == 0:
            data = retrieval_data(step)
            emit("retrieval", data)
            n["retrieval"] += 1
            if audit:  # one per injected fact
                for k in range(data["injected_count"]):
                    emit("audit", audit_data(step + k))
                    n["audit"] += 1
        delay = start + (step + 1) * STEP_S - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    emitter = time.thread_time() - t0
    settle(stack)
    after = time.process_time()
    threads = {k: v - before.get(k, 0.0) for k, v in thread_cpu().items()}
    return {"off": (after - p0) - emitter, "threads": threads, **n}


def paced(seconds: float, rounds: int, tracing: bool) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(workdir, tracing=tracing)
        try:
            paced_phase(stack, "+audit", 1.0)  # warm-up: first records, files, statements
            runs: dict[str, list[dict]] = {m: [] for m in MIXES}
            for r in range(rounds):
                for mix in MIXES if r % 2 == 0 else reversed(MIXES):
                    runs[mix].append(paced_phase(stack, mix, seconds))
        finally:
            stack.shutdown(10)
    report_paced(runs, tracing)


def _per_event(runs, mix: str, base: str, kind: str, key=lambda x: x["off"]) -> list[float]:
    """µs per ``kind`` event: (mix − base) per round, over that round's ``kind`` events."""
    return [
        (key(a) - key(b)) / a[kind] * 1e6
        for a, b in zip(runs[mix], runs[base])
        if a[kind] > b[kind]
    ]


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:6.1f} µs ({min(values):.1f} – {max(values):.1f})"


def report_paced(runs: dict[str, list[dict]], tracing: bool) -> None:
    fw = runs["forward"]
    forward_us = [x["off"] / x["forward"] * 1e6 for x in fw]
    retrieval = _per_event(runs, "+retrieval", "forward", "retrieval")
    audit = _per_event(runs, "+audit", "+retrieval", "audit")
    print(
        f"paced: {LAYERS} forward events every {STEP_S * 1e3:.0f} ms, a retrieval every "
        f"{COOLDOWN} steps, an audit event per injected fact (2); {len(fw)} rounds"
        f"{', tracing on (spans exported to nowhere)' if tracing else ''}"
    )
    print(f"  per forward event  (forward mix)  : {_fmt(forward_us)} off the emitting thread")
    print(f"  per retrieval event               : {_fmt(retrieval)}  (target <= 30)")
    print(f"  per audit event                   : {_fmt(audit)}  (target <= 30)")
    f_med = statistics.median(forward_us)
    if retrieval and audit and f_med > 0:
        print(
            f"  ratios: a retrieval event = {statistics.median(retrieval) / f_med:.1f} forward "
            f"events, an audit event = {statistics.median(audit) / f_med:.1f}"
        )
    names = sorted({n for m in MIXES for x in runs[m] for n in x["threads"]})
    print("  by thread (µs per event, median of rounds):")
    print(f"    {'thread':34s} {'forward':>8} {'retrieval':>10} {'audit':>8}")
    for name in names:
        key = lambda x, n=name: x["threads"].get(n, 0.0)  # noqa: E731
        f = statistics.median(key(x) / x["forward"] * 1e6 for x in fw)
        r = _per_event(runs, "+retrieval", "forward", "retrieval", key)
        a = _per_event(runs, "+audit", "+retrieval", "audit", key)
        r_med = statistics.median(r) if r else 0.0
        a_med = statistics.median(a) if a else 0.0
        if max(abs(f), abs(r_med), abs(a_med)) >= 0.05:
            print(f"    {name:34s} {f:8.2f} {r_med:10.1f} {a_med:8.1f}")


# --- hot and cold: the log pipeline on the calling thread -----------------------------------
def hot(pipeline, make, n: int, batch: int = 16) -> float:
    """µs per event, batches of ``batch`` distinct events, best of 3 rounds."""
    events = [make(i) for i in range(n)]
    pipeline.handle_batch(events[:batch])
    rounds = []
    for _ in range(3):
        t = time.thread_time()
        for i in range(0, n, batch):
            pipeline.handle_batch(events[i : i + batch])
        rounds.append((time.thread_time() - t) / n * 1e6)
        pipeline.flush()  # not timed: the next round starts with an empty audit backlog
    return min(rounds)


def cold(pipeline, make, n: int, pause: float = 0.004) -> float:
    """µs per event, one event per batch, caches evicted and a pause between batches."""
    spent = []
    for i in range(n):
        for j in range(0, len(_SCRATCH), 64):
            _SCRATCH[j] = i & 0xFF
        time.sleep(pause)
        event = make(i)
        t = time.thread_time()
        pipeline.handle_batch([event])
        spent.append(time.thread_time() - t)
    return statistics.median(spent) * 1e6


def hot_cold(events: int, cold_n: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(workdir)
        try:
            pipeline = stack.log_exporter
            print("the log pipeline alone, on the calling thread:")
            print(f"  {'event':<10} {'hot µs':>8} {'cold µs':>8}")
            for name, make in (("retrieval", retrieval_event), ("audit", audit_event)):
                h = hot(pipeline, make, events)
                c = cold(pipeline, make, cold_n)
                print(f"  {name:<10} {h:8.1f} {c:8.1f}")
        finally:
            stack.shutdown(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="length of one paced phase")
    ap.add_argument("--rounds", type=int, default=3, help="paced rounds (each: the 3 mixes)")
    ap.add_argument("--events", type=int, default=3000, help="events per hot round")
    ap.add_argument("--cold", type=int, default=300, help="cold batches per event type")
    ap.add_argument("--tracing", action="store_true", help="spans too (exported to nowhere)")
    ap.add_argument("--paced-only", action="store_true", help="skip the hot and cold runs")
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.events, args.cold = 3.0, 1, 600, 50
    print(f"aga-otel rare-event benchmark, python {sys.version.split()[0]}, pid {os.getpid()}")
    paced(args.seconds, args.rounds, args.tracing)
    if not args.paced_only:
        hot_cold(args.events, args.cold)


if __name__ == "__main__":
    main()
