"""The bundled stack, checked structurally (no docker engine here): the Collector
pipelines, docker-compose services and mounts, the ports every part agrees on, and the
metrics → exemplar → trace chain (Collector → Prometheus → Grafana → Jaeger)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aga_otel.alerts import promrules
from aga_otel.config import ObservabilityConfig
from aga_otel.dashboards import DASHBOARDS

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = ROOT / "collector"
DEFAULTS = ObservabilityConfig()
# Current contrib component names (deprecated aliases such as `logging` are not allowed).
KNOWN = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "transform", "batch"},
    "exporters": {"prometheus", "debug", "otlp", "nop"},
    "extensions": {"health_check"},
}


def load(rel: str) -> dict:
    return yaml.safe_load((COLLECTOR / rel).read_text())


@pytest.fixture(scope="module")
def otel() -> dict:
    return load("otel-collector.yaml")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("docker-compose.yml")


@pytest.fixture(scope="module")
def prometheus() -> dict:
    return load("prometheus/prometheus.yml")


_ENV = re.compile(r"\$\{env:(\w+)(?::-([^}]*))?\}")


def expand(value: str, env: dict[str, str] | None = None) -> str:
    """The Collector's ``${env:NAME:-default}`` expansion, with ``env`` instead of os.environ."""
    return _ENV.sub(lambda m: (env or {}).get(m[1], m[2] or ""), value)


def pipeline_exporters(otel: dict, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    return {
        name: [expand(e, env) for e in p["exporters"]]
        for name, p in otel["service"]["pipelines"].items()
    }


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(duration[:-1]) * units[duration[-1]]


def port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1].split("/")[0])


def published(service: dict) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", [])}


def exposed(service: dict) -> set[int]:
    """Ports reachable from the compose network: published or only exposed."""
    return published(service) | {int(str(p).split("/")[0]) for p in service.get("expose", [])}


def host_port(url: str) -> tuple[str, int]:
    host, _, rest = url.split("://", 1)[-1].partition(":")
    return host, int(rest.split("/")[0])


def mounts(service: dict) -> dict[str, str]:
    """container path → host path (relative to collector/) of each bind mount."""
    out = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        out[container] = host
    return out


def test_every_pipeline_component_is_defined_and_current(otel):
    pipelines = otel["service"]["pipelines"]
    assert {"metrics", "logs", "traces"} <= set(pipelines)
    for env in ({}, {"COLLECTOR_DEBUG_EXPORTER": "debug"}):
        for name, pipeline in pipelines.items():
            for kind in ("receivers", "processors", "exporters"):
                for component in map(lambda c: expand(c, env), pipeline.get(kind, [])):
                    assert component in (otel.get(kind) or {}), f"{name}: {kind[:-1]} {component}"
                    assert component.split("/")[0] in KNOWN[kind], f"unexpected {component}"
            # memory_limiter must run before anything else buffers data, batch last
            assert pipeline["processors"][0] == "memory_limiter", name
            assert pipeline["processors"][-1] == "batch", name
    for ext in otel["service"]["extensions"]:
        assert ext in otel["extensions"] and ext in KNOWN["extensions"]
    assert "logging" not in otel["exporters"]


