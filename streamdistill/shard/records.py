"""Light helpers shared by the ``shard`` driver and its workers: result records, staging names,
file identity. Importing this module costs nothing heavy (no MNE, scipy or numba), so the driver
process of a parallel run never loads the signal-processing stack its workers use.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from streamdistill.config import PreprocessConfig
from streamdistill.shard.discover import RecordingTask


def file_format(path: str) -> str:
    """Short format name from the extension (for reports)."""
    name = Path(path).name.lower()
    return "fif" if name.endswith((".fif", ".fif.gz")) else Path(path).suffix.lower().lstrip(".")


def staging_key(path: str) -> str:
    """File name stem of a recording's staged output (stable per absolute path)."""
    return hashlib.sha1(path.encode()).hexdigest()[:20]


def file_identity(path: str) -> dict[str, Any]:
    """Size and modification time (ns) of an input file; what a rerun compares."""
    st = os.stat(path)
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def base_result(task: RecordingTask) -> dict[str, Any]:
    result: dict[str, Any] = {
        "path": task.path,
        "format": file_format(task.path),
        "dataset": task.dataset,
        "subject": task.subject,
        "session": task.session,
        "status": "failed",
        "reason": "",
        "group": "",
        "channels": [],
        "channels_renamed": {},
        "channels_dropped": {},
        "sfreq_in": float("nan"),
        "duration_s": 0.0,
        "n_segments": 0,
        "n_windows": 0,
        "n_dropped_nonfinite": 0,
        "n_dropped_flat": 0,
        "n_clipped": 0,
        "notes": [],
        "sha256": "",
        "starts": [],
        "clipped": [],
    }
    try:
        result.update(file_identity(task.path))
    except OSError as exc:
        result.update(size=-1, mtime_ns=-1)
        result["reason"] = f"cannot stat file: {exc.strerror or exc}"
    return result


def read_staged(meta_path: Path) -> dict[str, Any] | None:
    """A staged result if its completion record exists and parses, else None."""
    try:
        return json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def config_digest(cfg: PreprocessConfig, store_dtype: str) -> str:
    """Hash of everything that shapes a recording's windows (staged results from another
    configuration are never reused)."""
    payload = json.dumps({"pre": asdict(cfg), "dtype": store_dtype}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_task(
    task: RecordingTask, cfg: PreprocessConfig, store_dtype: str, staging_dir: str,
    spool_bytes: int = 0, fsync: bool = True,
) -> dict[str, Any]:
    """Picklable entry point of a worker: :func:`streamdistill.shard.recording.shard_recording`
    (imported here, in the worker, where the forkserver has usually loaded it already).
    ``spool_bytes > 0`` only where the caller commits in the same process."""
    from streamdistill.shard.recording import shard_recording

    return shard_recording(task, cfg, store_dtype, staging_dir, spool_bytes, fsync)
