"""deploy/kubernetes: generated files current; the base and its ServiceMonitor variant as
``kubectl kustomize`` renders them (what ``kubectl apply -k`` sends): core objects valid,
monitor and dashboard labels set, one instance identity across signals (checked with a real
Prometheus applying the monitors' relabelings), rules accepted by promtool."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import require
from test_prometheus_server_support import (
    PROMETHEUS,
    Prometheus,
    free_port,
    require_binary,
    stop,
    wait_for,
)

from aga_otel import ObservabilityConfig
from aga_otel.contract import SimulatedConfig, SimulatedPlugin
from aga_otel.integration import resolve_config
from aga_otel.stack import ObservabilityStack

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.33"  # validated against this API version's schemas (strict: no unknown fields)
CORE_KINDS = {"Deployment", "Service", "ConfigMap"}
MONITOR_GROUP = "monitoring.coreos.com"
POD_NAME = "aga-serving-7d9f8b6c4-x2x9q"  # what the downward API gives one replica


def _generator():
    spec = importlib.util.spec_from_file_location("k8s_generate", BASE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(base: Path) -> list[dict]:
    """``kubectl kustomize base``: the objects ``kubectl apply -k`` would send."""
    kubectl = shutil.which("kubectl")
    require(kubectl is not None, "kubectl (kustomize) not installed")
    out = subprocess.run([kubectl, "kustomize", str(base)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    """The base as rendered."""
    return render(BASE)


@pytest.fixture(scope="module")
def service_monitor_objects(tmp_path_factory) -> list[dict]:
    """The base with the ServiceMonitor component switched on, as the comment in
    kustomization.yaml says (uncomment ``components``)."""
    copy = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(BASE, copy)
    path = copy / "kustomization.yaml"
    text = path.read_text()
    switched = text.replace(
        "# components:\n#   - servicemonitor", "components:\n  - servicemonitor"
    )
    assert switched != text, "kustomization.yaml no longer has the commented component"
    path.write_text(switched)
    return render(copy)


def release_label() -> str:
    """The value kustomization.yaml's patch gives the monitoring objects' ``release``."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    (patch,) = [p for p in kustomization["patches"] if p["target"] == {"group": MONITOR_GROUP}]
    (op,) = yaml.safe_load(patch["patch"])
    assert op["path"] == "/metadata/labels/release"
    return op["value"]


def find(objects, kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_generated_files_are_current():
    for path, text in _generator().generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: python deploy/kubernetes/generate.py --write"
        )