def test_collector_endpoints(otel):
    protocols = otel["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    prom = otel["exporters"]["prometheus"]
    assert port(prom["endpoint"]) == 8889
    assert otel["extensions"]["health_check"]["endpoint"].startswith("0.0.0.0:")


def test_resource_attributes_become_labels_one_by_one_never_the_instance_uuid(otel):
    """No copy of every resource attribute (telemetry_sdk_*, service_instance_id) onto every
    series: job/instance come from the exporter, chosen attributes from transform/promote."""
    assert otel["exporters"]["prometheus"]["resource_to_telemetry_conversion"]["enabled"] is False
    assert "transform/promote" in otel["service"]["pipelines"]["metrics"]["processors"]
    statements = [s for group in otel["processors"]["transform/promote"]["metric_statements"]
                  for s in group["statements"]]  # fmt: skip
    promoted = {re.match(r'set\(attributes\["(\w+)"\], resource\.attributes\["([\w.]+)"\]\)',
                         s).groups() for s in statements}  # fmt: skip
    assert promoted == {
        ("service_name", "service.name"),
        ("service_namespace", "service.namespace"),
        ("model", "model"),
    }
    assert "service.instance.id" not in str(otel["processors"])


def test_debug_exporter_only_on_request(otel, compose):
    assert all("debug" not in e for e in pipeline_exporters(otel).values())
    on_request = pipeline_exporters(otel, {"COLLECTOR_DEBUG_EXPORTER": "debug"})
    assert all("debug" in e for e in on_request.values())
    env = compose["services"]["otel-collector"]["environment"]
    assert env["COLLECTOR_DEBUG_EXPORTER"] == "${COLLECTOR_DEBUG_EXPORTER:-nop}"


def test_stale_replicas_expire_after_a_few_missed_exports(otel):
    """A replica that stopped pushing must disappear (AgaOtelInstanceAbsent), but a live one
    exporting at aga-otel's default interval must never expire between two exports."""
    expiration = seconds(otel["exporters"]["prometheus"]["metric_expiration"])
    assert 2 * DEFAULTS.export_interval < expiration <= 300


def test_collector_own_metrics_are_served_and_scraped(otel, compose, prometheus):
    (reader,) = otel["service"]["telemetry"]["metrics"]["readers"]
    exporter = reader["pull"]["exporter"]["prometheus"]
    assert exporter["host"] == "0.0.0.0"
    assert exporter["port"] in exposed(compose["services"]["otel-collector"])
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    targets = jobs["otel-collector-telemetry"]["static_configs"][0]["targets"]
    assert targets == [f"otel-collector:{exporter['port']}"]


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        # PostgreSQL's releases are MAJOR.MINOR: two numbers pin them as fully.
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?", image), f"{name}: {image} not pinned"


def test_every_mounted_file_exists(compose):
    for name, service in compose["services"].items():
        for container, host in mounts(service).items():
            assert (COLLECTOR / host).exists(), f"{name}: {host} (→ {container}) missing"
        build = service.get("build")
        if build:
            assert (COLLECTOR / build["context"] / build["dockerfile"]).is_file(), name


def test_collector_service_mounts_its_config_and_publishes_its_ports(compose, otel):
    service = compose["services"]["otel-collector"]
    config_arg = next(a for a in service["command"] if a.startswith("--config="))
    assert mounts(service)[config_arg.split("=", 1)[1]] == "./otel-collector.yaml"
    endpoints = [p["endpoint"] for p in otel["receivers"]["otlp"]["protocols"].values()]
    endpoints += [otel["exporters"]["prometheus"]["endpoint"]]
    endpoints += [otel["extensions"]["health_check"]["endpoint"]]
    assert {port(e) for e in endpoints} <= published(service)


def test_demo_service_pushes_to_the_collector(compose, otel):
    demo = compose["services"]["aga-demo"]
    assert demo["deploy"]["replicas"] >= 2
    args = demo["command"]
    assert "--tracing" in args  # request spans: exemplars and parented AGA spans
    endpoint = args[args.index("--otlp-endpoint") + 1]
    protocol = args[args.index("--otlp-protocol") + 1]
    receiver = otel["receivers"]["otlp"]["protocols"]["grpc" if protocol == "grpc" else "http"]
    assert endpoint == f"http://otel-collector:{port(receiver['endpoint'])}"
    # the demo's own ports are aga-otel's defaults, exposed by the image and the service
    dockerfile = (COLLECTOR / demo["build"]["context"] / demo["build"]["dockerfile"]).read_text()
    exposed = {
        int(p) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M) for p in line.split()
    }
    assert {DEFAULTS.prometheus_port, DEFAULTS.health_port} <= exposed
    assert {int(p) for p in demo["expose"]} == exposed
    probe = " ".join(demo["healthcheck"]["test"])
    assert f"localhost:{DEFAULTS.health_port}{DEFAULTS.health_path}" in probe


def test_prometheus_scrapes_the_collector_and_loads_the_rules(compose, prometheus, otel):
    assert seconds(prometheus["global"]["scrape_interval"]) == promrules.SCRAPE_INTERVAL_SECONDS
    assert (
        seconds(prometheus["global"]["evaluation_interval"])
        == promrules.EVALUATION_INTERVAL_SECONDS
    )
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    target = jobs["otel-collector"]["static_configs"][0]["targets"][0]
    assert target == f"otel-collector:{port(otel['exporters']['prometheus']['endpoint'])}"
    assert jobs["otel-collector"]["honor_labels"] is True
    service = compose["services"]["prometheus"]
    m = mounts(service)
    config_arg = next(a for a in service["command"] if a.startswith("--config.file="))
    config_path = config_arg.split("=", 1)[1].split()[0]
    # the folder is mounted, and rule_files are relative to the config: the same paths
    # resolve inside the container and in the repository (promtool check config)
    folder, _, config_name = config_path.rpartition("/")
    assert m[folder] == "./prometheus" and (COLLECTOR / "prometheus" / config_name).is_file()
    assert prometheus["rule_files"] == ["rules/*.yml"]
    am = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert am.split(":")[0] in compose["services"]
    assert port(am) in published(compose["services"]["alertmanager"])
    assert 9090 in published(service)


