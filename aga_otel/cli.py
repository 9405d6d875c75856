"""The aga-otel command: a demo (simulated workload through the real pipeline), the
audit trail tools, the bundled Grafana dashboards and the Prometheus alert rules."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from aga_otel._cli_args import EXIT_ERROR, run
from aga_otel._version import __version__
from aga_otel.redaction import redact_url


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run a simulated AGA workload through the real pipeline")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    p.add_argument("--layers", type=int, default=8, help="hooked layers (default 8)")
    p.add_argument("--rate", type=float, default=20.0, help="decoding steps per second (20)")
    p.add_argument("--seed", type=int, default=0, help="workload seed (0)")
    p.add_argument("--prometheus-port", type=int, default=None, help="metrics port (9464)")
    p.add_argument("--health-port", type=int, default=None, help="health port (8080)")
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


def _optional(name: str):
    """Subcommand modules that may be absent in a partial install are skipped."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aga-otel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aga-otel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(sub)
    for module in ("aga_otel.audit.cli", "aga_otel.dashboards.cli", "aga_otel.alerts.cli"):
        mod = _optional(module)
        if mod is not None and hasattr(mod, "add_parser"):
            mod.add_parser(sub)
    return parser


def run_demo(args: argparse.Namespace) -> int:
    from aga_otel.config import ConfigError, ObservabilityConfig
    from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
    from aga_otel.exporters.otlp import signal_enabled
    from aga_otel.stack import ObservabilityStack

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    explicit = {}
    if args.prometheus_port is not None:
        explicit["prometheus_port"] = args.prometheus_port
    if args.health_port is not None:
        explicit["health_port"] = args.health_port
    if args.otlp_endpoint:
        explicit["otlp_endpoint"] = args.otlp_endpoint
        explicit["export_interval"] = 5.0
    if args.otlp_protocol:
        explicit["otlp_protocol"] = args.otlp_protocol
    if args.tracing:
        explicit.update(tracing_enabled=True, trace_forward_sample_rate=0.01)
    try:
        config = ObservabilityConfig(**explicit)
        plugin = SimulatedPlugin()
        config = _demo_defaults(config.resolve(config_file=args.config), args.config)
        stack = ObservabilityStack(plugin.event_bus, config)
    except ConfigError as exc:
        print(f"aga-otel demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
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
    profile = WorkloadProfile(layers=args.layers, steps_per_second=args.rate)
    stack.start()
    sim = WorkloadSimulator(
        plugin, profile, seed=args.seed, record=False, step_context=_request_spans(stack)
    )
    stack.bind_plugin(plugin)
    _print_endpoints(stack, profile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    runner = threading.Thread(
        target=sim.run, args=(args.duration, stop), name="aga-otel-demo-workload", daemon=True
    )
    runner.start()
    try:
        _progress(stack, runner, quiet=args.quiet)
    except KeyboardInterrupt:
        pass
    stop.set()
    runner.join(2)
    print("flushing and shutting down ...", flush=True)
    stack.shutdown()
    stats = stack.get_stats()["bridge"]
    print(f"done: {stats.get('received', 0)} events, dropped {stats.get('dropped', {})}")
    return 0


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
    print(
        f"aga-otel {__version__} demo: {profile.layers} layers x {profile.steps_per_second:g} "
        f"steps/s = {profile.layers * profile.steps_per_second:g} forward events/s"
    )
    if stack.prometheus is not None and stack.prometheus.port is not None:
        print(f"  metrics : http://localhost:{stack.prometheus.port}/metrics")
    from aga_otel.live import dashboard_url

    health = getattr(stack.health, "port", None)
    if health:
        print(f"  health  : http://localhost:{health}{stack.config.health_path}  (/livez /readyz)")
    if url := dashboard_url(stack):
        print(f"  live    : {url}")
    if stack.config.otlp_endpoint:
        endpoint = redact_url(stack.config.otlp_endpoint)
        print(f"  OTLP    : {stack.config.otlp_protocol} -> {endpoint}")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
