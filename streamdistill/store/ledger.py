"""Append-only commit ledger: one JSON line per input file, torn tail ignored.

A recording is committed when its line is in the ledger, and only then: everything else a commit
writes (Zarr rows, the segment-table part) happens before the line and is redone or truncated away
on resume. Killing the writer at any instant therefore leaves either the whole commit or none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator


def iter_ledger(path: Path) -> Iterator[dict[str, Any]]:
    """Complete entries, in commit order, one at a time (memory: one line). A last line cut by
    a kill (no newline, or not valid JSON) is ignored and removed from the file once the
    iteration reaches it, so the next append starts on a clean line."""
    if not path.exists():
        return
    good_bytes = 0
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if not line.endswith(b"\n"):
                break
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break
            if entry.get("recording_id") != i:
                raise RuntimeError(
                    f"{path}: entry {i} has recording_id {entry.get('recording_id')}; the ledger "
                    "is damaged (edited by hand?). Restore it or shard into a new store."
                )
            good_bytes += len(line)
            yield entry
    if good_bytes != path.stat().st_size:
        with open(path, "rb+") as fh:
            fh.truncate(good_bytes)
            os.fsync(fh.fileno())


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """All complete entries (see :func:`iter_ledger`)."""
    return list(iter_ledger(path))


def append_entry(path: Path, entry: dict[str, Any], *, fsync: bool = True) -> None:
    """Append one entry as a JSON line (the commit point of a recording), in one ``write``.

    A kill -9 can at worst cut the line (ignored and removed on the next read); ``fsync=True``
    also makes the line survive a power loss (``shard --durable``)."""
    line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    with open(path, "ab") as fh:
        fh.write(line.encode())
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())


def iter_ok(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Entries of recordings that contributed segments."""
    return (e for e in entries if e["status"] == "ok")