def test_core_objects_validate_against_the_kubernetes_schemas(objects, service_monitor_objects):
    kinds = [o["kind"] for o in objects]
    assert set(kinds) >= CORE_KINDS | {"PodMonitor", "PrometheusRule"}
    assert "ServiceMonitor" not in kinds
    variant = [o["kind"] for o in service_monitor_objects]
    assert "ServiceMonitor" in variant and "PodMonitor" not in variant
    for obj in objects + service_monitor_objects:
        if obj["kind"] in CORE_KINDS:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    broken = find(objects, "Deployment", "aga-serving")
    broken = {**broken, "spec": {**broken["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_serving_pod_probes_ports_and_aga_otel_config_agree(objects):
    serving = find(objects, "Deployment", "aga-serving")
    pod = serving["spec"]["template"]
    assert serving["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    c = container(serving)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}

    config_map = find(objects, "ConfigMap", "aga-otel-config")
    cfg = ObservabilityConfig.from_dict(yaml.safe_load(config_map["data"]["aga-otel.yaml"]))
    assert (ports["metrics"], ports["health"]) == (cfg.prometheus_port, cfg.health_port)
    assert cfg.audit_storage_backend == "postgresql" and "@" in cfg.audit_dsn
    assert ":" not in cfg.audit_dsn.split("@")[0].split("//")[1]  # no password in the file
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts[cfg.audit_spill_dir] == "audit-spill"
    assert "/etc/aga-otel/aga-otel.yaml" in c["args"] and mounts["/etc/aga-otel"] == "config"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["AGA_OTEL_CONFIG"] == "/etc/aga-otel/aga-otel.yaml"  # the zero-code path too
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "aga-otel-config"
    password = next(e for e in c["env"] if e["name"] == "PGPASSWORD")
    assert "secretKeyRef" in password["valueFrom"]
    collector = find(objects, "Service", "otel-collector")
    host, port = cfg.otlp_endpoint.split("//")[1].split(":")
    assert host == "otel-collector" and int(port) in [p["port"] for p in collector["spec"]["ports"]]

    monitor = find(objects, "PodMonitor", "aga-serving")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


def test_monitors_and_rules_carry_the_release_label(objects, service_monitor_objects):
    """kube-prometheus-stack selects by ``release``; every monitoring object has it, in
    both variants, with the value set once in kustomization.yaml."""
    release = release_label()
    assert release == "kube-prometheus-stack"  # the chart's release name in its README
    monitoring = [o for o in objects + service_monitor_objects
                  if o["apiVersion"].startswith(MONITOR_GROUP + "/")]  # fmt: skip
    assert {o["kind"] for o in monitoring} == {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
    for obj in monitoring:
        assert obj["metadata"]["labels"]["release"] == release, obj["kind"]
    others = [o for o in objects if o not in monitoring]
    assert all("release" not in o["metadata"].get("labels", {}) for o in others)


def test_service_monitor_finds_the_serving_pods_metrics_port(service_monitor_objects):
    objs = service_monitor_objects
    pod = find(objs, "Deployment", "aga-serving")["spec"]["template"]
    service = find(objs, "Service", "aga-serving-metrics")
    monitor = find(objs, "ServiceMonitor", "aga-serving")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["clusterIP"] == "None"  # each pod its own target
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (port,) = service["spec"]["ports"]
    ports = {p["name"]: p["containerPort"] for p in container({"spec": {"template": pod}})["ports"]}
    assert (port["name"], port["targetPort"], port["port"]) == (
        "metrics",
        "metrics",
        ports["metrics"],
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"


def test_dashboards_config_map_is_labelled_for_the_grafana_sidecar(objects):
    config_map = find(objects, "ConfigMap", "aga-otel-dashboards")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = {f.name: f.read_text() for f in sorted((ROOT / "dashboards").glob("*.json"))}
    assert files and config_map["data"] == files
    for text in config_map["data"].values():
        dashboard = json.loads(text)
        assert dashboard["uid"] and dashboard["panels"]
        # the sidecar does not resolve __inputs: the datasource must be a variable
        assert "__inputs" not in dashboard
        assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])


def _monitor_endpoints(objs: list[dict]) -> list[dict]:
    out = []
    for o in objs:
        if o["kind"] == "PodMonitor":
            out += o["spec"]["podMetricsEndpoints"]
        elif o["kind"] == "ServiceMonitor":
            out += o["spec"]["endpoints"]
    return out


def _serving_env(objects) -> dict[str, str]:
    """The serving container's environment as the kubelet expands it for pod POD_NAME."""
    env = container(find(objects, "Deployment", "aga-serving"))["env"]
    field_values = {"metadata.name": POD_NAME, "metadata.namespace": "default"}
    out = {}
    for e in env:
        if "value" in e:
            value = e["value"]
            for name, resolved in out.items():  # $(VAR) of an earlier variable
                value = value.replace(f"$({name})", resolved)
            out[e["name"]] = value
        elif "fieldRef" in e["valueFrom"]:
            out[e["name"]] = field_values[e["valueFrom"]["fieldRef"]["fieldPath"]]
    return out


def _serving_config(objects, env: dict[str, str], tmp_path: Path) -> ObservabilityConfig:
    """The pod's ObservabilityConfig: its config file resolved with its environment."""
    text = find(objects, "ConfigMap", "aga-otel-config")["data"]["aga-otel.yaml"]
    path = tmp_path / "aga-otel.yaml"
    path.write_text(text)
    return ObservabilityConfig().resolve(env=env, config_file=path)


def test_service_instance_id_is_the_pod_name(objects, tmp_path):
    env = _serving_env(objects)
    cfg = _serving_config(objects, env, tmp_path)
    assert cfg.service_instance_id == POD_NAME
    # the stack's resource (spans, log records), the audit chain and alert payloads read it
    local = cfg.replace(prometheus_port=0, health_enabled=False, audit_storage_backend="memory",
                        otlp_logs_enabled=False, otlp_endpoint=None)  # fmt: skip
    stack = ObservabilityStack(SimulatedPlugin().event_bus, local)
    assert stack.instance_id == POD_NAME


def test_zero_code_model_server_in_the_pod_takes_the_pods_ports_and_identity(objects, tmp_path):
    """aga-core's setup_observability path reads AGAConfig (port 9090); in the pod the
    AGA_OTEL_CONFIG file wins, so the metrics port is the one the monitors scrape."""
    env = _serving_env(objects)
    text = find(objects, "ConfigMap", "aga-otel-config")["data"]["aga-otel.yaml"]
    path = tmp_path / "aga-otel.yaml"
    path.write_text(text)
    cfg = resolve_config(SimulatedConfig(), {**env, "AGA_OTEL_CONFIG": str(path)})
    assert SimulatedConfig().prometheus_port == 9090
    ports = {
        p["name"]: p["containerPort"]
        for p in container(find(objects, "Deployment", "aga-serving"))["ports"]
    }
    assert (cfg.prometheus_port, cfg.health_port) == (ports["metrics"], ports["health"])
    assert cfg.service_instance_id == POD_NAME and cfg.service_name == "aga-serving"


@pytest.mark.parametrize("variant", ["podmonitor", "servicemonitor"])
def test_prometheus_labels_the_pod_as_its_alerts_do(
    variant, objects, service_monitor_objects, tmp_path
):
    """A real Prometheus, given the monitor's relabelings and the labels the Operator's
    Kubernetes discovery gives the target, scrapes a real aga-otel started with the pod's
    config and environment: its series carry job = service_name and instance = the pod
    name, the job/instance the in-process engine puts on its alerts."""
    require_binary(PROMETHEUS)
    objs = objects if variant == "podmonitor" else service_monitor_objects
    (endpoint,) = _monitor_endpoints(objs)
    env = _serving_env(objs)
    cfg = _serving_config(objs, env, tmp_path)
    port = free_port()
    demo = _start_demo(tmp_path, cfg.service_name, env["OTEL_RESOURCE_ATTRIBUTES"], port)
    snake = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    relabel = [{snake.get(k, k): v for k, v in r.items()} for r in endpoint["relabelings"]]
    discovered = {  # a subset of what the Operator's kubernetes_sd sets for the target
        "__meta_kubernetes_pod_name": POD_NAME,
        "__meta_kubernetes_namespace": "default",
    }
    scrape = {
        "job_name": "default/aga-serving/0",  # the Operator's job name; relabeled below
        "scrape_interval": "1s",
        "metrics_path": endpoint["path"],
        "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": discovered}],
        "relabel_configs": relabel,
    }
    prom = None
    try:
        prom = Prometheus(tmp_path, {"scrape_configs": [scrape]})
        wait_for(lambda: prom.query("aga_otel_events_received_total"), 20, "a scraped series")
        labels = {(s["metric"]["job"], s["metric"]["instance"])
                  for s in prom.query("aga_otel_events_received_total")}  # fmt: skip
        assert (
            labels == {(cfg.service_name, cfg.service_instance_id)} == {("aga-serving", POD_NAME)}
        )
    finally:
        if prom is not None:
            prom.close()
        stop(demo)


def _start_demo(tmp_path: Path, service_name: str, resource_attributes: str, port: int):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_SERVICE_NAME=service_name, OTEL_RESOURCE_ATTRIBUTES=resource_attributes)
    cmd = [sys.executable, "-m", "aga_otel", "demo", "--duration", "60", "--quiet",
           "--prometheus-port", str(port), "--health-port", "0"]  # fmt: skip
    log = tmp_path / "demo.log"
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def test_collector_delivers_every_pipeline_to_a_deployed_exporter(objects):
    """No ``nop`` and no Jaeger: logs and spans reach the debug exporter (stdout), metrics
    the prometheus exporter; everything else is the bundled config unchanged."""
    generator = _generator()
    bundled = yaml.safe_load((ROOT / "collector" / "otel-collector.yaml").read_text())
    config_map = find(objects, "ConfigMap", "otel-collector-config")
    text = config_map["data"]["config.yaml"]
    assert "debug exporter" in text.splitlines()[0] + text.splitlines()[1]  # says so on top
    config = yaml.safe_load(text)
    pipelines = config["service"]["pipelines"]
    assert {s: p["exporters"] for s, p in pipelines.items()} == {
        "metrics": ["prometheus"], "logs": ["debug"], "traces": ["debug"],
    } == generator.COLLECTOR_EXPORTERS  # fmt: skip
    assert set(config["exporters"]) == {"prometheus", "debug"}
    assert config["exporters"]["debug"] == {"verbosity": "detailed"}
    assert "jaeger" not in text and "nop" not in text
    for signal, pipeline in pipelines.items():
        bundled_pipeline = {k: v for k, v in bundled["service"]["pipelines"][signal].items()
                            if k != "exporters"}  # fmt: skip
        assert {k: v for k, v in pipeline.items() if k != "exporters"} == bundled_pipeline
    same = ("extensions", "receivers", "processors")
    assert {k: config[k] for k in same} == {k: bundled[k] for k in same}
    assert config["exporters"]["prometheus"] == bundled["exporters"]["prometheus"]
    # the serving pods push logs to this Collector, so the pipeline's destination is real
    cfg = ObservabilityConfig.from_dict(
        yaml.safe_load(find(objects, "ConfigMap", "aga-otel-config")["data"]["aga-otel.yaml"])
    )
    assert cfg.otlp_logs_enabled and cfg.otlp_endpoint.startswith("http://otel-collector:")


def test_collector_runs_the_generated_config(objects):
    deployment = find(objects, "Deployment", "otel-collector")
    c = container(deployment)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert c["args"] == [f"--config={mounts['config']}/config.yaml"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "otel-collector-config"
    otel = yaml.safe_load(
        find(objects, "ConfigMap", "otel-collector-config")["data"]["config.yaml"]
    )
    health_port = int(otel["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["health"] == health_port and c["livenessProbe"]["httpGet"]["port"] == "health"
    grpc = otel["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert ports["otlp-grpc"] == int(grpc.rsplit(":", 1)[1])
    compose = yaml.safe_load((ROOT / "collector" / "docker-compose.yml").read_text())
    assert c["image"] == compose["services"]["otel-collector"]["image"]


def test_prometheus_rule_holds_the_bundled_rule_groups(objects):
    rule = find(objects, "PrometheusRule", "aga-otel")
    bundled = [g for f in sorted((ROOT / "collector/prometheus/rules").glob("*.yml"))
               for g in yaml.safe_load(f.read_text())["groups"]]  # fmt: skip
    key = lambda g: g["name"]  # noqa: E731
    assert sorted(rule["spec"]["groups"], key=key) == sorted(bundled, key=key)


def test_promtool_accepts_the_prometheus_rule_groups(objects, tmp_path):
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool (Debian prometheus) not installed")
    rule = find(objects, "PrometheusRule", "aga-otel")
    path = tmp_path / "groups.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
