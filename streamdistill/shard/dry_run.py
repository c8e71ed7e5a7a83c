"""``shard --dry-run``: what would be done, from file headers only; nothing is written."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TextIO

import numpy as np

from streamdistill.config import ShardConfig
from streamdistill.shard.discover import discover
from streamdistill.shard.preprocess import resample_factors
from streamdistill.shard.reader import RecordingSkipped, open_recording
from streamdistill.shard.segments import group_id, window_seconds


def plan_recordings(inputs: list[str], cfg: ShardConfig) -> list[dict[str, Any]]:
    """One row per input file: status it would get from its header, group, hours, windows."""
    rows = []
    pre = cfg.preprocess
    itemsize = np.dtype(cfg.store.dtype).itemsize
    for task in discover(inputs, dataset=cfg.dataset, path_pattern=cfg.path_pattern):
        row: dict[str, Any] = {"path": task.path, "subject": task.subject, "status": "ok",
                               "reason": "", "group": "", "hours": 0.0, "windows": 0, "bytes": 0}
        try:
            rec = open_recording(task.path, pre, task.bids_root)
        except RecordingSkipped as exc:
            row.update(status="skipped", reason=str(exc))
            rows.append(row)
            continue
        except Exception as exc:  # noqa: BLE001
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:200])
            rows.append(row)
            continue
        channels = rec.report.harmonised
        win = window_seconds(len(channels), pre.window_s)
        up, down = resample_factors(rec.sfreq, pre.sfreq)
        n_out = -(-rec.n_times * up // down)
        n_times = int(round(win * pre.sfreq))
        stride = int(round((pre.stride_s or win) * pre.sfreq))
        windows = max(0, (n_out - n_times) // stride + 1) if n_out >= n_times else 0
        row.update(
            group=group_id(tuple(channels)), n_channels=len(channels), sfreq=rec.sfreq,
            hours=rec.duration_s / 3600, windows=windows,
            bytes=windows * len(channels) * n_times * itemsize,
        )
        if windows == 0:
            row.update(status="skipped", reason=f"shorter than one window ({win:g} s)")
        rows.append(row)
    return rows


def print_plan(rows: list[dict[str, Any]], out: TextIO) -> None:
    """Human-readable table: files, then per group hours, windows and estimated store size."""
    for r in rows:
        extra = r["reason"] if r["status"] != "ok" else (
            f"{r['group']}  {r['hours'] * 60:8.2f} min  {r['windows']:7d} windows")
        print(f"{r['status']:8s} {r['path']}  {extra}", file=out)
    per_group: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])
    for r in rows:
        if r["status"] == "ok":
            g = per_group[r["group"]]
            g[0] += 1
            g[1] += r["hours"]
            g[2] += r["windows"]
            g[3] += r["bytes"]
    print("\ngroup            files     hours   windows   store size (uncompressed)", file=out)
    for name, (files, hours, windows, size) in sorted(per_group.items()):
        print(f"{name:15s} {files:6d} {hours:9.2f} {windows:9d}   {size / 1e9:8.3f} GB", file=out)
    n = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
    total = sum(g[3] for g in per_group.values())
    print(
        f"\ndry run: {len(rows)} files ({n['ok']} ok, {n['skipped']} skipped, {n['failed']} "
        f"unreadable from their headers); about {total / 1e9:.3f} GB before compression. "
        "Nothing was written.",
        file=out,
    )
