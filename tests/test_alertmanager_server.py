"""The ``alertmanager`` webhook format against a real Alertmanager (Debian's 0.25): alerts
stay active while they fire, resolve when they resolve, and the bundled inhibition works.

Fails instead of skipping when CI=true and ``prometheus-alertmanager``/``amtool`` are missing.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml
from alertmanager_support import AMTOOL, Alertmanager, minimal_config
from conftest import local_config
from test_alert_support import Instruments
from test_prometheus_server_support import require_binary, wait_for

from aga_otel.alerts import promrules
from aga_otel.alerts.manager import AlertManager
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.payloads import alertmanager
from aga_otel.alerts.webhook import WebhookChannel
from aga_otel.config import AlertRuleConfig
from aga_otel.status import StatusBoard

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "collector" / "alertmanager" / "alertmanager.yml"
SERVICE = {"name": "aga", "instance_id": "i-1"}
RESOLVE_TIMEOUT = 2.0
INTERVAL = 1.0  # resend_interval: endsAt 4 s ahead, re-sent every second


@pytest.fixture
def am(tmp_path):
    server = Alertmanager(tmp_path, minimal_config(f"{RESOLVE_TIMEOUT:g}s"))
    yield server
    server.close()


def test_a_held_alert_outlives_three_resolve_timeouts_then_resolves(am):
    status = StatusBoard()
    channel = WebhookChannel(am.alerts_url, "alertmanager", SERVICE, status, retries=1,
                             backoff_factor=0.01, resend_interval=INTERVAL,
                             generator_url="http://aga-host:8080/health")  # fmt: skip
    rule = AlertRuleConfig(name="gate_high", metric="gate_mean", threshold=0.5,
                           window_seconds=1, cooldown_seconds=0)  # fmt: skip
    inst = Instruments()
    manager = AlertManager([rule], status, webhook=channel)
    try:
        inst.record("gate_value", 0.9)
        manager.consume(inst.collect())
        assert [a.rule_name for a in manager.firing()] == ["gate_high"]
        wait_for(lambda: am.alerts(alertname="AgaGateHigh"), 10, "the alert in Alertmanager")
        (got,) = am.alerts(alertname="AgaGateHigh")
        assert got["labels"] == {"alertname": "AgaGateHigh", "rule": "gate_high",
                                 "severity": "warning", "slo": "gate_mean", "job": "aga",
                                 "instance": "i-1"}  # fmt: skip
        assert got["generatorURL"] == "http://aga-host:8080/health"
        # Control: the same alert sent once without endsAt, the way the channel used to.
        control = alertmanager(_alert("control_once"), SERVICE)
        del control[0]["endsAt"]
        am.post(control)
        held_until = time.monotonic() + 3 * RESOLVE_TIMEOUT + INTERVAL
        while time.monotonic() < held_until:
            assert [a["status"]["state"] for a in am.alerts(alertname="AgaGateHigh")] == [
                "active"
            ], "Alertmanager resolved an alert that still fires"
            time.sleep(0.25)
        assert am.alerts(alertname="AgaControlOnce") == []  # resolve_timeout did resolve it
        assert channel.stats()["resent"] >= 3

        time.sleep(rule.window_seconds)  # nothing recorded: the window runs empty
        manager.consume(inst.collect())
        assert manager.firing() == []
        # The resolution is sent at once (endsAt = when it resolved), not left to expire.
        wait_for(lambda: not am.alerts(alertname="AgaGateHigh"), INTERVAL + 5, "resolution")
        assert status.get("alerts.webhook").detail == "delivering"
    finally:
        manager.shutdown(2)


def _alert(name: str, severity: str = "warning", metric: str = "gate_mean") -> Alert:
    now = time.time()
    return Alert(name, metric, 0.9, 0.5, ">", severity, f"{name} fires", AlertState.FIRING,
                 timestamp=now, started_at=now)  # fmt: skip


def _from_rules(alertname: str, instance: str) -> dict:
    """An alert as Prometheus sends it for a rule of the generated file."""
    rules = yaml.safe_load((ROOT / promrules.RULES_FILE).read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == alertname)
    labels = {"alertname": alertname, **rule["labels"], "job": "aga", "instance": instance}
    return {"labels": labels, "annotations": {"summary": "from Prometheus"}}


def test_the_bundled_inhibition_mutes_the_warning_of_the_same_slo_and_instance(tmp_path):
    config = yaml.safe_load(BUNDLED.read_text())
    server = Alertmanager(tmp_path, config)
    try:
        for instance in ("i-1", "i-2"):  # as the aga-otel processes send them
            service = {"name": "aga", "instance_id": instance}
            server.post(alertmanager(_alert("slo_latency_p99", metric="latency_p99"), service))
            server.post(alertmanager(_alert("high_utilization",
                                            metric="knowledge_utilization"), service))  # fmt: skip
        server.post(alertmanager(_alert("slo_latency_critical", "critical", "latency_p99"),
                                 SERVICE))  # fmt: skip
        # as Prometheus sends the generated rules' alerts (another job, same idea)
        server.post([_from_rules("AgaSloLatencyCritical", "10.0.0.1:9464"),
                     _from_rules("AgaSloLatencyP99", "10.0.0.1:9464"),
                     _from_rules("AgaSloLatencyP99", "10.0.0.2:9464")])  # fmt: skip

        def inhibited() -> dict[tuple[str, str], bool]:
            return {(a["labels"]["alertname"], a["labels"]["instance"]):
                    bool(a["status"]["inhibitedBy"]) for a in server.alerts()}  # fmt: skip

        wait_for(lambda: inhibited().get(("AgaSloLatencyP99", "i-1")), 10, "inhibition")
        assert inhibited() == {
            ("AgaSloLatencyP99", "i-1"): True,  # same slo, same instance as the critical
            ("AgaSloLatencyP99", "i-2"): False,  # another instance
            ("AgaHighUtilization", "i-1"): False,  # another slo
            ("AgaHighUtilization", "i-2"): False,
            ("AgaSloLatencyCritical", "i-1"): False,
            ("AgaSloLatencyCritical", "10.0.0.1:9464"): False,
            ("AgaSloLatencyP99", "10.0.0.1:9464"): True,
            ("AgaSloLatencyP99", "10.0.0.2:9464"): False,
        }
    finally:
        server.close()


def test_amtool_checks_the_bundled_config_and_refuses_a_broken_one(tmp_path):
    require_binary(AMTOOL)
    ok = subprocess.run([AMTOOL, "check-config", str(BUNDLED)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 inhibit rules" in ok.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(BUNDLED.read_text().replace("receiver: aga-critical", "receiver: nobody"))
    bad = subprocess.run([AMTOOL, "check-config", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0


def test_full_stack_sends_slow_steps_to_alertmanager_and_keeps_them_active(am, make_stack, plugin):
    rule = AlertRuleConfig(name="slo_latency_p99", metric="latency_p99", threshold=1000,
                           window_seconds=2, cooldown_seconds=0)  # fmt: skip
    config = local_config(
        alert_enabled=True,
        alert_default_rules=False,
        alert_rules=[rule],
        alert_webhook_url=am.alerts_url,
        alert_webhook_format="alertmanager",
        alert_evaluation_interval=0.5,
        alert_resend_interval=INTERVAL,
        service_instance_id="replica-7",
    )
    stack = make_stack(plugin.event_bus, config)

    def slow_steps(n: int = 20) -> None:  # 2 ms of AGA time per layer: p99 above 1 ms
        for i in range(n):
            plugin.event_bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5,
                                              "entropy_mean": 1.0, "layer_idx": i % 4,
                                              "latency_us": 2000.0})  # fmt: skip

    def active() -> list[dict]:
        return am.alerts(alertname="AgaSloLatencyP99", instance="replica-7")

    slow_steps()
    wait_for(lambda: active(), 15, "AgaSloLatencyP99 in Alertmanager")
    assert active()[0]["labels"]["rule"] == "slo_latency_p99"
    assert active()[0]["labels"]["job"] == stack.config.service_name
    held_until = time.monotonic() + 3 * RESOLVE_TIMEOUT
    while time.monotonic() < held_until:  # still breaching: never resolved
        slow_steps(5)
        assert active(), "Alertmanager resolved an alert that still fires"
        time.sleep(0.2)
    # Breach over: no more slow steps; the engine resolves and Alertmanager follows.
    wait_for(lambda: not active(), 15, "resolution in Alertmanager")
    assert stack.alert_manager.firing() == []
