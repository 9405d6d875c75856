"""Health end to end: a HealthMonitor on a real ObservabilityStack (bridge, reader, scrape)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from conftest import get_json, local_config, simulate
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv
from aga_otel.health import HealthMonitor, build_health


def health_of(stack) -> HealthMonitor:
    """The stack's monitor (stack.py builds it when health_enabled); built the same way
    here if the stack in use predates that wiring."""
    if stack.health is None:
        stack.health = build_health(
            stack.config, stack.status, stack.meter, plugin=lambda: stack.plugin,
            bridge_stats=stack.bridge.stats, ready=lambda: stack.ready,
        )  # fmt: skip
        stack.reader.add_consumer(stack.health)  # the reader shuts it down with the stack
        stack.health.start_server()
    return stack.health


def get(port: int, path: str) -> tuple[int, dict]:
    return get_json(port, path)


def scrape_health(stack) -> dict[str, float]:
    url = f"http://127.0.0.1:{stack.prometheus.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    name = semconv.prom("health_status")
    return {
        s.labels[semconv.ATTR_COMPONENT]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_stack_health_end_to_end(make_stack, plugin):
    stack = make_stack(plugin.event_bus, local_config(health_enabled=True))
    health = health_of(stack)
    assert health.port
    assert get(health.port, "/livez") == (200, {"status": "alive",
                                                "checks": {"worker_alive": True}})  # fmt: skip
    assert get(health.port, "/readyz")[0] == 200
    code, report = get(health.port, "/health")
    assert code == 200
    assert report["checks"]["plugin.gate"]["detail"] == "plugin not bound"
    assert report["checks"]["bridge"]["status"] == "healthy"  # from the StatusBoard
    assert report["checks"]["metrics.prometheus"]["status"] == "healthy"
    assert report["checks"]["health.server"]["status"] == "healthy"

    stack.bind_plugin(plugin)
    stack.force_flush()  # hands the monitor a snapshot before the workload...
    simulate(plugin, steps=50)
    stack.force_flush()  # ...and one after: the drop rate has a window
    code, report = get(health.port, "/health?verbose")
    assert code == 200 and report["status"] == "healthy"
    drops = report["checks"]["pipeline.drops"]["data"]
    assert drops["received"] > 0 and drops["drop_rate"] == 0.0
    assert report["checks"]["plugin.attachment"]["data"]["hooks"] == 8

    gauge = scrape_health(stack)
    assert gauge["overall"] == 2 and gauge["plugin.gate"] == 2 and gauge["bridge"] == 2

    plugin.gate_system.weights.values[0] = float("nan")
    stack.force_flush()
    assert scrape_health(stack)["plugin.gate"] == 0
    assert get(health.port, "/health")[0] == 503
    assert get(health.port, "/livez")[0] == 200  # liveness ignores dependencies

    port = health.port
    stack.shutdown(timeout=5)
    assert get_refused(port)


def get_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_health_port_in_use_leaves_the_stack_working(make_stack, plugin):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = local_config(health_enabled=True, health_port=taken.getsockname()[1])
        stack = make_stack(plugin.event_bus, cfg)
        stack.bind_plugin(plugin)
        health = health_of(stack)
        assert health.port is None
        simulate(plugin, steps=20)
        stack.force_flush()
        assert stack.get_stats()["bridge"]["received"] > 0
        gauge = scrape_health(stack)  # metrics still served, health still evaluated
        assert gauge["health.server"] == 0 and gauge["plugin.gate"] == 2
        assert stack.status.get("health.server").status.label == "unhealthy"


def test_verbose_report_can_be_turned_off(make_stack, plugin):
    """``health_verbose=False``: ``?verbose`` shows no check data (sizes, endpoints, paths)."""
    for verbose_allowed in (True, False):
        stack = make_stack(plugin.event_bus, local_config(
            health_enabled=True, health_verbose=verbose_allowed,
        ))  # fmt: skip
        stack.bind_plugin(plugin)
        stack.force_flush()
        code, report = get(health_of(stack).port, "/health?verbose")
        assert code in (200, 503)
        with_data = [n for n, c in report["checks"].items() if "data" in c]
        assert bool(with_data) is verbose_allowed, report
        assert all("duration_ms" not in c for c in report["checks"].values()) is not verbose_allowed
