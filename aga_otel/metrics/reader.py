"""One MetricReader shared by every metrics consumer.

Each ``MetricReader`` registered on a ``MeterProvider`` keeps its own aggregation of every
measurement, so each extra reader adds a full aggregation to the worker's per-event cost
(measured here: one reader 24 µs per forward event, two 36 µs, four 63 µs). aga-otel
therefore registers exactly one reader, with cumulative temporality, and fans its snapshots
out: the Prometheus endpoint takes a fresh snapshot per scrape, and every periodic
``MetricsConsumer`` (OTLP, console) gets one on its own thread and schedule, so a slow OTLP
endpoint delays nobody else. Alerts and health run on the same kind of thread but read the
few totals they need from the components (``evaluate_now``), without a snapshot.

Metric *producers* (the OpenTelemetry spec's MetricProducer, absent from Python SDK 1.45)
add data aggregated outside the SDK: the forward events' bulk aggregation
(:mod:`aga_otel.metrics.forward`) is merged into every snapshot under the ``aga_otel``
scope. Its exemplars are not drained by a collection: each caller names the time of its
previous snapshot and gets the exemplars recorded since, so every consumer sees those of
its own interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from aga_otel.exporters.temporality import DeltaState
from aga_otel.pipeline import MetricProducer, MetricsConsumer

logger = logging.getLogger(__name__)

_SHARED_MAX_AGE = 0.5  # seconds a shared snapshot is reused by in-process consumers
_IDLE_REUSE = 5.0  # seconds it is reused while no new data arrived
_SDK_MAX_AGE = 2.0  # seconds the SDK instruments' part of a shared snapshot is reused


class SharedMetricReader(MetricReader):
    """A cumulative reader whose ``snapshot()`` any number of consumers may call."""

    def __init__(self) -> None:
        super().__init__()  # cumulative temporality for every instrument kind
        self._lock = threading.Lock()
        self._latest: MetricsData | None = None
        self._runners: list[_ConsumerRunner] = []
        self._producers: list[tuple[MetricProducer, Resource, InstrumentationScope]] = []
        self._shared: tuple[float, int | None, MetricsData | None] | None = None
        self._shared_lock = threading.Lock()
        self._change_token: Callable[[], int] | None = None
        self._sdk_cache: tuple[float, MetricsData | None] | None = None
        self._refresh: Callable[[], object] | None = None

    def set_change_token(self, token: Callable[[], int]) -> None:
        """``token()`` changes whenever new data arrived (e.g. events handed to the sinks).

        While it does not change, the shared snapshot is reused for up to ``_IDLE_REUSE``
        seconds whatever ``max_age`` asks: an idle process does no collection work.
        """
        self._change_token = token

    def set_refresh(self, refresh: Callable[[], object]) -> None:
        """``refresh()`` hands what is queued to the producers (the bridge's ``sync``).

        Called before every new snapshot, so a scrape or an export sees every event emitted
        before it, however slow the bridge's own cadence. Never called from a foreign
        reader's collection (the application's schedule, not ours).
        """
        self._refresh = refresh

    def _run_refresh(self) -> None:
        if self._refresh is not None:
            try:
                self._refresh()
            except Exception:  # stale data beats none
                logger.exception("aga-otel: handing queued events to the producers failed")

    def add_producer(
        self, producer: MetricProducer, resource: Resource, scope: InstrumentationScope
    ) -> None:
        """Merge ``producer.produce()``'s metrics into every snapshot, under ``scope``."""
        self._producers.append((producer, resource, scope))

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs
    ) -> None:
        self._latest = metrics_data

    def snapshot(
        self,
        timeout: float = 10.0,
        exemplars_since_ns: int | None = 0,
        delta: DeltaState | None = None,
    ) -> MetricsData | None:
        """Collect now and return the data (None before registration): cumulative, or with
        ``delta`` the deltas since that exporter's previous snapshot.

        ``exemplars_since_ns``: producers attach the exemplars recorded after this time
        (0: the latest they hold; None: none).
        """
        self._run_refresh()
        data = self._collect_sdk(timeout)
        if data is None:
            return None
        if delta is not None:
            data = delta.converter.convert(data)
        return self.produce_into(data, exemplars_since_ns, delta)

    def _collect_sdk(self, timeout: float) -> MetricsData | None:
        """The SDK's own instruments only (None before registration)."""
        with self._lock:
            if self._collect is None:  # not registered on a MeterProvider yet
                return None
            self._latest = None
            self.collect(timeout_millis=timeout * 1000)
            # The SDK hands over nothing while no SDK instrument has data.
            return self._latest or MetricsData(resource_metrics=[])

    def shared_snapshot(self, max_age: float = 0.5, timeout: float = 10.0) -> MetricsData | None:
        """A snapshot at most ``max_age`` seconds old, shared by every caller.

        In-process consumers (alerts, health, the Prometheus endpoint, a live page) take this
        one: at a 0.5 s alert cadence they would otherwise each pay a full collection. It holds
        the latest exemplars of every bucket. ``invalidate()`` (``force_flush``) drops it.

        The producers' part (the forward events: what fast alerts are about) is fresh in
        every new shared snapshot; the SDK's own instruments (retrieval and audit counters,
        plugin, pipeline, alert and health gauges), whose collection is the costly part, are
        collected again once they are ``_SDK_MAX_AGE`` old.
        """
        cached = self._shared
        if cached is None or time.monotonic() - cached[0] > max_age:
            self._run_refresh()  # outside the lock: the bridge's pass may take a moment
        with self._shared_lock:
            token = self._token()
            cached = self._shared
            if cached is not None:
                age = time.monotonic() - cached[0]
                unchanged = token is not None and token == cached[1]
                if age <= max_age or (unchanged and age <= _IDLE_REUSE):
                    return cached[2]
            taken = time.monotonic()
            sdk = self._sdk_cache
            if sdk is None or taken - sdk[0] > _SDK_MAX_AGE:
                sdk = self._sdk_cache = (taken, self._collect_sdk(timeout))
            data = None if sdk[1] is None else self.produce_into(sdk[1], 0)
            self._shared = (taken, token, data)
            return data

    def _token(self) -> int | None:
        try:
            return None if self._change_token is None else self._change_token()
        except Exception:
            return None

    def invalidate(self) -> None:
        """Forget the shared snapshot: the next reader of it collects anew."""
        self._shared = self._sdk_cache = None

    def produce_into(
        self,
        data: MetricsData | None,
        exemplars_since_ns: int | None = 0,
        delta: DeltaState | None = None,
    ) -> MetricsData | None:
        """``data`` with every producer's metrics merged in (as ``delta``'s deltas)."""
        if data is None or not self._producers:
            return data
        for producer, resource, scope in self._producers:
            try:
                cursor = None if delta is None else delta.cursor_for(producer)
                metrics = producer.produce(exemplars_since_ns, cursor)
            except Exception:  # a broken producer must not cost the SDK's metrics
                logger.exception("aga-otel: metric producer failed")
                continue
            if metrics:
                data = merge_metrics(data, resource, scope, metrics)
        return data

    def add_consumer(self, consumer: MetricsConsumer, start: bool = True) -> None:
        """Feed ``consumer`` a snapshot every ``consumer.interval`` seconds on its own thread."""
        runner = _ConsumerRunner(self, consumer)
        self._runners.append(runner)
        if start:
            runner.start()

    @property
    def consumers(self) -> list[MetricsConsumer]:
        return [r.consumer for r in self._runners]

    def flush_consumers(self, timeout: float = 10.0) -> None:
        """Hand every consumer one fresh snapshot now (used by ``force_flush`` and tests)."""
        self.invalidate()
        for runner in list(self._runners):
            runner.run_once(timeout)
        self.invalidate()  # what they set (alerts firing, health) shows on the next read

    def shutdown_consumers(self, timeout: float) -> None:
        """Stop consumers one by one, in registration order, each within its share of time.

        Local consumers are registered before remote ones, so a black-holed OTLP endpoint
        cannot stop a local consumer from finishing.
        """
        deadline = time.monotonic() + timeout
        for runner in list(self._runners):
            runner.stop(max(0.05, deadline - time.monotonic()))
        self._runners.clear()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.shutdown_consumers(timeout_millis / 1000)


