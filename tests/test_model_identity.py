"""Issue 13: model identity — ``aga_model_info{model}`` from the bound plugin's
``model_type`` and the ``model`` resource attribute from config or OTEL_RESOURCE_ATTRIBUTES,
seen through a real scrape of the Prometheus endpoint."""

from __future__ import annotations

import time

from conftest import local_config, simulate
from test_integration_support import scrape

from aga_otel import semconv as sc
from aga_otel.contract import SimulatedPlugin

INFO = sc.prom("model_info")


def test_model_info_follows_the_bound_plugin(make_stack):
    plugin = SimulatedPlugin()
    stack = make_stack(plugin.event_bus, local_config(prometheus_enabled=True))
    simulate(plugin, steps=3, model_name="llama-sim-8b")  # attaches the model
    stack.force_flush()
    assert INFO not in scrape(stack.prometheus.port)  # no plugin bound: no series, no zero

    stack.bind_plugin(plugin)
    (sample,) = scrape(stack.prometheus.port)[INFO]
    assert sample.labels == {"model": "llama-sim-8b"} and sample.value == 1

    plugin.detach()
    time.sleep(0.6)  # past the plugin readings' cache (0.5 s)
    stack.bind_plugin(plugin)  # invalidates the cached snapshot
    assert INFO not in scrape(stack.prometheus.port)  # detached: model_type is None


def test_model_resource_attribute_from_config_and_env(make_stack):
    plugin = SimulatedPlugin()
    stack = make_stack(plugin.event_bus, local_config(model_name="from-config"))
    (info,) = scrape(stack.prometheus.port)["target_info"]
    assert info.labels["model"] == "from-config"

    env = {"OTEL_RESOURCE_ATTRIBUTES": "model=from-env"}
    stack = make_stack(SimulatedPlugin().event_bus, local_config(), env=env)
    assert stack.resource.attributes[sc.RESOURCE_MODEL] == "from-env"
    (info,) = scrape(stack.prometheus.port)["target_info"]
    assert info.labels["model"] == "from-env"
