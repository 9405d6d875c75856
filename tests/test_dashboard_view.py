"""The dashboard's view model: pure functions, tested as input → output tables."""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from aga_otel import semconv as sc
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.snapshot import HistogramTotals
from aga_otel.contract import Event
from aga_otel.live.model import encode
from aga_otel.live.totals import Totals, layer_order, read_totals
from aga_otel.live.view import (
    alerts_view,
    audit_view,
    build_update,
    health_view,
    identity_view,
    window_view,
)
from aga_otel.metrics.reader import SharedMetricReader
from aga_otel.metrics.recorder import MetricsRecorder

FWD, RES = sc.prom("forward"), sc.prom("retrieval_results")
B = (0.001, 0.005)  # two-bucket latency histograms below: <=1 ms, <=5 ms, +Inf


def hist(counts, total_sum=0.0):
    return HistogramTotals(B, tuple(counts), sum(counts), total_sum)


def totals(t, applied=0, seen=0, lat=(0, 0, 0), results=0.0, layer="0"):
    return Totals(
        time=t,
        counters={FWD: float(seen), RES: results},
        forward={layer: (float(applied), float(seen))},
        histograms={"forward_duration": hist(lat)},
    )


# --- read_totals: a real SDK snapshot in, totals out --------------------------------------
def snapshot_after(events, per_layer=True):
    """A snapshot as the stack's shared reader takes it (forward metrics produced in bulk)."""
    resource = Resource.create({"service.name": "svc"})
    reader = SharedMetricReader()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    recorder = MetricsRecorder(provider.get_meter("t"), per_layer=per_layer)
    for producer in recorder.producers:
        reader.add_producer(producer, resource, InstrumentationScope("t"))
    recorder.handle_batch([Event(t, 1.0, d) for t, d in events])
    return reader.snapshot()


def fwd(layer, applied, latency_us, gate=0.5, entropy=1.0):
    return ("forward", {"aga_applied": applied, "gate_mean": gate, "entropy_mean": entropy,
                        "layer_idx": layer, "latency_us": latency_us})  # fmt: skip


RETRIEVAL = ("retrieval", {"layer_idx": 1, "results_count": 4, "injected_count": 2,
                           "budget_remaining": 3, "ids": ["a"], "scores": [0.9]})  # fmt: skip
AUDIT_FAIL = ("audit", {"operation": "register", "details": {}, "success": False,
                        "error": "x", "timestamp": 1.0})  # fmt: skip


@pytest.mark.parametrize(
    ("events", "per_layer", "expected"),
    [
        ([], True, {"forward": {}, "counters": {}}),
        (
            [fwd(0, True, 500), fwd(0, False, 2000), fwd(1, True, 9000)],
            True,
            {"forward": {"0": (1.0, 2.0), "1": (1.0, 1.0)}, "counters": {FWD: 3.0},
             "latency_count": {"0": 2, "1": 1}},
        ),
        (
            [fwd(0, True, 500), fwd(3, False, 2000)],
            False,
            {"forward": {"all": (1.0, 2.0)}, "counters": {FWD: 2.0},
             "latency_count": {"all": 2}},
        ),
        (
            [RETRIEVAL, AUDIT_FAIL],
            True,
            {"forward": {}, "counters": {sc.prom("retrieval"): 1.0, RES: 4.0,
                                         sc.prom("retrieval_injected"): 2.0,
                                         sc.prom("audit_operations"): 1.0},
             "breakdowns": {sc.prom("audit_operations"): {"register": 1.0}}},
        ),
    ],
)  # fmt: skip
def test_read_totals_from_a_real_snapshot(events, per_layer, expected):
    got = read_totals(snapshot_after(events, per_layer))
    assert got.forward == expected["forward"]
    assert got.counters == expected["counters"]
    if "latency_count" in expected:
        assert got.histograms["forward_duration"].count == sum(expected["latency_count"].values())
    for name, by in expected.get("breakdowns", {}).items():
        assert got.breakdowns[name] == by
    if events:
        assert got.resource["service.name"] == "svc"
        assert got.time is not None and got.time > 1e9  # unix seconds of the collection


def test_read_totals_of_nothing_is_empty():
    assert read_totals(None) == Totals()


# --- window_view: two totals in, rates/shares/percentiles out ----------------------------------
@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        # first snapshot: no window, shares and percentiles over everything so far
        (totals(100.0, 3, 4, (4, 0, 0)), None,
         {"seconds": None, "forward_per_s": None, "activation": 0.75, "p50": 0.5}),
        # 10 s apart: 100 more steps, 50 applied; all of them in the 1-5 ms bucket
        (totals(110.0, 53, 104, (4, 100, 0), 8.0), totals(100.0, 3, 4, (4, 0, 0)),
         {"seconds": 10.0, "forward_per_s": 10.0, "results_per_s": 0.8, "activation": 0.5,
          "p50": 3.0, "p99": 4.96}),
        # the counters restarted (process restart): the new totals are the window
        (totals(110.0, 1, 2, (2, 0, 0)), totals(100.0, 50, 100, (100, 0, 0)),
         {"seconds": 10.0, "forward_per_s": 0.2, "activation": 0.5, "p50": 0.5}),
        # same snapshot time: no rate (never a division by zero)
        (totals(100.0, 1, 2), totals(100.0, 1, 2), {"seconds": None, "forward_per_s": None,
                                                    "activation": None, "p50": None}),
        # nothing in the window: shares and percentiles are unknown, rates are zero
        (totals(105.0, 1, 2, (2, 0, 0)), totals(100.0, 1, 2, (2, 0, 0)),
         {"seconds": 5.0, "forward_per_s": 0.0, "activation": None, "p50": None}),
    ],
)  # fmt: skip
def test_window_view(new, old, expected):
    got = window_view(new, old)
    assert got["seconds"] == expected["seconds"]
    for key in ("forward_per_s", "results_per_s", "activation"):
        if key in expected:
            assert got[key] == pytest.approx(expected[key]) if expected[key] is not None \
                else got[key] is None  # fmt: skip
    for q in ("p50", "p99"):
        if q in expected:
            want = expected[q]
            assert got["latency_ms"][q] == (pytest.approx(want) if want is not None else None)
    assert got["layers"][0]["layer"] == "0"


