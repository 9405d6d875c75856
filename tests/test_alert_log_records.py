"""Firing alerts also become OTel log records (`aga.alert`), exported over OTLP."""

from conftest import local_config, simulate
from otlp_receiver import GrpcReceiver, attrs

from aga_otel import AlertRuleConfig


def test_a_firing_alert_is_exported_as_a_log_record(plugin, make_stack):
    rule = AlertRuleConfig(
        name="entropy_seen",
        metric="entropy_mean",
        operator=">",
        threshold=0.0,
        window_seconds=60,
        severity="critical",
        message="{name}: entropy {value:.2f}",
    )
    with GrpcReceiver() as receiver:
        cfg = local_config(
            log_enabled=True,
            otlp_endpoint=receiver.endpoint,
            otlp_metrics_enabled=False,
            alert_enabled=True,
            alert_default_rules=False,
            alert_rules=[rule],
        )
        stack = make_stack(plugin.event_bus, cfg)
        seen = []
        stack.alert_manager.add_callback(seen.append)
        simulate(plugin, steps=5)
        stack.force_flush()
        simulate(plugin, steps=5, seed=9)
        stack.force_flush()
        assert [a.rule_name for a in seen] == ["entropy_seen"]
        stack.shutdown()
        records = [r for r in receiver.received.log_records() if r.event_name == "aga.alert"]
        assert records, [r.event_name for r in receiver.received.log_records()][:5]
        a = attrs(records[0].attributes)
        assert a["aga.alert.rule"] == "entropy_seen" and a["aga.alert.severity"] == "critical"
        assert a["aga.alert.state"] == "firing"
        assert "entropy" in records[0].body.string_value
