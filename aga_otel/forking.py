"""What a forked child does with the stack it inherited (``os.register_at_fork``).

The parent's threads do not exist in the child: its worker, consumers and servers are
rebuilt, the inherited log and trace pipelines are retired without touching anything of the
parent's, and the child takes its own ``service.instance.id``.
"""

from __future__ import annotations

import logging
import os
import uuid
import weakref
from typing import Any

from aga_otel.status import StatusBoard

logger = logging.getLogger("aga_otel")


def after_fork_in_child(stack: Any) -> None:
    """Re-initialise in a forked child: the parent's threads do not exist here.

    The child gets its own worker and queue, its own ``service.instance.id`` and a new
    MeterProvider (counts start from zero, so fleet sums do not double-count), and binds
    no server port: the listening sockets inherited from the parent are closed here.
    The inherited log and trace pipelines are retired (their batch threads, restarted
    in the child by the SDK, stop; nothing of the parent's is written or exported).
    """
    buses = stack.bridge.buses if stack.bridge is not None else []
    if stack.bridge is not None:
        stack.bridge.unsubscribe_all()
    inherited = [c for c in (stack.log_exporter, stack.tracing) if c is not None]
    for server in (stack.prometheus, stack.health):
        # Only close the inherited socket: shutdown() would wait for a serving thread
        # that does not exist in the child.
        if server is not None:
            try:
                server.close_inherited()
            except Exception:
                pass
    stack.prometheus = stack.health = None
    if stack.worker_files is not None:  # the parent keeps its index; the child claims one
        stack.worker_files.forget_inherited()
    stack.status = StatusBoard()
    stack.instance_id = child_instance_id(stack.config.service_instance_id, os.getpid())
    stack._build(child=True)
    for bus in buses:
        stack.bridge.subscribe(bus)
    retire_inherited(inherited)
    logger.info("aga-otel re-initialised in forked child pid %d", os.getpid())


def child_instance_id(configured: str | None, pid: int) -> str:
    """A forked child's ``service.instance.id``: ``<configured id>-<pid>`` when one was
    configured (recognisable, and unique per worker), else a new random UUID."""
    return f"{configured}-{pid}" if configured else str(uuid.uuid4())


def reinit_in_child(ref: weakref.ref) -> None:
    """The ``os.register_at_fork`` hook: re-initialise a running stack in the child."""
    stack = ref()
    if stack is None or not stack._started or stack._stopped or stack.bridge is None:
        return
    try:
        after_fork_in_child(stack)
    except Exception:  # never break the child process
        logger.exception("aga-otel: re-initialisation after fork failed; telemetry is off")


# Pipelines inherited over fork(), kept referenced in the child: collecting them would close
# the parent's audit store connection from here (SQLite's close can checkpoint or roll back).
_INHERITED: list[Any] = []


def retire_inherited(components: list[Any]) -> None:
    """Stop what a forked child inherited (local sinks first), each once, waiting on no
    parent thread; nothing of the parent's is written, exported or closed."""
    for component in components:
        _INHERITED.append(component)
        try:
            component.retire_inherited(1.0)
        except Exception as exc:
            logger.warning("aga-otel: inherited %s not retired: %s", component.name, exc)
