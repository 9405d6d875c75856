"""Audit trail figures: rows/s per backend, indexed query time on 1M rows, emit cost.

Run: ``.venv/bin/python benchmarks/audit.py [--rows 1000000] [--pg-dsn URL]``. PostgreSQL
rows/s (1 and 4 writer processes) use ``--pg-dsn``, else a throw-away local server started
like the tests do (Debian's initdb/pg_ctl), else are skipped. Prints figures; asserts
nothing (targets: query of 100 rows from 1M ≤ 50 ms; emitting-thread cost ≤ 1 µs/event).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource

from aga_otel.audit import open_store
from aga_otel.audit.chain import make_record
from aga_otel.bridge import EventBridge
from aga_otel.config import ObservabilityConfig
from aga_otel.contract import EventBus
from aga_otel.logs import build_log_pipeline
from aga_otel.status import StatusBoard

OPS = ("register", "unregister", "register_batch", "clear", "config_change")


def records(n: int, start: float):
    return [make_record(start + i * 0.01, OPS[i % len(OPS)], i % 10 != 0,
                        None if i % 10 else "rejected",
                        {"id": f"k{i}", "reliability": 0.9, "metadata": {"user": "bench"}})
            for i in range(n)]  # fmt: skip


def rows_per_second(backend: str, path: Path, n: int = 50_000, batch: int = 100) -> float:
    recs = records(n, time.time())
    store = open_store(backend, path)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        store.append(recs[i : i + batch])
    elapsed = time.perf_counter() - t0
    store.close()
    return n / elapsed


def _pg_writer(dsn: str, instance: str, n: int, go, out) -> None:
    recs = records(n, time.time())
    store = open_store("postgresql", dsn, instance=instance)
    store.append(recs[:1])  # connect and create the schema before the clock starts
    go.wait()
    t0 = time.perf_counter()
    for i in range(1, n, 100):
        store.append(recs[i : i + 100])
    out.put(time.perf_counter() - t0)
    store.close()


def postgres_rows_per_second(dsn: str, writers: int, n: int = 20_000) -> float:
    """Rows/s of ``writers`` processes appending together (each its own chain)."""
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_pg_writer, args=(dsn, f"bench-{writers}-{w}", n, go, out))
             for w in range(writers)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(1.0)  # every writer connected and waiting
    go.set()
    elapsed = max(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join()
    return writers * (n - 1) / elapsed


def postgres_figures(dsn: str | None) -> None:
    server = None
    if dsn is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg_server import PostgresServer

        server = PostgresServer()
        if not server.available:
            print("audit postgresql: skipped (no --pg-dsn, no initdb/pg_ctl)")
            return
        server.start()
        dsn = server.dsn()
    try:
        for writers in (1, 4):
            rate = postgres_rows_per_second(dsn, writers)
            print(f"audit postgresql append, {writers} writer process(es): {rate:>10,.0f} rows/s"
                  " (batches of 100, hash chain included)")  # fmt: skip
    finally:
        if server is not None:
            server.destroy()


def big_sqlite(path: Path, rows: int) -> float:
    store = open_store("sqlite", path)
    t0 = time.perf_counter()
    start = time.time() - rows * 0.01
    for i in range(0, rows, 10_000):
        store.append(records(min(10_000, rows - i), start + i * 0.01))
    store.close()
    return time.perf_counter() - t0


def query_ms(path: Path, **filters) -> tuple[float, int]:
    store = open_store("sqlite", path, read_only=True)
    store.query(**filters)  # warm the page cache, as a running service would have
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        n = len(store.query(limit=100, **filters))
        times.append((time.perf_counter() - t0) * 1000)
    store.close()
    return statistics.median(times), n


def emit_ns(bus: EventBus, n: int = 200_000) -> float:
    data = {
        "operation": "register",
        "details": {"id": "k1"},
        "success": True,
        "error": None,
        "timestamp": time.time(),
    }
    # CPU time of the emitting thread: the worker competing for the GIL slows the loop's
    # wall time, but the cost this thread itself adds is what the budget is about.
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time_ns()
        for _ in range(n):
            bus.emit("audit", data)
        best = min(best, (time.thread_time_ns() - t0) / n)
    return best


def emitting_thread_cost(tmp: Path) -> tuple[float, float]:
    """Emit on a bare bus, then with the bridge + log pipeline (sqlite audit) subscribed."""
    bare = emit_ns(EventBus(), 100_000)
    bus = EventBus()
    status = StatusBoard()
    config = ObservabilityConfig(
        audit_storage_backend="sqlite", audit_storage_path=str(tmp / "emit.db")
    )
    pipeline = build_log_pipeline(config, status, Resource.create({}))
    bridge = EventBridge([pipeline], queue_size=1_000_000, status=status)
    bridge.subscribe(bus)
    bridge.start()
    with_stack = emit_ns(bus, 100_000)
    bridge.stop(30)
    pipeline.shutdown(30)
    return bare, with_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-dsn", help="PostgreSQL for the postgresql figures")
    args = parser.parse_args()
    postgres_figures(args.pg_dsn)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for backend, name in (("sqlite", "rate.db"), ("file", "rate.jsonl")):
            print(
                f"audit {backend:6s} append: {rows_per_second(backend, tmp / name):>10,.0f} rows/s"
                " (batches of 100, hash chain included)"
            )
        big = tmp / "big.db"
        print(f"building a {args.rows:,}-row SQLite store: {big_sqlite(big, args.rows):.1f} s")
        for label, filters in (
            ("newest 100", {}),
            ("operation=clear", {"operation": "clear"}),
            ("success=false", {"success": False}),
            ("since 1h ago", {"since": time.time() - 3600}),
        ):
            ms, n = query_ms(big, **filters)
            print(f"query {label:16s} → {n} rows in {ms:6.2f} ms (median of 20; target ≤ 50 ms)")
        bare, with_stack = emitting_thread_cost(tmp)
        print(
            f"emit on contract EventBus: bare {bare:.0f} ns/event, with bridge + log "
            f"pipeline subscribed {with_stack:.0f} ns/event → added {with_stack - bare:.0f} ns "
            "on the emitting thread (target ≤ 1000 ns)"
        )


if __name__ == "__main__":
    main()
