"""One JSON line per audit entry: writing it so the stored text is the hashed text,
reading it back, and finding a segment's last entry without reading the whole file."""

from __future__ import annotations

import json
from pathlib import Path


def line(entry: dict, details_json: str) -> str:
    head = {k: v for k, v in entry.items() if k != "details"}
    # details_json is already canonical; splice it in so the stored text is the hashed text.
    return (
        json.dumps(head, ensure_ascii=True, separators=(",", ":"))[:-1]
        + ',"details":'
        + details_json
        + "}\n"
    )


def parse(raw: bytes) -> dict | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def last_entry(seg: Path) -> dict | None:
    """The last complete entry of ``seg``, reading backwards from its end."""
    size = seg.stat().st_size
    chunk = 65536
    with open(seg, "rb") as f:
        while True:
            start = max(0, size - chunk)
            f.seek(start)
            lines = f.read(size - start).split(b"\n")
            complete = lines if start == 0 else lines[1:]
            for raw in reversed(complete):
                entry = parse(raw) if raw.strip() else None
                if entry is not None and "seq" in entry:
                    return entry
            if start == 0:
                return None
            chunk *= 4
