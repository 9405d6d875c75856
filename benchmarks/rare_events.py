"""CPU per rare event: µs of the bridge worker's thread per ``retrieval`` and ``audit`` event.

Run: ``.venv/bin/python benchmarks/rare_events.py [--events 3000]``. The full stack's log
pipeline (log file, SQLite audit trail, Prometheus and health on port 0) turns each event
into a log record, and a retrieval also into an ``inject`` audit row; this measures what
``LogPipeline.handle_batch`` costs the calling thread (``time.thread_time``), which is the
worker's share that comes out of a generating model's tokens/s:

- *hot*: the same events in a tight loop, everything in cache;
- *cold*: one event per batch, with a few MB of memory touched and a short sleep between
  batches (as in a generating model, where a retrieval comes every few decoding steps).

The audit writer's own thread (hash chain, SQLite) is not counted. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from aga_otel import ObservabilityConfig, ObservabilityStack
from aga_otel.contract import EventBus
from aga_otel.contract.bus import Event

_SCRATCH = bytearray(8 << 20)  # touched between cold batches to evict the caches


def retrieval_event(i: int) -> Event:
    return Event("retrieval", time.time(), {
        "layer_idx": i % 12, "results_count": 4, "injected_count": 2, "budget_remaining": 10,
        "ids": [f"fact-{i % 97}", f"fact-{(i + 1) % 97}"], "scores": [0.91, 0.74],
    })  # fmt: skip


def audit_event(i: int) -> Event:
    details = {"id": f"k{i % 50}", "reliability": 0.9, "metadata": {
        "source": "https://docs.example.com/kb/article-12", "user": "bench", "tags": ["a", "b"],
        "api_key": "sk-not-a-real-key", "note": "registered from the nightly import job",
    }}  # fmt: skip
    return Event("audit", time.time(), {"operation": "register", "success": True,
                                        "error": None, "details": details,
                                        "timestamp": time.time()})  # fmt: skip


def start_stack(workdir: str) -> ObservabilityStack:
    cfg = ObservabilityConfig(
        service_name="bench", otlp_metrics_enabled=False, otlp_logs_enabled=False,
        prometheus_port=0, prometheus_host="127.0.0.1", health_port=0, health_host="127.0.0.1",
        log_file=os.path.join(workdir, "aga.log"), audit_storage_backend="sqlite",
        audit_storage_path=os.path.join(workdir, "audit.db"),
    )  # fmt: skip
    return ObservabilityStack(EventBus(), cfg, env={}).start()


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=3000, help="events per hot round")
    ap.add_argument("--cold", type=int, default=300, help="cold batches per event type")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(workdir)
        try:
            pipeline = stack.log_exporter
            print(f"{'event':<10} {'hot µs':>8} {'cold µs':>8}")
            for name, make in (("retrieval", retrieval_event), ("audit", audit_event)):
                h = hot(pipeline, make, args.events)
                c = cold(pipeline, make, args.cold)
                print(f"{name:<10} {h:8.1f} {c:8.1f}")
        finally:
            stack.shutdown(5)


if __name__ == "__main__":
    main()
