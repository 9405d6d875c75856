"""What the alert engine evaluates, read straight from the components that keep it.

Rules need each watched metric summed over its attributes, never per-layer data points. A
metric snapshot builds one data point per layer and instrument and runs every observable
callback (1–3 ms of CPU, at a 0.5 s cadence: a microsecond or two per forward event at
generation pacing), and its SDK part was shared for up to two seconds. Here each evaluation
reads the few totals directly: the forward aggregator's sums over layers, the recorder's
retrieval counts, the activation window, the plugin's readings (cached for 0.5 s, as the
gauges read them) and the bridge's drop counts — the same numbers a snapshot gives
(``tests/test_alert_inputs.py`` compares both), for well under a tenth of the CPU.

Before reading, the bridge is synced: every event emitted before the evaluation counts, so
a breach reaches the callbacks within one evaluation interval on every path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aga_otel import semconv as sc
from aga_otel.alerts.snapshot import HistogramTotals, Snapshot


class AlertInputs:
    """``inputs(timestamp)`` → the :class:`Snapshot` of every metric an alert rule may watch."""

    def __init__(
        self,
        *,
        forward: Any,  # ForwardAggregator: totals()
        recorder: Any,  # MetricsRecorder: retrieval_totals()
        activation: Any,  # ActivationWindow: rate()
        readings: Any,  # PluginReadings: store(field), slot_change_rate()
        bridge: Any,  # EventBridge: sync(), stats()
    ) -> None:
        self._forward = forward
        self._recorder = recorder
        self._bridge = bridge
        self._gauges: tuple[tuple[str, Callable[[], float | None]], ...] = (
            ("activation_rate", activation.rate),
            ("knowledge_count", lambda: readings.store("count")),
            ("knowledge_utilization", lambda: readings.store("utilization")),
            ("slot_change_rate", readings.slot_change_rate),
        )

    def __call__(self, timestamp: float) -> Snapshot:
        self._bridge.sync()
        histograms = {
            key: HistogramTotals(*value)
            for key, value in self._forward.totals().items()
            if len(value) == 6 and value[2]
        }
        counters: dict[str, float] = {}
        retrieval = self._recorder.retrieval_totals()
        if retrieval is not None:  # the SDK counters have no point before the first call
            counters["retrieval_results"], counters["retrieval_injected"] = map(float, retrieval)
        dropped = self._bridge.stats()["dropped"]
        counters["events_dropped"] = float(sum(dropped.get(r, 0) for r in sc.DROP_REASONS))
        gauges: dict[str, float] = {}
        for key, read in self._gauges:
            value = read()
            if value is not None:
                gauges[key] = float(value)
        return Snapshot(timestamp, histograms, counters, gauges)
