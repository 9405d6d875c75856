"""Zero-code integration with aga-core: one process-wide ``ObservabilityStack``.

aga-core 4.4 ends ``AGAPlugin.__init__`` with::

    from aga_observability import setup_observability   # ImportError ignored
    setup_observability(plugin.event_bus, plugin.config)

so :func:`setup_observability` is the entry point of every process that imports aga-core
next to aga-otel. It must never raise into aga-core, must build at most one stack per
process, and logs exactly one line (logger ``aga_otel.integration``) saying what it did.

Usage::

    import aga_otel.integration as obs

    stack = obs.setup_observability(plugin.event_bus, plugin.config)  # or None: stayed off
    obs.bind_plugin(plugin)            # plugin-backed gauges and health checks become real
    ...
    obs.shutdown_observability()       # also runs at interpreter exit

Configuration without code: ``AGA_OTEL_CONFIG=/path/aga-otel.yaml`` (or ``.toml``; the
schema of ``aga-otel demo --config``) is read here. Resolution order, highest first: an
``ObservabilityConfig`` or mapping passed in code, the ``OTEL_*`` variables, the
``AGA_OTEL_CONFIG`` file, aga-core's ``AGAConfig`` fields, the defaults.

Plugin binding: aga-core never binds the plugin. When ``setup_observability`` is called
from inside ``AGAPlugin.__init__``, the plugin is the caller's ``self``; it is found by
looking a few frames up (O(1), no heap scan) and bound through a weak proxy so that
observability never keeps a discarded plugin (and its model hooks) alive. Pass
``discover=False`` to turn this off, and :func:`bind_plugin` binds explicitly.
:func:`discover_plugin` finds the owner of a bus from anywhere, at the cost of a heap scan
(both in :mod:`aga_otel._discovery`).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from aga_otel._discovery import _plugin_from_callers, discover_plugin
from aga_otel.config import ObservabilityConfig

__all__ = [
    "bind_plugin",
    "discover_plugin",
    "get_global_stack",
    "setup_observability",
    "shutdown_observability",
]

logger = logging.getLogger("aga_otel.integration")

CONFIG_FILE_ENV = "AGA_OTEL_CONFIG"  # a YAML/TOML aga-otel config file for zero-code use

_lock = threading.RLock()
_stack: Any = None  # the process-wide ObservabilityStack, or None
_buses: list[Any] = []  # buses subscribed to _stack, compared by identity
_atexit_registered = False
_aga_config: Any = None  # what the first setup was given (a rebuild maps it again)
# Set by AgaInstrumentor.instrument(): (explicit settings, the application's providers as
# ObservabilityStack keyword arguments: meter_provider, logger_provider, tracer_provider).
_instrumented: tuple[dict[str, Any], dict[str, Any]] | None = None


def _reset_lock_in_child() -> None:
    # A fork taken while another thread held the lock would leave it held forever in the
    # child; the child is single-threaded at this point, so a fresh lock is safe.
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)


def to_observability_config(
    aga_config: Any, cls: type[ObservabilityConfig] = ObservabilityConfig
) -> ObservabilityConfig:
    """Map what aga-core (or a user) passes as ``aga_config`` to an ``ObservabilityConfig``.

    ``None`` gives ``cls``'s defaults, an ``ObservabilityConfig`` is used as is, a mapping
    goes through ``cls.from_dict`` and anything else is treated as an ``AGAConfig``.
    ``cls`` is aga_observability's 1.0 subclass on the 1.0 import path.
    """
    if aga_config is None:
        return cls()
    if isinstance(aga_config, ObservabilityConfig):
        return aga_config
    if isinstance(aga_config, Mapping):
        return cls.from_dict(aga_config)
    return cls.from_aga_config(aga_config)


def resolve_config(aga_config: Any, env: Mapping[str, str] | None = None) -> ObservabilityConfig:
    """``aga_config`` mapped, then resolved against ``OTEL_*`` and the ``AGA_OTEL_CONFIG``
    file (both read from ``env``, default ``os.environ``)."""
    path = (os.environ if env is None else env).get(CONFIG_FILE_ENV) or None
    return to_observability_config(aga_config).resolve(env=env, config_file=path)


def _wanted(aga_config: Any, env: Mapping[str, str] | None) -> tuple[ObservabilityConfig, dict]:
    """The configuration and application providers a stack is built with now: the
    Instrumentor's settings (if instrumented) win over every other source."""
    config = resolve_config(aga_config, env)
    if _instrumented is None:
        return config, {}
    settings, providers = _instrumented
    return (config.replace(**settings) if settings else config), providers


def setup_observability(
    event_bus: Any,
    aga_config: Any = None,
    *,
    env: Mapping[str, str] | None = None,
    discover: bool = True,
) -> Any:
    """Start (once per process) the stack for ``event_bus``; return it, or None if off.

    A later call with another bus subscribes that bus to the same stack; the first
    configuration wins (a warning names the difference). Never raises.
    """
    try:
        with _lock:
            stack = _setup_locked(event_bus, aga_config, env)
            if stack is not None and discover and stack.plugin is None:
                plugin = _plugin_from_callers(event_bus)
                if plugin is not None:
                    stack.bind_plugin(plugin)
            return stack
    except Exception as exc:  # the contract: nothing may escape into AGAPlugin.__init__
        logger.error("aga-otel: observability stayed off: %s: %s", type(exc).__name__, exc)
        return None


