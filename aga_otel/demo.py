"""``aga-otel demo``: a simulated AGA workload through the real pipeline.

Its numbers are checked before anything starts, in the configuration's style (the flag, the
value, what is accepted; exit 2). The servers listen on loopback unless ``--host`` (or the
configuration) says otherwise, and a port the demo cannot bind is an error naming the flag:
the library degrades on a busy port, a person running the demo wants to know.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from aga_otel._cli_args import EXIT_ERROR
from aga_otel._version import __version__
from aga_otel.httpserver import exposure, url_host
from aga_otel.redaction import redact_url

MAX_LAYERS = 1024  # ObservabilityConfig.max_layers' default: per-layer series stay bounded
MAX_RATE = 10000.0  # decoding steps per second: far beyond any real model, still paced


class ArgumentError(ValueError):
    """A demo argument out of range: ``--flag=value; accepted: ...`` (as ConfigError)."""

    def __init__(self, flag: str, value: str, accepted: str) -> None:
        super().__init__(f"invalid argument: {flag}={value}; accepted: {accepted}")


def _number(flag: str, text: str | None, accepted: str, ok, kind=float):
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ArgumentError(flag, text, accepted) from None
    if kind is float and not math.isfinite(value) or not ok(value):
        raise ArgumentError(flag, text, accepted)
    return value


def checked(args: argparse.Namespace) -> dict:
    """The demo's numeric arguments, parsed and range-checked; raises ArgumentError."""

    def port(flag, text):
        return _number(flag, text, "an integer port 0..65535 (0: any free port)",
                       lambda v: 0 <= v <= 65535, int)  # fmt: skip

    return {
        "duration": _number(
            "--duration", args.duration, "a number of seconds > 0", lambda v: v > 0
        ),  # fmt: skip
        "layers": _number(
            "--layers",
            args.layers,
            f"an integer 1..{MAX_LAYERS}",
            lambda v: 1 <= v <= MAX_LAYERS,
            int,
        ),  # fmt: skip
        "rate": _number(
            "--rate",
            args.rate,
            f"a number of steps per second > 0 and <= {MAX_RATE:g}",
            lambda v: 0 < v <= MAX_RATE,
        ),  # fmt: skip
        "seed": _number("--seed", args.seed, "an integer", lambda v: True, int),
        "prometheus_port": port("--prometheus-port", args.prometheus_port),
        "health_port": port("--health-port", args.health_port),
    }


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run a simulated AGA workload through the real pipeline")
    # Numbers are read as text and checked by checked(): one error style for every value.
    p.add_argument("--duration", default=None, help="seconds > 0 (default: until Ctrl-C)")
    p.add_argument("--layers", default="8", help=f"hooked layers, 1..{MAX_LAYERS} (default 8)")
    p.add_argument("--rate", default="20", help="decoding steps per second > 0 (default 20)")
    p.add_argument("--seed", default="0", help="workload seed (0)")
    p.add_argument(
        "--host",
        default=None,
        help="address the metrics and health servers listen on (default 127.0.0.1, loopback "
        "only; 0.0.0.0 serves other machines, without authentication: docs/security.md)",
    )
    p.add_argument("--prometheus-port", default=None, help="metrics port (9464; 0: any free)")
    p.add_argument("--health-port", default=None, help="health and dashboard port (8080)")
    p.add_argument("--otlp-endpoint", default=None, help="push OTLP to this endpoint")
    p.add_argument("--otlp-protocol", choices=("grpc", "http/protobuf"), default=None)
    p.add_argument(
        "--tracing",
        action="store_true",
        help="trace: each decoding step runs in a request span (needs OTLP)",
    )
    p.add_argument("--config", default=None, help="YAML/TOML configuration file")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run_demo)


def _explicit(args: argparse.Namespace, numbers: dict) -> dict:
    explicit: dict = {}
    for name in ("prometheus_port", "health_port"):
        if numbers[name] is not None:
            explicit[name] = numbers[name]
    if args.host is not None:
        explicit.update(prometheus_host=args.host, health_host=args.host)
    if args.otlp_endpoint:
        explicit["otlp_endpoint"] = args.otlp_endpoint
        explicit["export_interval"] = 5.0
    if args.otlp_protocol:
        explicit["otlp_protocol"] = args.otlp_protocol
    if args.tracing:
        explicit.update(tracing_enabled=True, trace_forward_sample_rate=0.01)
    return explicit


