"""The unit of work of ``shard``: one input file → one staged, preprocessed, windowed recording.

:func:`shard_recording` is a pure function of (file, config): it runs the same in the main
process, in a worker process or on a dask worker. It never touches the store's Zarr arrays; it
writes its windows to ``staging/<key>.npy`` (appended row by row, bounded memory) and then, as its
completion mark, ``staging/<key>.json`` (atomically). The single committing process moves staged
recordings into the store in input order (``commit.py``).
"""

from __future__ import annotations

import functools
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from streamdistill.config import PreprocessConfig
from streamdistill.io_utils import atomic_write_json, sha256_file
from streamdistill.shard.discover import RecordingTask
from streamdistill.shard.preprocess import iter_blocks, make_plan
from streamdistill.shard.reader import RecordingSkipped, open_recording, truncation_note
from streamdistill.shard.records import base_result, config_digest, staging_key
from streamdistill.shard.staging import SpooledRows
from streamdistill.shard.segments import (
    WindowCounts,
    group_id,
    iter_windows,
    to_storage_block,
    window_seconds,
)


def shard_recording(
    task: RecordingTask, cfg: PreprocessConfig, store_dtype: str, staging_dir: str,
    spool_bytes: int = 0, fsync: bool = True,
) -> dict[str, Any]:
    """Read, preprocess and window one recording into ``staging_dir``.

    Returns the recording's result record (also written as ``staging/<key>.json``): ``status`` is
    ``ok`` (windows staged), ``skipped`` (nothing usable, with the reason) or ``failed`` (the
    file could not be read or processed; the reason names the error). Never raises for a bad file.

    ``spool_bytes > 0`` (in-process use only): a recording whose windows fit stays in memory —
    the record then carries them as ``rows`` (``(n, C, T)`` store dtype) instead of ``staged``,
    and no staging record is written (a kill simply redoes it). ``fsync``: sync the staging
    files (``shard --durable``).
    """
    t0 = time.perf_counter()
    staging = Path(staging_dir)
    key = staging_key(task.path)
    npy_path = staging / f"{key}.npy"
    meta_path = staging / f"{key}.json"
    result = base_result(task)
    result["config_digest"] = config_digest(cfg, store_dtype)
    finish = functools.partial(_finish, meta_path=meta_path, t0=t0, fsync=fsync)
    if result["size"] < 0:
        return finish(result)
    if result["size"] == 0:
        result["reason"] = "empty file (0 bytes)"
        return finish(result)
    try:
        result["sha256"] = sha256_file(task.path)
        rec = open_recording(task.path, cfg, task.bids_root)
    except RecordingSkipped as exc:
        result.update(status="skipped", reason=str(exc))
        return finish(result)
    except Exception as exc:  # noqa: BLE001 - any reader error is this file's failure
        result["reason"] = f"cannot read with MNE: {type(exc).__name__}: {_one_line(exc)}"
        return finish(result)
    channels = tuple(rec.report.harmonised)
    result.update(
        channels=list(channels),
        channels_renamed=dict(rec.report.renamed),
        channels_dropped=dict(rec.report.dropped),
        sfreq_in=rec.sfreq,
        duration_s=rec.duration_s,
        notes=list(rec.notes),
        group=group_id(channels),
    )
    try:
        plan = make_plan(rec.sfreq, cfg)
        result["notes"] += list(plan.notes)
        win_s = window_seconds(len(channels), cfg.window_s)
        n_times = int(round(win_s * plan.sfreq_out))
        stride = int(round((cfg.stride_s or win_s) * plan.sfreq_out))
        n_out = plan.n_out(rec.n_times)
        if n_out < n_times:
            result.update(
                status="skipped",
                reason=f"shorter than one window ({rec.duration_s:.2f} s < {win_s:g} s)",
            )
            return finish(result)
        max_windows = (n_out - n_times) // stride + 1
        staging.mkdir(parents=True, exist_ok=True)
        out = SpooledRows(npy_path, max_windows, (len(channels), n_times), store_dtype,
                          spool_bytes=spool_bytes, fsync=fsync)
        counts = WindowCounts()
        # Window starts and clip flags, sized once (the window count is known up front).
        start_of = np.empty(max_windows, np.int64)
        clipped_at = np.empty(max_windows, bool)
        blocks = (to_storage_block(b, store_dtype)
                  for b in iter_blocks(rec.read, rec.n_times, plan, cfg.block_s))
        try:
            for window in iter_windows(blocks, n_times, stride, counts):
                start_of[out.n_rows] = window.start
                clipped_at[out.n_rows] = window.clipped
                out.append(window.x)
        finally:
            out.close()
        starts = start_of[:out.n_rows].tolist()
        clipped = clipped_at[:out.n_rows].tolist()
        del start_of, clipped_at
    except Exception as exc:  # noqa: BLE001 - a corrupt stretch fails this file only
        if "out" in locals():
            out.discard()
        npy_path.unlink(missing_ok=True)
        result.update(status="failed", reason=f"{type(exc).__name__} while processing: "
                      f"{_one_line(exc)}", n_segments=0)
        result["notes"].append(traceback.format_exc(limit=3)[-500:])
        return finish(result)
    result.update(
        n_windows=counts.total,
        n_dropped_nonfinite=counts.dropped_nonfinite,
        n_dropped_flat=counts.dropped_flat,
        n_segments=len(starts),
        n_clipped=int(sum(clipped)),
        sfreq_out=plan.sfreq_out,
        n_times=n_times,
        window_s=win_s,
        stride_s=stride / plan.sfreq_out,
        starts=starts,
        clipped=clipped,
    )
    if not starts:
        out.discard()
        result.update(
            status="skipped",
            reason=f"all {counts.total} windows dropped ({counts.dropped_nonfinite} with "
            f"non-finite samples, {counts.dropped_flat} flat)",
        )
    elif out.spilled:
        result.update(status="ok", staged=str(npy_path))
    else:
        result.update(status="ok", rows=out.rows)
    return finish(result)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400] or type(exc).__name__


def _finish(result: dict[str, Any], meta_path: Path, t0: float, fsync: bool) -> dict[str, Any]:
    """Complete the record and write it as the staging completion mark — except for a recording
    held in memory (``rows``), which a rerun must redo: its mark would point at no file."""
    truncated = truncation_note(result["notes"])
    if truncated:
        result["reason"] = "; ".join(r for r in (result["reason"], truncated) if r)
    result["seconds"] = round(time.perf_counter() - t0, 3)
    if "rows" in result:
        return result
    try:
        atomic_write_json(meta_path, result, fsync=fsync)
    except OSError as exc:  # staging not writable: report, the committer decides
        result["notes"].append(f"could not write staging record: {exc}")
    return result


