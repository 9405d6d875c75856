"""Multi-worker Prometheus: per-worker snapshot files, merged by whoever serves ``/metrics``.

In a pre-forking server (or one process per GPU) every worker with a stack and
``prometheus_multiprocess_dir`` set (or, when no aga-otel source sets it, the
``PROMETHEUS_MULTIPROC_DIR`` variable prometheus_client reads) writes its cumulative snapshot, reduced to plain
points, to ``<dir>/aga-otel-worker-<index>-<uid>.json`` every
``prometheus_multiprocess_interval`` seconds on a consumer thread (never on the emitting
thread), and once more on shutdown. The process that holds the Prometheus port merges
the files at scrape time, as prometheus_client's multiprocess mode does:

- counters and histograms are summed across workers with no per-worker label, and the
  file of a worker that exited stays in the sum (its counts are kept);
- gauges get a ``worker`` label (the worker's small index) and only live workers show.

A worker's index is the lowest ``aga-otel-worker-<index>.lock`` it can ``flock``; the lock
is held while the process lives and the kernel drops it when the process dies (even on
SIGKILL), so liveness is the lock being held by the file's writer (its uid is in the lock
file). A restarted worker takes a free index with a new uid: the dead worker's counts stay.
Exemplars are not merged (a merged histogram has none). The directory can be the one
prometheus_client's own multiprocess mode uses: it reads only its ``*.db`` files, and
aga-otel only its ``aga-otel-*`` files.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from aga_otel.status import Status

try:
    import fcntl
except ImportError:  # not POSIX: multi-worker mode reports itself off at start-up
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["WorkerFiles", "reduce_snapshot"]

COMPONENT = "metrics.multiprocess"
PREFIX = "aga-otel-worker-"
SERVER_FILE = "aga-otel-server.json"
WORKER_LABEL = "worker"
_SCOPE = InstrumentationScope("aga_otel.multiprocess")
_CUMULATIVE = AggregationTemporality.CUMULATIVE


def reduce_snapshot(data: MetricsData | None) -> list[dict]:
    """An OTel snapshot as JSON-able metrics: name, description, unit, kind, points."""
    out = []
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                d = m.data
                if isinstance(d, Histogram):
                    kind = "histogram"
                elif isinstance(d, Sum) and d.is_monotonic:
                    kind = "counter"
                elif isinstance(d, (Sum, Gauge)):
                    kind = "gauge"
                else:  # exponential histograms are not configured by aga-otel
                    continue
                points = [_reduce_point(kind, p) for p in d.data_points]
                out.append({"name": m.name, "description": m.description, "unit": m.unit,
                            "kind": kind, "points": points})  # fmt: skip
    return out


def _reduce_point(kind: str, p) -> dict:
    attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in p.attributes.items()}
    if kind != "histogram":
        return {"attributes": attrs, "value": p.value}
    return {"attributes": attrs, "bounds": list(p.explicit_bounds),
            "counts": list(p.bucket_counts), "sum": p.sum, "min": p.min, "max": p.max}  # fmt: skip


class WorkerFiles:
    """This process's worker file (a ``MetricsConsumer``) and the scrape-time merge."""

    exemplars = False  # shares the in-process snapshot

    def __init__(self, directory: str, interval: float = 1.0) -> None:
        self.name = "prometheus-multiprocess"
        self.interval = interval
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.uid = uuid.uuid4().hex[:12]
        self.index, self._lock_fd = self._claim()
        self.path = self.dir / f"{PREFIX}{self.index}-{self.uid}.json"
        self._written: MetricsData | None = None
        self.consume(None)  # the file exists from the start: the worker shows at once

    def _claim(self) -> tuple[int, int]:
        if fcntl is None:
            raise OSError("flock() is not available on this platform")
        index = 0
        while True:
            fd = os.open(self.dir / f"{PREFIX}{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                index += 1
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, self.uid.encode(), 0)
            return index, fd

    # --- the worker side ------------------------------------------------------------------
    def consume(self, metrics: MetricsData | None) -> None:
        if metrics is not None and metrics is self._written:
            return  # the shared snapshot an idle process reuses: the file already holds it
        self._written = metrics
        doc = {"index": self.index, "uid": self.uid, "pid": os.getpid(),
               "time": time.time(), "metrics": reduce_snapshot(metrics)}  # fmt: skip
        _write(self.path, doc)

    def shutdown(self, timeout: float) -> None:
        """Release the index: the file stays (counts kept), its gauges leave the scrape."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)

    def forget_inherited(self) -> None:
        """In a forked child: close the parent's lock descriptor without releasing it."""
        self.shutdown(0)

    # --- the serving side -----------------------------------------------------------------
    def announce(self, port: int) -> None:
        """Record that this worker serves the merged view on ``port``."""
        doc = {"index": self.index, "uid": self.uid, "pid": os.getpid(), "port": port}
        _write(self.dir / SERVER_FILE, doc)

    def served_by_sibling(self, port: int) -> str | None:
        """Which live worker of this directory serves ``port``, or None."""
        try:
            doc = json.loads((self.dir / SERVER_FILE).read_text())
        except (OSError, ValueError):
            return None
        if doc.get("port") != port or not self._alive(doc.get("index"), doc.get("uid")):
            return None
        return f"worker {doc['index']} (pid {doc.get('pid')})"

    def _alive(self, index, uid) -> bool:
        if uid == self.uid:
            return self._lock_fd is not None
        lock = self.dir / f"{PREFIX}{index}.lock"
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            return False
        try:
            if os.pread(fd, 64, 0).decode(errors="replace") != uid:
                return False  # the index was taken again by a restarted worker
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # its writer holds the lock: alive
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def merged(self, own: MetricsData | None) -> MetricsData:
        """This process's live snapshot merged with every other worker's file."""
        sources = [(self.index, reduce_snapshot(own), True)]
        for path in sorted(self.dir.glob(PREFIX + "*.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):  # a file being replaced or from another tool
                logger.debug("skipping worker file %s", path, exc_info=True)
                continue
            if doc.get("uid") != self.uid:
                alive = self._alive(doc.get("index"), doc.get("uid"))
                sources.append((doc.get("index"), doc.get("metrics", []), alive))
        resource = own.resource_metrics[0].resource if own and own.resource_metrics else None
        return _to_metrics_data(_merge(sources), resource or Resource.get_empty())


def _write(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)  # a reader sees the old file or the new one, never half of it


def _merge(sources: list[tuple[int, list[dict], bool]]) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for index, metrics, alive in sources:
        for m in metrics:
            if m["kind"] == "gauge" and not alive:
                continue  # gauges disappear with their worker
            slot = merged.setdefault(m["name"], {**m, "points": {}})
            if slot["kind"] != m["kind"]:
                continue
            for p in m["points"]:
                attrs = dict(p["attributes"])
                if m["kind"] == "gauge":
                    attrs[WORKER_LABEL] = str(index)
                key = json.dumps(attrs, sort_keys=True)
                have = slot["points"].get(key)
                if have is None:
                    slot["points"][key] = {**p, "attributes": attrs}
                elif m["kind"] == "counter":
                    have["value"] += p["value"]
                elif have["bounds"] == p["bounds"]:
                    have["counts"] = [a + b for a, b in zip(have["counts"], p["counts"])]
                    have["sum"] += p["sum"]
                    have["min"], have["max"] = (
                        min(have["min"], p["min"]),
                        max(have["max"], p["max"]),
                    )
    return merged


def _to_metrics_data(merged: dict[str, dict], resource: Resource) -> MetricsData:
    now = time.time_ns()
    metrics = []
    for m in merged.values():
        points = [_point(m["kind"], p, now) for p in m["points"].values()]
        if m["kind"] == "counter":
            data = Sum(points, _CUMULATIVE, is_monotonic=True)
        elif m["kind"] == "gauge":
            data = Gauge(points)
        else:
            data = Histogram(points, _CUMULATIVE)
        metrics.append(Metric(m["name"], m["description"], m["unit"], data))
    scope = ScopeMetrics(_SCOPE, metrics, "")
    return MetricsData([ResourceMetrics(resource, [scope], "")])


def _point(kind: str, p: dict, now: int):
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in p["attributes"].items()}
    if kind != "histogram":
        return NumberDataPoint(attrs, 0, now, p["value"])
    return HistogramDataPoint(attrs, 0, now, sum(p["counts"]), p["sum"], p["counts"],
                              p["bounds"], p["min"], p["max"])  # fmt: skip


def merged_snapshot(files: WorkerFiles, own: Callable[[], MetricsData | None]) -> Callable:
    """The snapshot function of the serving endpoint in multi-worker mode."""
    return lambda: files.merged(own())


def start_worker_files(cfg, reader, status) -> WorkerFiles | None:
    """This process's worker file when ``prometheus_multiprocess_dir`` is set; a failure
    (unwritable directory, no ``flock``) is logged and degrades this component only."""
    if not (cfg.prometheus_enabled and cfg.prometheus_multiprocess_dir):
        return None
    try:
        files = WorkerFiles(cfg.prometheus_multiprocess_dir, cfg.prometheus_multiprocess_interval)
    except OSError as exc:
        msg = f"cannot write to {cfg.prometheus_multiprocess_dir}: {exc.strerror or exc}"
        logger.error("aga-otel: multi-worker metrics off: %s", msg)
        status.failure(COMPONENT, msg, Status.UNHEALTHY)
        return None
    reader.add_consumer(files)
    status.success(COMPONENT, f"worker {files.index} writes {files.path}")
    return files
