"""Text log lines cannot be forged (CWE-117): a real stack writes hostile strings from every
event kind to a real log file, and the file holds exactly one line per record."""

from __future__ import annotations

import codecs
import json
import re
import time

import pytest
from conftest import local_config, wait_for

from aga_otel import AlertRuleConfig
from aga_otel.contract import Event, SimulatedPlugin
from aga_otel.logs.local import escape_text

# CR LF, NUL, ESC (a terminal colour), DEL, U+2028/U+2029, a lone CR, NEL, a bidi override
# and a backslash: each would end a line for some reader or change what a terminal shows.
HOSTILE = "op\r\nFAKE level=CRITICAL forged\x00\x1b[31m\x7f\u2028x\u2029y\rz\x85\u202e\\n"
ESCAPED = r"op\r\nFAKE level=CRITICAL forged\x00\x1b[31m\x7f\u2028x\u2029y\rz\x85\u202e\\n"
# What str.splitlines() (and so many log readers) take as a line break, or a terminal obeys.
_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
LINE_START = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (DEBUG|INFO |WARN |ERROR|FATAL) ")


def unescape(text: str) -> str:
    """Undo :func:`escape_text` (Python's escapes; other characters pass through)."""
    return codecs.decode(text.encode("ascii", "backslashreplace"), "unicode_escape")


def hostile_events(now: float) -> list[Event]:
    """One event of every kind, a hostile string in every text field it has."""
    forward = {"aga_applied": True, "gate_mean": 0.7, "entropy_mean": 2.5, "layer_idx": 0,
               "latency_us": 120.0}  # fmt: skip
    retrieval = {"layer_idx": 1, "results_count": 2, "injected_count": 1,
                 "budget_remaining": 3, "ids": [HOSTILE, "k2"], "scores": [0.9, 0.8]}  # fmt: skip
    done = {"operation": HOSTILE, "success": True, "error": None, "timestamp": now,
            "details": {"note": HOSTILE, HOSTILE: 1}}  # fmt: skip
    failed = {"operation": HOSTILE, "success": False, "error": HOSTILE, "timestamp": now,
              "details": {}}  # fmt: skip
    return [
        Event("forward", now, forward, source=HOSTILE),
        Event("retrieval", now, retrieval, source=HOSTILE),
        Event("audit", now, done, source=HOSTILE),
        Event("audit", now, failed),
        Event(HOSTILE, now, {"value": HOSTILE}, source=HOSTILE),  # an unknown event type
    ]


def hostile_rule() -> AlertRuleConfig:
    """A rule that fires on the first forward event, hostile in its name and message."""
    return AlertRuleConfig(name=HOSTILE, metric="entropy_mean", operator=">", threshold=0.0,
                           window_seconds=60, severity="critical",
                           message="{name}: " + HOSTILE + " {value:.2f}")  # fmt: skip


def run_stack(make_stack, tmp_path, fmt: str) -> tuple[str, int]:
    """Feed the hostile events and one alert through a real stack; (file text, records)."""
    log = tmp_path / f"events.{fmt}.log"
    plugin = SimulatedPlugin()
    plugin.attach(HOSTILE, layers=2)  # the model name is on every record (aga.model.type)
    cfg = local_config(log_enabled=True, log_format=fmt, log_level="DEBUG", log_file=str(log),
                       log_stderr=False, alert_enabled=True, alert_default_rules=False,
                       alert_rules=[hostile_rule()])  # fmt: skip
    stack = make_stack(plugin.event_bus, cfg)
    stack.bind_plugin(plugin)
    for event in hostile_events(time.time()):
        stack.bridge.handle(event)  # the EventBus handler itself (the bus sets no source)

    def alert_written() -> bool:
        stack.force_flush()
        return log.exists() and "aga.alert" in log.read_text(encoding="utf-8")

    assert wait_for(alert_written, 15.0), log.read_text(encoding="utf-8") if log.exists() else ""
    stack.shutdown(5)
    return log.read_text(encoding="utf-8"), stack.log_exporter.stats()["records_emitted"]