def run_demo(args: argparse.Namespace) -> int:
    from aga_otel.config import ConfigError, ObservabilityConfig
    from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
    from aga_otel.exporters.otlp import signal_enabled
    from aga_otel.stack import ObservabilityStack

    try:
        numbers = checked(args)
        config = ObservabilityConfig(**_explicit(args, numbers))
        plugin = SimulatedPlugin()
        config = _demo_defaults(config.resolve(config_file=args.config), args.config)
        stack = ObservabilityStack(plugin.event_bus, config)
    except (ArgumentError, ConfigError) as exc:
        print(f"aga-otel demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not stack.config.enabled:
        print(
            "aga-otel demo: telemetry is disabled (OTEL_SDK_DISABLED=true or enabled: false "
            "in the config file); nothing to show"
        )
        return 0
    if args.tracing and not signal_enabled(stack.config, "traces"):
        print(
            "aga-otel demo: warning: --tracing creates spans but nothing exports them without "
            "an OTLP endpoint (--otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT)",
            file=sys.stderr,
        )
    profile = WorkloadProfile(layers=numbers["layers"], steps_per_second=numbers["rate"])
    stack.start()
    unbound = _unbound_port(stack)
    if unbound:
        stack.shutdown()
        print(f"aga-otel demo: {unbound}", file=sys.stderr)
        return EXIT_ERROR
    sim = WorkloadSimulator(
        plugin, profile, seed=numbers["seed"], record=False, step_context=_request_spans(stack)
    )
    stack.bind_plugin(plugin)
    _print_endpoints(stack, profile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    runner = threading.Thread(
        target=sim.run, args=(numbers["duration"], stop), name="aga-otel-demo-workload",
        daemon=True,
    )  # fmt: skip
    runner.start()
    try:
        _progress(stack, runner, quiet=args.quiet)
    except KeyboardInterrupt:
        pass
    stop.set()
    runner.join(2)
    print("flushing and shutting down ...", flush=True)
    stack.shutdown()
    print(summary(stack.get_stats()))
    return 0


def summary(stats: dict) -> str:
    """The final line: events seen and every loss by reason (audit records included)."""
    bridge = stats.get("bridge", {})
    dropped = {reason: n for reason, n in bridge.get("dropped", {}).items() if n}
    lost = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items())) or "none"
    return f"done: {bridge.get('received', 0)} events, dropped: {lost}"


def _unbound_port(stack) -> str | None:
    """Why a server the demo was asked for is not listening, naming the flag; or None."""
    cfg = stack.config
    wanted = (
        (cfg.prometheus_enabled, stack.prometheus, "metrics.prometheus", "--prometheus-port"),
        (cfg.health_enabled, stack.health, "health.server", "--health-port"),
    )
    for enabled, server, component, flag in wanted:
        if enabled and (server is None or getattr(server, "port", None) is None):
            state = stack.status.get(component)
            # The detail's first clause ("could not bind HOST:PORT: reason"), not the advice
            # written for a library user.
            reason = state.detail.split("; ")[0] if state is not None else "not started"
            return f"{reason}; choose another port with {flag} (0 picks a free one) or --host"
    return None


def _demo_defaults(config, config_file):
    """The demo's own defaults for what neither the config file nor the ``OTEL_*``
    environment chose: service name ``aga-demo``, process metrics on, and the live
    dashboard unless health is off."""
    from aga_otel._config_sources import env_layer, file_layer

    chosen = set(file_layer(Path(config_file)) if config_file else ()) | set(env_layer(os.environ))
    changes: dict = {}
    if "service_name" not in chosen:
        changes["service_name"] = "aga-demo"
    if config.health_enabled and "dashboard_enabled" not in chosen:
        changes["dashboard_enabled"] = True
    if "process_metrics" not in chosen:
        changes["process_metrics"] = True
    return config.replace(**changes) if changes else config


def _request_spans(stack):
    """With tracing on, each simulated decoding step runs in a 'request' span of the
    demo's own, so AGA's spans, log records and exemplars have a parent to point at."""
    provider = getattr(stack.tracing, "tracer_provider", None)
    if provider is None:
        return None
    tracer = provider.get_tracer("aga-otel-demo")
    return lambda: tracer.start_as_current_span("demo.generate")


def _print_endpoints(stack, profile) -> None:
    from aga_otel.live import dashboard_url

    cfg = stack.config
    print(
        f"aga-otel {__version__} demo: {profile.layers} layers x {profile.steps_per_second:g} "
        f"steps/s = {profile.layers * profile.steps_per_second:g} forward events/s"
    )
    if stack.prometheus is not None and stack.prometheus.port is not None:
        host = cfg.prometheus_host
        print(f"  metrics : http://{url_host(host)}:{stack.prometheus.port}/metrics"
              f"  [{exposure(host)}]")  # fmt: skip
    health = getattr(stack.health, "port", None)
    if health:
        host = cfg.health_host
        print(f"  health  : http://{url_host(host)}:{health}{cfg.health_path}  (/livez /readyz)"
              f"  [{exposure(host)}]")  # fmt: skip
    if url := dashboard_url(stack, url_host(cfg.health_host)):
        audit = "" if cfg.dashboard_token or cfg.dashboard_verbose else "; audit details hidden"
        print(f"  live    : {url}  [{exposure(cfg.health_host)}{audit}]")
    if cfg.otlp_endpoint:
        print(f"  OTLP    : {cfg.otlp_protocol} -> {redact_url(cfg.otlp_endpoint)}")
    if "loopback" in exposure(cfg.prometheus_host) and "loopback" in exposure(cfg.health_host):
        print("  (loopback only: --host 0.0.0.0 serves other machines, see docs/security.md)")
    print("  Ctrl-C to stop", flush=True)


def _progress(stack, runner: threading.Thread, quiet: bool, every: float = 2.0) -> None:
    last_received, last_t = 0, time.monotonic()
    while runner.is_alive():
        runner.join(every)
        if quiet:
            continue
        stats = stack.get_stats()
        b = stats["bridge"]
        now = time.monotonic()
        rate = (b["received"] - last_received) / max(now - last_t, 1e-9)
        last_received, last_t = b["received"], now
        dropped = sum(b["dropped"].values())
        otlp = stats["components"].get("metrics.otlp")
        export = f", otlp {otlp['status']}" if otlp else ""
        print(
            f"  {rate:8.0f} events/s, received {b['received']}, dropped {dropped}, "
            f"queue {b['queue_depth']}{export}",
            flush=True,
        )
