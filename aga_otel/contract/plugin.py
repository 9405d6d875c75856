"""A simulated AGAPlugin with aga-core 4.4's introspection surface (for demo and tests)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from aga_otel.contract.bus import EventBus


@dataclass
class SimulatedConfig:
    """The AGAConfig fields aga-otel reads (names and defaults as in aga-core 4.4)."""

    hidden_dim: int = 4096
    bottleneck_dim: int = 64
    max_slots: int = 256
    device: str = "cpu"
    observability_enabled: bool = True
    prometheus_enabled: bool = True
    prometheus_port: int = 9090
    audit_storage_backend: str = "memory"
    audit_retention_days: int = 90
    log_format: str = "json"
    log_level: str = "INFO"


class _Param:
    """Stands in for a torch tensor: ``isnan().any()`` / ``isinf().any()`` like torch."""

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def isnan(self) -> _Flags:
        return _Flags(any(math.isnan(v) for v in self.values))

    def isinf(self) -> _Flags:
        return _Flags(any(math.isinf(v) for v in self.values))


class _Flags:
    def __init__(self, flag: bool) -> None:
        self._flag = flag

    def any(self) -> bool:
        return self._flag


class _GateSystem:
    def __init__(self) -> None:
        self.weights = _Param([0.1, -0.2, 0.05])

    def parameters(self):
        return iter([self.weights])


class _Retriever:
    def __init__(self) -> None:
        self.calls = 0

    def get_stats(self) -> dict:
        return {"type": "simulated", "calls": self.calls}


class SimulatedPlugin:
    """The parts of ``aga.AGAPlugin`` that observability reads, backed by simple state."""

    __version__ = "4.4.0-sim"

    def __init__(self, config: SimulatedConfig | None = None, event_bus: EventBus | None = None):
        self.config = config or SimulatedConfig()
        self.event_bus = event_bus or EventBus()
        self.device = self.config.device
        self.gate_system = _GateSystem()
        self.retriever = _Retriever()
        self._lock = threading.Lock()
        self._knowledge: dict[str, bool] = {}  # id -> pinned
        self._hooks: list[object] = []
        self._attached_model_name: str | None = None
        self._slot_changes = 0.0
        self._forward = {"total": 0, "applied": 0}

    # --- state changes driven by the simulator -------------------------------------------
    def attach(self, model_name: str, layers: int) -> None:
        self._attached_model_name = model_name
        self._hooks = [object() for _ in range(layers)]

    def detach(self) -> None:
        self._attached_model_name = None
        self._hooks = []

    def add_knowledge(self, kid: str, pinned: bool = False) -> bool:
        with self._lock:
            if len(self._knowledge) >= self.config.max_slots and kid not in self._knowledge:
                return False
            self._knowledge[kid] = pinned
            self._slot_changes += 1
            return True

    def remove_knowledge(self, kid: str) -> bool:
        with self._lock:
            self._slot_changes += 1
            return self._knowledge.pop(kid, None) is not None

    def record_forward(self, applied: bool) -> None:
        self._forward["total"] += 1
        self._forward["applied"] += int(applied)

    def decay_slot_changes(self, factor: float = 0.9) -> None:
        self._slot_changes *= factor

    # --- the contract surface --------------------------------------------------------------
    @property
    def is_attached(self) -> bool:
        return self._attached_model_name is not None

    def get_store_stats(self) -> dict:
        with self._lock:
            count = len(self._knowledge)
            pinned = sum(1 for p in self._knowledge.values() if p)
        max_slots = self.config.max_slots
        return {
            "count": count,
            "max_slots": max_slots,
            "utilization": count / max_slots if max_slots else 0.0,
            "free_slots": max_slots - count,
            "pinned_count": pinned,
            "unpinned_count": count - pinned,
            "evictable_count": count - pinned,
            "vram_bytes": count * self.config.bottleneck_dim * 4 * 2,
        }

    def get_diagnostics(self) -> dict:
        total, applied = self._forward["total"], self._forward["applied"]
        return {
            "attached": self.is_attached,
            "model_type": self._attached_model_name,
            "knowledge_count": len(self._knowledge),
            "hooked_layers": len(self._hooks),
            "device": self.device,
            "retriever": "simulated",
            "retriever_stats": self.retriever.get_stats(),
            "slot_governance": {"slot_change_rate": min(self._slot_changes / 100.0, 1.0)},
            "forward_total": total,
            "forward_applied": applied,
            "forward_bypassed": total - applied,
            "activation_rate": applied / total if total else 0.0,
        }
