"""A stack created before a real ``os.fork()`` keeps working in both processes.

The child must re-initialise (its own worker, queue and ``service.instance.id``, counts
from zero, no server port bound) and keep exporting over OTLP to the receiver the parent
started; the parent must be unaffected.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
from otlp_receiver import GrpcReceiver, HttpReceiver, attrs
from test_integration_support import isolated, scrape  # noqa: F401

from aga_otel import ObservabilityConfig
from aga_otel import semconv as sc
from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
from aga_otel.integration import get_global_stack, setup_observability, shutdown_observability

pytestmark = [
    pytest.mark.usefixtures("isolated"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only"),
]
FORWARD = sc.metric("forward").name
EXPORT_INTERVAL = 0.3  # seconds: the child must export periodically, not only on exit


def run(plugin, steps: int, seed: int) -> tuple[int, int]:
    """(forward events, all events) emitted by ``steps`` decoding steps."""
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=seed)
    sim.run_steps(steps)
    return sum(sim.totals.forward.values()), sim.totals.events


def forward_by_instance(received) -> dict[str, list[int]]:
    """Cumulative forward totals per ``service.instance.id``, one per export, in order."""
    out: dict[str, list[int]] = {}
    for req in list(received.requests["metrics"]):
        for rm in req.resource_metrics:
            iid = attrs(rm.resource.attributes)["service.instance.id"]
            total = sum(
                p.as_int
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.name == FORWARD
                for p in m.sum.data_points
            )
            out.setdefault(iid, []).append(total)
    return out


def fork_child(main, *args) -> tuple[int, int]:
    """Fork: the child runs ``main(*args, write_fd)``, which never returns; the parent gets
    ``(pid, read_fd)`` for :func:`child_report`."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        main(*args, write_fd)
    os.close(write_fd)
    return pid, read_fd


def child_report(pid: int, read_fd: int) -> dict:
    """Wait for the child; its JSON report (asserting it exited with 0)."""
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as pipe:
        report = json.loads(pipe.read() or b"{}")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report
    return report


def child_main(plugin, write_fd: int) -> None:
    """Runs in the forked child; reports over the pipe, never returns."""
    code = 1
    try:
        stack = get_global_stack()
        before = stack.get_stats()
        forward, events = run(plugin, steps=15, seed=2)
        time.sleep(EXPORT_INTERVAL * 5)  # periodic exports happen in the child too
        report = {
            "pid": os.getpid(),
            "forward": forward,
            "events": events,
            "instance_id": before["service_instance_id"],
            "prometheus_port": before["prometheus_port"],
            "worker_alive": stack.get_stats()["bridge"].get("worker_alive"),
            "received": stack.get_stats()["bridge"].get("received"),
        }
        shutdown_observability(timeout=5)
        os.write(write_fd, json.dumps(report).encode())
        code = 0
    except BaseException as exc:  # report anything: the parent asserts on it
        os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
    finally:
        os._exit(code)  # never fall back into pytest in the child


@pytest.mark.parametrize(
    ("receiver_cls", "protocol"), [(GrpcReceiver, "grpc"), (HttpReceiver, "http/protobuf")]
)
def test_forked_child_exports_its_own_metrics(receiver_cls, protocol):
    with receiver_cls() as receiver:
        config = ObservabilityConfig(
            prometheus_port=0, prometheus_host="127.0.0.1", health_enabled=False,
            otlp_endpoint=receiver.endpoint, otlp_protocol=protocol,
            export_interval=EXPORT_INTERVAL, log_enabled=False, alert_enabled=False,
        )  # fmt: skip
        plugin = SimulatedPlugin()
        stack = setup_observability(plugin.event_bus, config)
        assert stack is not None
        parent_id = stack.instance_id
        parent_port = stack.prometheus.port
        WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=1).start()
        parent_forward = run(plugin, steps=10, seed=1)[0]
        stack.force_flush()

        pid, read_fd = fork_child(child_main, plugin)
        # The parent keeps working while the child runs.
        parent_forward += run(plugin, steps=5, seed=3)[0]
        child = child_report(pid, read_fd)
        stack.force_flush()

        # Child: a new identity, its own running worker, no server port, counts from zero.
        assert child["pid"] != os.getpid()
        assert child["instance_id"] != parent_id
        assert child["prometheus_port"] is None
        assert child["worker_alive"] is True and child["received"] == child["events"]
        received = receiver.received
        received.wait_for(
            "metrics", lambda r: child["instance_id"] in forward_by_instance(received)
        )
        exports = forward_by_instance(received)
        child_totals = exports[child["instance_id"]]
        assert len(child_totals) >= 2, "the child exported only once (no periodic export)"
        assert child_totals[-1] == child["forward"]  # not parent's count + child's

        # Parent: same identity, same port, every one of its own events, none of the child's.
        assert stack.instance_id == parent_id and stack.get_stats()["running"]
        assert exports[parent_id][-1] == parent_forward
        assert sum(s.value for s in scrape(parent_port)["aga_forward_total"]) == parent_forward
        shutdown_observability(timeout=5)  # while the receiver still listens