def _setup_locked(event_bus: Any, aga_config: Any, env: Mapping[str, str] | None) -> Any:
    global _stack
    if event_bus is None:
        logger.warning("aga-otel: observability stayed off: no event bus was given")
        return None
    if _stack is not None:
        return _join_existing(event_bus, aga_config, env)
    global _aga_config
    config, providers = _wanted(aga_config, env)
    if not config.enabled:
        logger.info(
            "aga-otel: observability stayed off: disabled by configuration "
            "(observability_enabled/enabled=False or OTEL_SDK_DISABLED=true)"
        )
        return None
    from aga_otel.stack import ObservabilityStack  # heavy SDK imports only when enabled

    stack = ObservabilityStack(event_bus, config, env=env, **providers)
    try:
        stack.start()
    except Exception:
        stack.shutdown(timeout=1.0)  # release whatever was built before the failure
        raise
    _stack, _aga_config = stack, aga_config
    _buses[:] = [event_bus]
    _register_atexit()
    logger.info(
        "aga-otel: observability on (pid %d, service.instance.id %s): %s",
        os.getpid(), stack.instance_id, stack.describe_endpoints(),
    )  # fmt: skip
    return stack


def _join_existing(event_bus: Any, aga_config: Any, env: Mapping[str, str] | None) -> Any:
    """A second plugin (or a repeated call): subscribe its bus to the running stack."""
    stack = _stack
    try:
        differs = _config_difference(stack.config, _wanted(aga_config, env)[0])
    except Exception as exc:  # the first configuration wins anyway: a bad later one is moot
        differs = f"the new configuration is invalid ({exc})"
    if any(bus is event_bus for bus in _buses):
        note = "bus already subscribed"
    else:
        stack.add_event_bus(event_bus)
        _buses.append(event_bus)
        note = f"bus added ({len(_buses)} subscribed)"
    if differs:
        logger.warning(
            "aga-otel: observability already running, %s; the first configuration wins, "
            "ignored differences: %s", note, differs,
        )  # fmt: skip
    else:
        logger.info("aga-otel: observability already running, %s", note)
    return stack


def _config_difference(first: ObservabilityConfig, second: ObservabilityConfig) -> str:
    """``field: first -> second`` for every field that differs (empty when equal)."""
    diffs = []
    for name in sorted(ObservabilityConfig.field_names()):
        a, b = getattr(first, name), getattr(second, name)
        if name == "service_instance_id" and b is None:
            continue  # the running stack generated its own; not a user difference
        if a != b:
            diffs.append(f"{name}: {a!r} -> {b!r}")
    return ", ".join(diffs)


def instrument(
    settings: dict[str, Any],
    meter_provider: Any = None,
    logger_provider: Any = None,
    tracer_provider: Any = None,
) -> None:
    """Record the Instrumentor's settings and the application's providers for the process's
    stack; a stack already running (plugins built before) is rebuilt with them, its buses
    and plugin kept."""
    global _instrumented
    providers = {"meter_provider": meter_provider, "logger_provider": logger_provider,
                 "tracer_provider": tracer_provider}  # fmt: skip
    with _lock:
        _instrumented = (dict(settings), providers)
        if _stack is not None:
            _rebuild_locked()


def uninstrument() -> None:
    """Forget the Instrumentor's settings and stop the stack (a plugin built later starts
    a plain zero-code stack again through aga-core's hook)."""
    global _instrumented
    with _lock:
        _instrumented = None
    shutdown_observability()


def _rebuild_locked() -> None:
    global _stack
    old, buses, aga_config = _stack, list(_buses), _aga_config
    plugin = old.plugin
    _stack = None
    _buses.clear()
    old.shutdown()
    stack = _setup_locked(buses[0], aga_config, None)
    if stack is None:  # e.g. the new settings say enabled=False
        return
    for bus in buses[1:]:
        _join_existing(bus, aga_config, None)
    if plugin is not None:
        stack.bind_plugin(plugin)
    logger.info("aga-otel: observability rebuilt for the instrumentation settings")


def get_global_stack() -> Any:
    """The process-wide stack created by :func:`setup_observability`, or None."""
    return _stack


def bind_plugin(plugin: Any) -> bool:
    """Bind ``plugin`` to the global stack; True if there was a stack to bind to.

    Its bus is subscribed too if it is not yet (e.g. the plugin was built before setup).
    """
    with _lock:
        stack = _stack
        if stack is None:
            logger.warning("aga-otel: bind_plugin: no observability stack is running")
            return False
        bus = getattr(plugin, "event_bus", None)
        if bus is not None and not any(b is bus for b in _buses):
            stack.add_event_bus(bus)
            _buses.append(bus)
        stack.bind_plugin(plugin)
        return True


def shutdown_observability(timeout: float | None = None) -> None:
    """Flush and stop the global stack. Idempotent; a new setup afterwards starts afresh."""
    global _stack
    with _lock:
        stack, _stack = _stack, None
        _buses.clear()
    if stack is not None:
        try:
            stack.shutdown(timeout)
        except Exception as exc:  # runs from atexit too: report, never raise
            logger.warning("aga-otel: shutdown failed: %s", exc)


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(shutdown_observability)
        _atexit_registered = True