def merge_metrics(
    data: MetricsData | None, resource: Resource, scope: InstrumentationScope, metrics: list[Metric]
) -> MetricsData:
    """``data`` with ``metrics`` added to ``scope`` of ``resource`` (both created if absent;
    ``data`` None: the SDK handed over nothing)."""
    resource_metrics = [] if data is None else list(data.resource_metrics)
    for i, rm in enumerate(resource_metrics):
        if rm.resource is resource or rm.resource == resource:
            scopes = list(rm.scope_metrics)
            for j, sm in enumerate(scopes):
                if sm.scope == scope:
                    scopes[j] = ScopeMetrics(sm.scope, [*sm.metrics, *metrics], sm.schema_url)
                    break
            else:
                scopes.append(ScopeMetrics(scope, metrics, scope.schema_url or ""))
            resource_metrics[i] = ResourceMetrics(rm.resource, scopes, rm.schema_url)
            break
    else:
        scopes = [ScopeMetrics(scope, metrics, scope.schema_url or "")]
        resource_metrics.append(ResourceMetrics(resource, scopes, resource.schema_url or ""))
    return MetricsData(resource_metrics=resource_metrics)


class _ConsumerRunner:
    """Runs one consumer: a daemon thread, a snapshot every ``interval`` seconds."""

    def __init__(self, reader: SharedMetricReader, consumer: MetricsConsumer) -> None:
        self.reader = reader
        self.consumer = consumer
        self._stop = threading.Event()
        self._stop_timeout = 5.0
        self._run_lock = threading.Lock()
        self._exemplars_since = 0  # the time of this consumer's previous snapshot
        self._thread = threading.Thread(
            target=self._loop, name=f"aga-otel-{consumer.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(max(0.05, float(self.consumer.interval))):
            self.run_once()
        # Final hand-over and shutdown happen on this thread, so stop() can bound them.
        self.run_once(self._stop_timeout)
        try:
            self.consumer.shutdown(self._stop_timeout)
        except Exception:
            logger.exception("metrics consumer %s failed to shut down", self.consumer.name)

    def run_once(self, timeout: float = 10.0) -> None:
        with self._run_lock:
            try:
                if getattr(self.consumer, "exemplars", False):  # exporters: their interval's
                    now = time.time_ns()
                    delta = getattr(self.consumer, "delta", None)  # a delta exporter's state
                    data = self.reader.snapshot(timeout, self._exemplars_since, delta)
                    self._exemplars_since = now
                else:
                    # Alerts and health read their inputs from the components directly.
                    direct = getattr(self.consumer, "evaluate_now", None)
                    if direct is not None and direct():
                        return
                    # Other in-process consumers share one recent snapshot.
                    interval = float(self.consumer.interval)
                    data = self.reader.shared_snapshot(min(_SHARED_MAX_AGE, interval / 2), timeout)
                if data is not None:
                    self.consumer.consume(data)
            except Exception:  # a consumer must never take its thread down
                logger.exception("metrics consumer %s failed", self.consumer.name)

    def stop(self, timeout: float) -> None:
        """Final snapshot and consumer shutdown, abandoned (daemon thread) after ``timeout``."""
        self._stop_timeout = timeout
        self._stop.set()
        if not self._thread.is_alive():
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning(
                "metrics consumer %s did not finish within %.1fs; abandoned",
                self.consumer.name,
                timeout,
            )
