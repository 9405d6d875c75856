"""Issue 16: one scrape shows every worker of a multi-process server.

Real ``os.fork()`` workers (forked after the stack started) and ``multiprocessing`` spawn
workers (a stack built in each): exact totals on one scrape, a killed worker's counts kept
and its gauges gone, a restarted worker adding to the totals.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
import urllib.request

import pytest
from conftest import local_config
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.contract import EventBus, SimulatedPlugin, WorkloadProfile, WorkloadSimulator
from aga_otel.exporters.multiprocess import reduce_snapshot
from aga_otel.stack import ObservabilityStack

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")
FORWARD = sc.metric("forward").prometheus_name
DURATION = sc.metric("forward_duration")
QUEUE = sc.metric("queue_depth").prometheus_name


def scrape(port: int) -> dict[str, list]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def total(samples: dict, name: str) -> float:
    return sum(s.value for s in samples.get(name, []))


def gauge_workers(samples: dict) -> set[str]:
    assert all("worker" in s.labels for s in samples.get(QUEUE, []))
    return {s.labels["worker"] for s in samples.get(QUEUE, [])}


def emit(stack: ObservabilityStack, plugin, steps: int, seed: int) -> dict:
    """Emit, write this worker's file now, and say what was emitted."""
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=seed)
    sim.run_steps(steps)
    stack.force_flush()
    own = {m["name"]: m for m in reduce_snapshot(stack.reader.snapshot())}
    durations = sum(sum(p["counts"]) for p in own[DURATION.name]["points"])
    return {"index": stack.worker_files.index, "forward": sum(sim.totals.forward.values()),
            "durations": durations, "pid": os.getpid()}  # fmt: skip


def fork_worker(stack, plugin, steps: int, seed: int, exit_after: bool) -> tuple[int, dict]:
    """A forked worker that emits, reports over a pipe, then waits to be killed (or exits)."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_fd)
            os.write(write_fd, json.dumps(emit(stack, plugin, steps, seed)).encode())
            os.close(write_fd)
            if exit_after:
                stack.shutdown(timeout=5)
                code = 0
            else:
                time.sleep(120)
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        report = json.loads(pipe.read())
    return pid, report


def test_forked_workers_one_scrape_kill_and_restart(tmp_path, make_stack):
    plugin = SimulatedPlugin()
    config = local_config(
        prometheus_multiprocess_dir=str(tmp_path / "mp"), prometheus_multiprocess_interval=0.2
    )
    stack = make_stack(plugin.event_bus, config)
    port = stack.prometheus.port
    assert stack.worker_files.index == 0
    workers = [fork_worker(stack, plugin, 6 + i, seed=i, exit_after=False) for i in range(3)]
    pids = [pid for pid, _ in workers]
    try:
        reports = [r for _, r in workers]
        assert sorted(r["index"] for r in reports) == [1, 2, 3]
        forward = sum(r["forward"] for r in reports)
        durations = sum(r["durations"] for r in reports)
        assert forward > 0
        one = scrape(port)
        assert total(one, FORWARD) == forward
        assert total(one, DURATION.prometheus_name + "_count") == durations
        assert all("worker" not in s.labels for s in one[FORWARD])  # no per-worker series
        assert gauge_workers(one) == {"0", "1", "2", "3"}

        killed = reports[1]
        os.kill(pids[1], signal.SIGKILL)
        os.waitpid(pids[1], 0)
        after = scrape(port)
        assert total(after, FORWARD) == forward  # a dead worker's counts stay
        assert gauge_workers(after) == {"0", "1", "2", "3"} - {str(killed["index"])}

        pid, again = fork_worker(stack, plugin, 4, seed=9, exit_after=True)
        os.waitpid(pid, 0)
        assert again["index"] == killed["index"]  # the freed index is taken again
        restarted = scrape(port)
        assert total(restarted, FORWARD) == forward + again["forward"]
        assert gauge_workers(restarted) == {"0", "1", "2", "3"} - {str(killed["index"])}
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def spawned_worker(directory: str, port: int, steps: int, seed: int, out, stop) -> None:
    """A worker started fresh (spawn) with its own stack, as a pre-fork server's app would."""
    config = local_config(
        prometheus_port=port, prometheus_multiprocess_dir=directory,
        prometheus_multiprocess_interval=0.2,
    )  # fmt: skip
    plugin = SimulatedPlugin(event_bus=EventBus())
    stack = ObservabilityStack(plugin.event_bus, config, env={}).start()
    report = emit(stack, plugin, steps, seed)
    report["prometheus"] = stack.status.get("metrics.prometheus").detail
    out.put(report)
    stop.wait(120)
    stack.shutdown(timeout=5)


def test_spawned_workers_one_scrape_kill_and_restart(tmp_path, make_stack):
    directory = str(tmp_path / "mp")
    owner = make_stack(EventBus(), local_config(prometheus_multiprocess_dir=directory))
    port = owner.prometheus.port
    ctx = multiprocessing.get_context("spawn")
    out, stops = ctx.Queue(), []

    def start(steps: int, seed: int):
        # One stop event each: a killed waiter would leave a shared one unusable.
        stops.append(ctx.Event())
        p = ctx.Process(target=spawned_worker, args=(directory, port, steps, seed, out, stops[-1]))
        p.start()
        return p, out.get(timeout=60)

    procs = []
    try:
        (a, ra), (b, rb) = start(5, 1), start(7, 2)
        procs += [a, b]
        assert {ra["index"], rb["index"]} == {1, 2}
        assert "merged view served by worker 0" in ra["prometheus"]  # no bind error
        forward = ra["forward"] + rb["forward"]
        one = scrape(port)
        assert total(one, FORWARD) == forward
        assert total(one, DURATION.prometheus_name + "_count") == ra["durations"] + rb["durations"]
        assert gauge_workers(one) == {"0", "1", "2"}

        a.kill()
        a.join(30)
        after = scrape(port)
        assert total(after, FORWARD) == forward
        assert gauge_workers(after) == {"0", "1", "2"} - {str(ra["index"])}

        c, rc = start(3, 3)
        procs.append(c)
        assert rc["index"] == ra["index"]
        restarted = scrape(port)
        assert total(restarted, FORWARD) == forward + rc["forward"]
        assert gauge_workers(restarted) == {"0", "1", "2"}
    finally:
        for p, stop in zip(procs, stops):
            if p.is_alive():
                stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()


def test_unusable_directory_degrades_only_the_merge(tmp_path, make_stack, caplog):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    plugin = SimulatedPlugin()
    stack = make_stack(plugin.event_bus, local_config(prometheus_multiprocess_dir=str(not_a_dir)))
    state = stack.status.get("metrics.multiprocess")
    assert state.status.name == "UNHEALTHY" and str(not_a_dir) in state.detail
    assert any("multi-worker metrics off" in r.getMessage() for r in caplog.records)
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=4)
    sim.run_steps(3)
    stack.force_flush()  # this process's own /metrics still serves its own counts
    assert total(scrape(stack.prometheus.port), FORWARD) == sum(sim.totals.forward.values())


def test_a_port_held_by_another_program_is_still_an_error(tmp_path, make_stack, caplog, busy_port):
    config = local_config(prometheus_port=busy_port, prometheus_multiprocess_dir=str(tmp_path))
    stack = make_stack(EventBus(), config)
    assert stack.status.get("metrics.prometheus").status.name == "UNHEALTHY"
    assert any("could not bind" in r.getMessage() for r in caplog.records)
    assert stack.worker_files.index == 0  # it still writes its file for a merging peer