def test_window_view_distributions_are_the_window_bucket_counts():
    new, old = totals(110.0, 0, 10, (5, 3, 2)), totals(100.0, 0, 4, (1, 1, 2))
    got = window_view(new, old)["distributions"]["latency"]
    assert got == {"bounds": list(B), "counts": [4, 2, 0]}
    assert window_view(new, old)["distributions"]["gate"] is None  # not in the snapshot


@pytest.mark.parametrize(
    ("layers", "ordered"),
    [
        (["10", "2", "1"], ["1", "2", "10"]),
        (["all"], ["all"]),
        (["3", "all", "0"], ["0", "3", "all"]),
    ],
)
def test_layer_order_is_numeric(layers, ordered):
    assert layer_order(layers) == ordered


# --- panels ---------------------------------------------------------------------------------
def alert(name, state, at, started=None):
    return Alert(name, "entropy_mean", 6.0, 5.0, ">", "critical", f"{name} msg", state, at,
                 started if started is not None else at)  # fmt: skip


@pytest.mark.parametrize(
    ("firing", "history", "now", "firing_rules", "resolved_rules"),
    [
        ([], [], 1000.0, [], []),
        ([alert("a", AlertState.FIRING, 990)], [alert("a", AlertState.FIRING, 990)], 1000.0,
         ["a"], []),
        # resolved 10 s ago is shown, resolved an hour ago is not; newest first
        ([], [alert("old", AlertState.RESOLVED, 1000 - 3600), alert("b", AlertState.RESOLVED, 980),
              alert("c", AlertState.RESOLVED, 990)], 1000.0, [], ["c", "b"]),
    ],
)  # fmt: skip
def test_alerts_view(firing, history, now, firing_rules, resolved_rules):
    got = alerts_view(firing, history, now)
    assert [r["rule"] for r in got["firing"]] == firing_rules
    assert [r["rule"] for r in got["resolved"]] == resolved_rules
    for row in got["firing"] + got["resolved"]:
        assert set(row) >= {"rule", "severity", "state", "message", "since", "at"}


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (None, {"status": "unknown", "checks": []}),
        ({"status": "degraded", "timestamp": 5.0,
          "checks": {"b": {"status": "healthy"}, "a": {"status": "degraded", "detail": "slow"}}},
         {"status": "degraded", "time": 5.0, "checks": [
             {"name": "a", "status": "degraded", "detail": "slow", "skipped": False},
             {"name": "b", "status": "healthy", "detail": None, "skipped": False}]}),
    ],
)  # fmt: skip
def test_health_view(report, expected):
    assert health_view(report) == expected


@pytest.mark.parametrize(
    ("details", "shown"),
    [
        ({"id": "k1", "token": "***"}, '{"id": "k1", "token": "***"}'),
        ('{"raw": "text as stored"}', '{"raw": "text as stored"}'),
        ({"blob": "x" * 1000}, None),  # cut to one line
    ],
)
def test_audit_view_shows_details_as_stored(details, shown):
    entry = {"seq": 7, "timestamp": 1.5, "operation": "register", "success": True,
             "error": None, "details": details, "hash": "h", "prev_hash": "p"}  # fmt: skip
    (row,) = audit_view([entry])
    assert {k: row[k] for k in ("seq", "time", "operation", "success", "error")} == {
        "seq": 7,
        "time": 1.5,
        "operation": "register",
        "success": True,
        "error": None,
    }
    if shown is not None:
        assert row["details"] == shown
    else:
        assert len(row["details"]) == 240 and row["details"].endswith("…")
    assert "hash" not in row


def test_identity_view():
    t = Totals(resource={"service.name": "svc", "service.instance.id": "i-1",
                         "telemetry.distro.version": "0.1.0"},
               labels={sc.prom("build_info"): {"version": "4.4.0", "device": "cuda"}})  # fmt: skip
    got = identity_view(t, "llama-3")
    assert got["service"] == "svc" and got["instance"] == "i-1" and got["model"] == "llama-3"
    assert got["version"] == "0.1.0" and got["aga"] == {"version": "4.4.0", "device": "cuda"}
    assert identity_view(Totals(), None)["model"] is None


def test_build_update_is_json_and_carries_the_snapshot_time():
    new, old = totals(110.0, 5, 10, (10, 0, 0)), totals(100.0, 0, 0)
    payload = build_update(new, old, extras={"alerts": None})
    decoded = json.loads(encode(payload))
    assert decoded["time"] == 110.0 and decoded["counters"][FWD] == 10.0
    assert decoded["point"]["t"] == 110.0 and decoded["point"]["layers"] == {"0": 0.5}
    assert decoded["alerts"] is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_encode_turns_non_finite_numbers_into_null(bad):
    assert json.loads(encode({"a": [1.0, bad], "b": {"c": bad}})) == {
        "a": [1.0, None],
        "b": {"c": None},
    }