def test_rule_windows_cover_four_scrape_intervals(prometheus):
    interval = seconds(prometheus["global"]["scrape_interval"])
    units = {"s": 1, "m": 60, "h": 3600}
    windows = []
    for path in sorted((COLLECTOR / "prometheus" / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group["rules"]:
                for n, unit in re.findall(r"\[(\d+)([smh])\]", rule["expr"]):
                    windows.append((int(n) * units[unit], rule.get("alert") or rule.get("record")))
    assert all(w >= 4 * interval for w, _ in windows), [r for w, r in windows if w < 4 * interval]


def test_alertmanager_routes_to_defined_receivers():
    am = load("alertmanager/alertmanager.yml")
    names = {r["name"] for r in am["receivers"]}
    routes = [am["route"], *am["route"].get("routes", [])]
    assert all(r["receiver"] in names for r in routes)


def test_grafana_provisioning(compose):
    grafana = compose["services"]["grafana"]
    m = mounts(grafana)
    datasources = load("grafana/provisioning/datasources/datasources.yml")["datasources"]
    prom = next(d for d in datasources if d["type"] == "prometheus")
    assert prom["uid"] == "aga-prometheus" and prom["isDefault"] is True
    assert prom["url"] == "http://prometheus:9090"
    assert (
        prom["jsonData"]["timeInterval"]
        == load("prometheus/prometheus.yml")["global"]["scrape_interval"]
    )
    providers = load("grafana/provisioning/dashboards/dashboards.yml")["providers"]
    path = providers[0]["options"]["path"]
    assert m[path] == "../dashboards"
    for name in DASHBOARDS:
        assert (COLLECTOR / m[path] / name).is_file(), name
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(path + "/") and home.rsplit("/", 1)[1] in DASHBOARDS


def test_traces_pipeline_exports_to_the_trace_backend(compose, otel):
    traces = otel["service"]["pipelines"]["traces"]
    backends = [e for e in traces["exporters"] if e.split("/")[0] == "otlp"]
    assert backends, "the traces pipeline has no OTLP exporter to a trace backend"
    for name in backends:
        exporter = otel["exporters"][name]
        host, port_ = host_port(exporter["endpoint"])
        assert host in compose["services"], f"{name}: {host} is not a compose service"
        backend = compose["services"][host]
        assert port_ in exposed(backend), f"{name}: {host} does not expose {port_}"
        assert exporter["tls"]["insecure"] is True  # Jaeger's receiver is plain gRPC here
        assert host in compose["services"]["otel-collector"]["depends_on"]
    jaeger = compose["services"]["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert 16686 in published(jaeger)  # the UI, linked from the docs and Grafana


def test_collector_writes_exemplars(otel):
    # Exemplars are only exposed in the OpenMetrics format.
    assert otel["exporters"]["prometheus"]["enable_open_metrics"] is True
    assert "prometheus" in otel["service"]["pipelines"]["metrics"]["exporters"]


def test_prometheus_stores_exemplars(compose, prometheus):
    service = compose["services"]["prometheus"]
    features = {
        f
        for arg in service["command"]
        if arg.startswith("--enable-feature=")
        for f in arg.split("=", 1)[1].split(",")
    }
    assert "exemplar-storage" in features
    assert prometheus["storage"]["exemplars"]["max_exemplars"] > 0
    # The default scrape protocols ask for OpenMetrics first; an override must too.
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "otel-collector")
    protocols = job.get("scrape_protocols") or prometheus["global"].get("scrape_protocols")
    assert not protocols or protocols[0].startswith("OpenMetricsText"), protocols
    version = tuple(int(n) for n in service["image"].rsplit(":v", 1)[1].split("."))
    assert version >= (2, 55, 0)  # the release whose defaults the comments describe


def test_grafana_links_exemplars_to_the_trace_datasource(compose):
    datasources = load("grafana/provisioning/datasources/datasources.yml")["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    assert len(by_uid) == len(datasources), "datasource uids must be unique"
    prom = next(d for d in datasources if d["type"] == "prometheus")
    destinations = prom["jsonData"]["exemplarTraceIdDestinations"]
    # trace_id: the exemplar label the Collector's prometheus exporter writes
    assert [d["name"] for d in destinations] == ["trace_id"]
    target = by_uid[destinations[0]["datasourceUid"]]
    assert target["type"] == "jaeger"
    host, port_ = host_port(target["url"])
    assert host in compose["services"] and port_ in exposed(compose["services"][host])
    assert host in compose["services"]["grafana"]["depends_on"]


def test_compose_file_has_no_top_level_name_and_a_project_name_for_both_composes(compose):
    assert set(compose) == {"services"}  # docker-compose 1.29 refuses `name:` (and `version:`)
    env = dict(line.split("=", 1) for line in (COLLECTOR / ".env").read_text().split())
    assert env["COMPOSE_PROJECT_NAME"] == "aga-otel"


def test_debians_docker_compose_accepts_the_file():
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("docker-compose missing in CI: run scripts/install-system-deps.sh")
        pytest.skip("docker-compose not installed (Debian package docker-compose)")
    res = subprocess.run([found, "-f", str(COLLECTOR / "docker-compose.yml"), "config"],
                         capture_output=True, text=True, timeout=60, cwd=COLLECTOR)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    resolved = yaml.safe_load(res.stdout)
    assert resolved["services"]["aga-demo"]["deploy"]["replicas"] == 2
    assert resolved["services"]["otel-collector"]["environment"] == {
        "COLLECTOR_DEBUG_EXPORTER": "nop"
    }
