"""deploy/kubernetes: generated files current, core objects valid, rules accepted by promtool."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import require

from aga_otel import ObservabilityConfig

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.33"  # validated against this API version's schemas (strict: no unknown fields)
CORE_KINDS = {"Deployment", "Service", "ConfigMap"}


def _generator():
    spec = importlib.util.spec_from_file_location("k8s_generate", BASE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    """Every object of the kustomization's resources, in order."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    out = []
    for name in kustomization["resources"]:
        out += [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
    return out


def find(objects, kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_generated_files_are_current():
    for path, text in _generator().generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: python deploy/kubernetes/generate.py --write"
        )


def test_core_objects_validate_against_the_kubernetes_schemas(objects):
    kinds = [o["kind"] for o in objects]
    assert set(kinds) >= CORE_KINDS | {"PodMonitor", "PrometheusRule"}
    for obj in objects:
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


def test_collector_runs_the_bundled_config(objects):
    bundled = (ROOT / "collector" / "otel-collector.yaml").read_text()
    config_map = find(objects, "ConfigMap", "otel-collector-config")
    assert config_map["data"]["config.yaml"] == bundled
    deployment = find(objects, "Deployment", "otel-collector")
    c = container(deployment)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert c["args"] == [f"--config={mounts['config']}/config.yaml"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "otel-collector-config"
    otel = yaml.safe_load(bundled)
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
