"""aga-core 4.4 contract objects shipped for the demo, tests and benchmarks.

aga-core is not always installable; these follow ``aga.instrumentation.EventBus`` and
``aga.AGAPlugin``'s introspection surface exactly, so real aga-core objects work in their
place unchanged.
"""

from aga_otel.contract.bus import Event, EventBus
from aga_otel.contract.plugin import SimulatedConfig, SimulatedPlugin
from aga_otel.contract.simulator import WorkloadProfile, WorkloadSimulator

__all__ = [
    "Event",
    "EventBus",
    "SimulatedConfig",
    "SimulatedPlugin",
    "WorkloadProfile",
    "WorkloadSimulator",
]
