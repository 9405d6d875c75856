"""Alerts about the telemetry pipeline itself, for the generated Prometheus rules.

The in-process engine cannot report that its own process vanished, and a dropped event or a
failing export is better judged across the fleet, so these exist only as Prometheus rules.
Each reads the pipeline metrics of the semconv table; ``expr`` gets the rule timing (ranges
of at least 4 scrape intervals), the ``by`` labels and the metric prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aga_otel import semconv
from aga_otel.exporters.prometheus import prefixed

if TYPE_CHECKING:
    from aga_otel.alerts.promrules import Timing

# Long enough that a single dropped event stays visible for a while, short enough to clear.
RATE_WINDOW_SECONDS = 300
# How long an instance that stopped reporting is remembered (and alerted on).
ABSENT_LOOKBACK = "1h"


@dataclass(frozen=True)
class PipelineAlert:
    """One pipeline alert; ``name`` is snake_case (``naming.alert_name`` makes it CamelCase)."""

    name: str
    severity: str
    summary: str
    description: str
    query: Callable[[Timing, str, str], str]
    for_seconds: float = 0.0

    def expr(self, timing: Timing, by: str, prefix: str) -> str:
        return self.query(timing, by, prefix)


def _dropped(t: Timing, by: str, prefix: str) -> str:
    name = semconv.prom("events_dropped")
    return (
        f"sum by ({by}, {semconv.ATTR_REASON}) (rate({name}[{t.window(RATE_WINDOW_SECONDS)}])) > 0"
    )


def _export_failures(t: Timing, by: str, prefix: str) -> str:
    name = semconv.prom("export_failures")
    return (
        f"sum by ({by}, {semconv.ATTR_EXPORTER}) "
        f"(rate({name}[{t.window(RATE_WINDOW_SECONDS)}])) > 0"
    )


def _unhealthy(t: Timing, by: str, prefix: str) -> str:
    name = prefixed(semconv.prom("health_status"), prefix)
    return f"min by ({by}, {semconv.ATTR_COMPONENT}) ({name}) == 0"


def _absent(t: Timing, by: str, prefix: str) -> str:
    # A counter every running aga-otel exposes from its first scrape. Seen in the lookback
    # but not now: the target is down or gone (its series went stale), or, through the
    # Collector, the replica stopped pushing and its series expired (metric_expiration).
    name = semconv.prom("events_received")
    return (
        f"group by ({by}) (max_over_time({name}[{ABSENT_LOOKBACK}])) "
        f"unless on ({by}) group by ({by}) ({name})"
    )


PIPELINE_ALERTS: tuple[PipelineAlert, ...] = (
    PipelineAlert(
        "otel_events_dropped", "warning",
        'aga-otel dropped {{ printf "%.2f" $value }} events/s ({{ $labels.reason }})',
        "Events from aga-core were not turned into telemetry in the last 5 minutes "
        "(queue_full: the bridge worker fell behind; malformed/unknown_type: an aga-core "
        "contract mismatch)",
        _dropped,
    ),
    PipelineAlert(
        "otel_export_failing", "warning",
        'aga-otel exporter {{ $labels.exporter }} failing '
        '({{ printf "%.2f" $value }} failures/s)',
        "Telemetry exports are failing: data for this exporter is being lost",
        _export_failures,
    ),
    PipelineAlert(
        "otel_component_unhealthy", "warning",
        "aga-otel component {{ $labels.component }} unhealthy",
        "The component reports health status 0 (unhealthy) on aga_health_status",
        _unhealthy,
    ),
    PipelineAlert(
        "otel_instance_absent", "warning",
        "aga-otel instance {{ $labels.instance }} stopped reporting",
        f"An instance that reported in the last {ABSENT_LOOKBACK} has no current series "
        "(process gone, scrape failing, or no OTLP push within the Collector's "
        "metric_expiration)",
        _absent,
    ),
)  # fmt: skip