def test_text_lines_escape_every_control_character(make_stack, tmp_path):
    text, records = run_stack(make_stack, tmp_path, "text")
    lines = text.split("\n")
    assert lines.pop() == ""  # the file ends with the last line's newline
    assert len(lines) == records == len(text.splitlines())  # no other line break, any kind
    assert all(LINE_START.match(line) for line in lines), lines
    assert not _RAW_CONTROL.search(text)
    events = [line.split()[2] for line in lines]
    assert events.count("aga.forward") == 1 and events.count("aga.retrieval") == 1
    assert events.count("aga.audit") == 2 and events.count("aga.event") == 1
    assert events.count("aga.alert") >= 1 and len(events) == 5 + events.count("aga.alert")
    by_event = {line.split()[2]: line for line in lines}
    for event, parts in {
        "aga.forward": [f"aga.event.source={ESCAPED}", f"aga.model.type={ESCAPED}"],
        "aga.retrieval": [f"aga.event.source={ESCAPED}", escape_text(repr(HOSTILE))],
        "aga.audit": [f"audit {ESCAPED} failed: {ESCAPED} ", f"aga.audit.operation={ESCAPED}",
                      f"aga.audit.error={ESCAPED}"],
        "aga.event": [f"aga event {ESCAPED} ", f"aga.event.type={ESCAPED}"],
        "aga.alert": [f"alert {ESCAPED} firing [critical]: {ESCAPED}: {ESCAPED} ",
                      f"aga.alert.rule={ESCAPED}"],
    }.items():  # fmt: skip
        for part in parts:
            assert part in by_event[event], (part, by_event[event])
    # The escapes read back: the message of the failed audit record is the original text.
    rest = LINE_START.sub("", by_event["aga.audit"]).split(" ", 1)[1]  # after the event name
    message = rest.split(" aga.", 1)[0]
    assert unescape(message) == f"audit {HOSTILE} failed: {HOSTILE}"


def test_json_lines_keep_every_value_exactly(make_stack, tmp_path):
    text, records = run_stack(make_stack, tmp_path, "json")
    lines = text.split("\n")
    assert lines.pop() == ""
    assert len(lines) == records
    parsed = [json.loads(line) for line in lines]  # JSON escapes CR, LF and the C0 controls
    by_event = {r["event"]: r for r in parsed}
    assert by_event["aga.audit"]["attributes"]["aga.audit.error"] == HOSTILE
    assert by_event["aga.forward"]["attributes"]["aga.event.source"] == HOSTILE
    assert by_event["aga.retrieval"]["attributes"]["aga.retrieval.ids"] == [HOSTILE, "k2"]
    assert by_event["aga.alert"]["attributes"]["aga.alert.rule"] == HOSTILE
    # Unchanged format: what json.dumps(ensure_ascii=False) leaves raw stays raw (U+2028...).
    assert "\u2028" in text and "\\r\\n" in text and "\\u0000" in text


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain text, ü 日本 ✓", "plain text, ü 日本 ✓"),
        ("a\nb", r"a\nb"),
        ("lone\rcr", r"lone\rcr"),
        ("tab\there", r"tab\there"),
        ("nul\x00esc\x1bdel\x7f", r"nul\x00esc\x1bdel\x7f"),
        ("nel\x85ls\u2028ps\u2029", r"nel\x85ls\u2028ps\u2029"),
        ("rlo\u202eisolate\u2066", r"rlo\u202eisolate\u2066"),
        ("back\\slash\\n", r"back\\slash\\n"),
        (("k\n1", "k2"), r"('k\\n1', 'k2')"),  # sequences: their repr, escaped as text
        (3.5, "3.5"),
    ],
)
def test_escape_text_table(value, escaped):
    assert escape_text(value) == escaped
    if isinstance(value, str):
        assert unescape(escaped) == value
