"""prometheus_client's ``PROMETHEUS_MULTIPROC_DIR`` turns on multi-worker mode (issue 24).

Which source wins (a table on the real ``resolve()``), then real spawned workers configured
by the variable alone, one scrape with exact sums, and prometheus_client's own multiprocess
metrics in the same directory, read by its own collector, untouched by aga-otel's files.
"""

from __future__ import annotations

import multiprocessing
import os

import pytest
from conftest import local_config
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from test_prometheus_multiworker import DURATION, FORWARD, emit, gauge_workers, scrape, total

from aga_otel import ObservabilityConfig
from aga_otel._config_sources import PROMETHEUS_MULTIPROC_DIR
from aga_otel.contract import EventBus, SimulatedPlugin
from aga_otel.stack import ObservabilityStack

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="flock() is POSIX only")
APP_COUNTER = "app_requests"  # the application's own prometheus_client counter


@pytest.mark.parametrize(
    ("code", "file_text", "variable", "expected"),
    [
        ({}, None, "/srv/prom", "/srv/prom"),  # the variable alone: multi-worker mode
        ({}, None, "", None),  # set but empty: not set
        ({}, None, None, None),
        ({"prometheus_multiprocess_dir": "/code"}, None, "/srv/prom", "/code"),  # code wins
        ({"prometheus_multiprocess_dir": None}, None, "/srv/prom", None),  # explicit opt-out
        ({}, "prometheus_multiprocess_dir: /file\n", "/srv/prom", "/file"),  # the file wins
        ({}, "prometheus_multiprocess_dir: null\n", "/srv/prom", None),
        ({}, "service_name: other\n", "/srv/prom", "/srv/prom"),  # a file without the field
    ],
)
def test_which_source_sets_the_directory(tmp_path, code, file_text, variable, expected):
    env = {} if variable is None else {PROMETHEUS_MULTIPROC_DIR: variable}
    config_file = None
    if file_text is not None:
        config_file = tmp_path / "aga.yaml"
        config_file.write_text(file_text)
    resolved = ObservabilityConfig(**code).resolve(env=env, config_file=config_file)
    assert resolved.prometheus_multiprocess_dir == expected
    if file_text is not None:  # the file loaded as explicit values (aga-otel demo --config)
        loaded = ObservabilityConfig.from_file(config_file).resolve(env=env)
        assert loaded.prometheus_multiprocess_dir == expected


def env_worker(port: int, steps: int, seed: int, out, stop) -> None:
    """A spawned worker whose only multi-worker setting is the inherited variable; it also
    counts requests with prometheus_client directly, as the application would."""
    from prometheus_client import Counter

    requests = Counter(APP_COUNTER, "requests the app served", registry=CollectorRegistry())
    requests.inc(seed)
    config = local_config(prometheus_port=port, prometheus_multiprocess_interval=0.2)
    plugin = SimulatedPlugin(event_bus=EventBus())
    stack = ObservabilityStack(plugin.event_bus, config).start()  # env: os.environ
    report = emit(stack, plugin, steps, seed)
    report["dir"] = stack.config.prometheus_multiprocess_dir
    report["prometheus"] = stack.status.get("metrics.prometheus").detail
    out.put(report)
    stop.wait(120)
    stack.shutdown(timeout=5)


def app_scrape(directory: str) -> dict[str, float]:
    """What the application's prometheus_client endpoint shows in multiprocess mode."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    text = generate_latest(registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_spawned_workers_configured_by_the_variable_alone(tmp_path, make_stack, monkeypatch):
    directory = str(tmp_path / "prometheus-multiproc")
    os.mkdir(directory)  # as the deployment does before starting gunicorn
    owner = make_stack(EventBus(), local_config(), env={PROMETHEUS_MULTIPROC_DIR: directory})
    assert owner.worker_files is not None and owner.worker_files.index == 0
    port = owner.prometheus.port
    monkeypatch.setenv(PROMETHEUS_MULTIPROC_DIR, directory)  # inherited by spawned workers
    ctx = multiprocessing.get_context("spawn")
    out, stops, procs, reports = ctx.Queue(), [], [], []
    try:
        for steps, seed in ((5, 1), (7, 2)):
            stops.append(ctx.Event())
            proc = ctx.Process(target=env_worker, args=(port, steps, seed, out, stops[-1]))
            proc.start()
            procs.append(proc)
            reports.append(out.get(timeout=60))
        assert [r["dir"] for r in reports] == [directory, directory]
        assert sorted(r["index"] for r in reports) == [1, 2]
        assert all("merged view served by worker 0" in r["prometheus"] for r in reports)
        one = scrape(port)  # one scrape of aga-otel's port: every worker, exact sums
        assert total(one, FORWARD) == sum(r["forward"] for r in reports) > 0
        assert total(one, DURATION.prometheus_name + "_count") == sum(
            r["durations"] for r in reports
        )
        assert gauge_workers(one) == {"0", "1", "2"}
        assert not any(name.startswith(APP_COUNTER) for name in one)
        # The application's own multiprocess metrics, from the same directory, are intact
        # and hold nothing of aga-otel's.
        app = app_scrape(directory)
        assert app[APP_COUNTER + "_total"] == 1 + 2
        assert not any(name.startswith("aga") for name in app)
    finally:
        for stop in stops:
            stop.set()
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


def test_a_reused_snapshot_is_not_written_again(tmp_path, make_stack):
    """An idle worker's consumer is handed the same shared snapshot until it is collected
    again: the file already holds it, so it is not rewritten (idle cost)."""
    plugin = SimulatedPlugin()
    quiet = local_config(prometheus_multiprocess_interval=3600.0)  # only this test writes
    stack = make_stack(plugin.event_bus, quiet, env={PROMETHEUS_MULTIPROC_DIR: str(tmp_path)})
    files = stack.worker_files
    emit(stack, plugin, 3, seed=1)
    snapshot = stack.reader.snapshot()
    files.consume(snapshot)
    written = files.path.read_text()
    files.consume(snapshot)  # the same object again
    assert files.path.read_text() == written  # (the document carries its write time)
    files.consume(stack.reader.snapshot())  # a new collection is written
    assert files.path.read_text() != written
