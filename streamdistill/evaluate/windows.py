"""Event windows of a task: annotations → windows, preprocessed as ``shard`` does, cached on disk.

Building a task's windows runs in two passes over its files:

1. **Scan** (:func:`scan_task`, headers and annotations only). Each annotation whose description is
   in ``task.classes`` becomes a window of ``length_s`` seconds starting ``offset_s`` after its
   onset: output sample ``start = round((onset + offset_s) · 200)`` on the 200-Hz grid of the
   preprocessed recording (``onset`` in seconds from the first data sample). Windows that start
   before the file or run past its end are dropped and counted (``overrun``). Nothing is read.
2. **Cut** (:func:`build_cache`). Each file is preprocessed block by block with ``shard``'s
   :func:`~streamdistill.shard.preprocess.iter_blocks` (band-pass, notch, resample to 200 Hz, µV),
   and :func:`cut_windows` takes the windows out of the block stream as it passes, carrying only
   the tail that a pending window still needs across a block edge, and stopping at the last
   window. Memory is one block plus one window, whatever the recording length. Windows with a
   sample derived from a non-finite input, or flat (no channel changes), are dropped and counted,
   as in ``shard``.

The cache, ``CACHE/<task>-<digest[:16]>/``, holds ``x.npy`` (N, C, T) float32 µV (memory-mapped on
read), ``index.parquet`` (one row per window: ``row, file, subject, run, onset_s, start, label,
class, description, split``) and ``cache.json`` (task, digest, channels, counts; written last, so a
folder without it is incomplete and is rebuilt). The key is :func:`~.tasks.task_digest`: the task,
the preprocessing and every file's size and mtime.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from streamdistill.evaluate.tasks import Task, TaskError, assign_splits, task_digest
from streamdistill.io_utils import atomic_write_json
from streamdistill.shard.preprocess import Block, iter_blocks, make_plan
from streamdistill.shard.reader import open_recording

CACHE_FORMAT = 1


@dataclass
class ScanResult:
    """Windows planned by :func:`scan_task`: one row per window (no data read yet)."""

    index: pd.DataFrame
    channels: tuple[str, ...]
    digest: str
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_cache_dir() -> Path:
    """``$STREAMDISTILL_CACHE/evaluate`` or ``~/.cache/streamdistill/evaluate``."""
    base = os.environ.get("STREAMDISTILL_CACHE") or Path.home() / ".cache" / "streamdistill"
    return Path(base) / "evaluate"


def event_windows(onsets_s: np.ndarray, descriptions: Iterable[str], classes: dict[str, str],
                  class_names: list[str], *, offset_s: float, n_times: int, sfreq_out: float,
                  n_out: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Windows of one recording from its annotations.

    ``onsets_s``: (E,) seconds from the first data sample. Returns ``(rows, counts)``: rows with
    ``onset_s, start, label, class, description`` (``start`` = first output sample at
    ``sfreq_out``), and counts ``{'events', 'ignored', 'overrun'}``: events of a mapped class,
    annotations of other descriptions, and windows outside ``[0, n_out)`` (dropped).
    """
    rows, ignored, overrun, events = [], 0, 0, 0
    for onset, desc in zip(np.asarray(onsets_s, float), descriptions):
        desc = str(desc)
        if desc not in classes:
            ignored += 1
            continue
        events += 1
        start = round((onset + offset_s) * sfreq_out)
        if start < 0 or start + n_times > n_out:
            overrun += 1
            continue
        name = classes[desc]
        rows.append({"onset_s": float(onset), "start": start, "label": class_names.index(name),
                     "class": name, "description": desc})
    cols = ["onset_s", "start", "label", "class", "description"]
    return pd.DataFrame(rows, columns=cols), {"events": events, "ignored": ignored,
                                              "overrun": overrun}


def _annotation_onsets(raw) -> tuple[np.ndarray, list[str]]:
    """Onsets (s from the first data sample, rounded to input samples) and descriptions."""
    ann = raw.annotations
    if len(ann) == 0:
        return np.zeros(0), []
    idx = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
    return np.asarray(idx, float) / float(raw.info["sfreq"]), [str(d) for d in ann.description]


def file_stats(task: Task, files: list[tuple[str, str, int | None]]) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of each file: with the task, the cache key."""
    out = []
    for rel, _, _ in files:
        st = (task.root / rel).stat()
        out.append((rel, st.st_size, st.st_mtime_ns))
    return out


def scan_task(task: Task, files: list[tuple[str, str, int | None]] | None = None) -> ScanResult:
    """Pass 1: discover files, read headers and annotations, plan windows and splits.

    A file MNE cannot read (or without a LaBraM channel) is skipped and listed in ``notes`` and
    ``counts['skipped_files']``. Raises :class:`~.tasks.TaskError` for a missing root, no events of
    the task's classes, fewer than two classes, or files without a common channel.
    """
    files = task.discover() if files is None else files
    n_times = task.length_s * int(task.preprocess.sfreq)
    frames, channels, counts = [], None, {"events": 0, "ignored": 0, "overrun": 0}
    seen_desc: dict[str, int] = {}
    notes: list[str] = []
    skipped: dict[str, str] = {}
    for rel, subject, run in files:
        try:
            rec = open_recording(str(task.root / rel), task.preprocess)
        except Exception as exc:  # noqa: BLE001 - recorded, as shard records a failed file
            skipped[rel] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            notes.append(f"{rel}: skipped ({skipped[rel]})")
            continue
        plan = make_plan(rec.sfreq, task.preprocess)
        onsets, descs = _annotation_onsets(rec.raw)
        for d in descs:
            seen_desc[d] = seen_desc.get(d, 0) + 1
        rows, c = event_windows(onsets, descs, task.classes, task.class_names,
                                offset_s=task.offset_s, n_times=n_times,
                                sfreq_out=plan.sfreq_out, n_out=plan.n_out(rec.n_times))
        for k in counts:
            counts[k] += c[k]
        chans = tuple(rec.report.harmonised)
        if channels is None:
            channels = chans
        elif chans != channels:
            common = tuple(ch for ch in channels if ch in set(chans))
            notes.append(f"{rel}: {len(chans)} channels differ from the others; keeping the "
                         f"{len(common)} common ones")
            channels = common
        rows.insert(0, "file", rel)
        rows.insert(1, "subject", subject)
        rows.insert(2, "run", -1 if run is None else run)
        frames.append(rows)
        del rec
    if not frames:
        raise TaskError(f"task {task.name!r}: none of the {len(files)} files could be read "
                        f"(first: {next(iter(skipped.items()))})")
    index = pd.concat(frames, ignore_index=True).astype(
        {"run": np.int64, "onset_s": float, "start": np.int64, "label": np.int64})
    if not len(index) and counts["events"]:
        raise TaskError(f"task {task.name!r}: all {counts['events']} events' windows run past a "
                        f"file's start or end (window offset {task.offset_s:g} s, length "
                        f"{task.length_s} s); shorten or shift the window in {task.source}")
    if not len(index):
        raise TaskError(f"task {task.name!r}: no events found: none of the descriptions "
                        f"{sorted(task.classes)} in {len(files)} files (found "
                        f"{dict(sorted(seen_desc.items()))}); fix 'classes' in {task.source}")
    present = sorted(index["class"].unique())
    if len(present) < 2:
        raise TaskError(f"task {task.name!r}: labels with one class only ({present}, "
                        f"{len(index)} windows); a classification task needs two or more — check "
                        f"'classes' in {task.source} (annotations found: {sorted(seen_desc)})")
    if not channels:
        raise TaskError(f"task {task.name!r}: the files have no channel in common")
    split_of = assign_splits(index["subject"].tolist(), task.test, task.val, task.split_seed,
                             f"task {task.name!r}")
    index["split"] = index["subject"].map(split_of)
    index = index.sort_values(["file", "start"], kind="stable").reset_index(drop=True)
    counts["files"] = len(files) - len(skipped)
    counts["skipped_files"] = len(skipped)
    return ScanResult(index, channels, task_digest(task, file_stats(task, files)), counts, notes)


def cut_windows(blocks: Iterable[Block], starts: list[int], n_times: int
                ) -> Iterator[tuple[int, np.ndarray, str | None]]:
    """Take windows ``[s, s + n_times)`` for sorted ``starts`` out of a stream of blocks.

    Yields ``(i, x, problem)`` per window in order: ``x: (C, n_times)`` (a view into the current
    buffer; copy it to keep it), ``problem`` None, ``'nonfinite'`` or ``'flat'`` (as ``shard``'s
    rule). Holds one block plus the tail from the next pending window's start; stops consuming
    ``blocks`` after the last window.
    """
    if not starts:
        return
    if any(b < a for a, b in itertools.pairwise(starts)):
        raise ValueError("window starts must be sorted")
    buf: np.ndarray | None = None
    bad = changed = np.zeros(0, bool)
    buf_start, i = 0, 0
    for block in blocks:
        if buf is None:
            buf, buf_start = block.data, block.start
        else:
            buf = np.concatenate([buf, block.data], axis=1)
        bad, changed = np.concatenate([bad, block.bad]), np.concatenate([changed, block.changed])
        end = buf_start + buf.shape[1]
        while i < len(starts) and starts[i] + n_times <= end:
            a = starts[i] - buf_start
            problem = ("nonfinite" if bad[a:a + n_times].any() else
                       "flat" if not changed[a + 1:a + n_times].any() else None)
            yield i, buf[:, a:a + n_times], problem
            i += 1
        if i == len(starts):
            return
        cut = min(starts[i], end) - buf_start
        buf, bad, changed = buf[:, cut:], bad[cut:], changed[cut:]
        buf_start += cut
    if i < len(starts):
        raise ValueError(f"{len(starts) - i} windows run past the end of the stream")


@dataclass
class WindowCache:
    """A built cache: ``x`` (N, C, T) float32 µV memmap, ``index`` (N rows), ``info``."""

    path: Path
    x: np.ndarray
    index: pd.DataFrame
    info: dict[str, Any]
    hit: bool = False

    @property
    def channels(self) -> list[str]:
        return list(self.info["channels"])

    def rows(self, split: str) -> np.ndarray:
        """Row numbers of one split (int64, ascending)."""
        return self.index.index[self.index["split"] == split].to_numpy(np.int64)


def open_cache(path: Path) -> WindowCache:
    info = json.loads((path / "cache.json").read_text())
    index = pd.read_parquet(path / "index.parquet")
    return WindowCache(path, np.load(path / "x.npy", mmap_mode="r"), index, info, hit=True)


def build_cache(task: Task, cache_dir: str | os.PathLike | None = None, *,
                log=None) -> WindowCache:
    """Windows of ``task``, from the cache if it holds them, else built (pass 1 + 2) and stored.

    ``log``: optional ``callable(str)`` for progress lines.
    """
    t0 = time.perf_counter()
    files = task.discover()
    digest = task_digest(task, file_stats(task, files))
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', task.name)}-{digest[:16]}"
    if (path / "cache.json").is_file():
        return open_cache(path)
    scan = scan_task(task, files)
    pre, index = task.preprocess, scan.index
    n_times, chans = task.length_s * int(pre.sfreq), scan.channels
    tmp = root / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    x = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=np.float32,
                                  shape=(len(index), len(chans), n_times))
    keep = np.zeros(len(index), bool)
    dropped = {"nonfinite": 0, "flat": 0}
    files = index["file"].unique()
    for k, (rel, rows) in enumerate(index.groupby("file", sort=False).groups.items()):
        rows = np.asarray(rows)
        rec = open_recording(str(task.root / rel), pre)
        pick = [list(rec.report.harmonised).index(ch) for ch in chans]
        plan = make_plan(rec.sfreq, pre)
        blocks = iter_blocks(rec.read, rec.n_times, plan, pre.block_s)
        starts = index.loc[rows, "start"].tolist()
        for i, w, problem in cut_windows(blocks, starts, n_times):
            if problem:
                dropped[problem] += 1
                continue
            x[rows[i]] = w[pick]
            keep[rows[i]] = True
        if log:
            log(f"  windows {k + 1}/{len(files)} {rel}: {len(rows)}")
    x.flush()
    del x
    if not keep.all():
        _compact(tmp / "x.npy", keep)
        index = index[keep].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(index)))
    index.to_parquet(tmp / "index.parquet", index=False)
    info = {"format": CACHE_FORMAT, "task": task.to_dict(), "digest": scan.digest,
            "channels": list(chans), "sfreq": pre.sfreq, "n_times": n_times,
            "n_windows": len(index), "class_names": task.class_names,
            "counts": {**scan.counts, "dropped_nonfinite": dropped["nonfinite"],
                       "dropped_flat": dropped["flat"]},
            "notes": scan.notes, "build_s": round(time.perf_counter() - t0, 3)}
    atomic_write_json(tmp / "cache.json", info)
    try:
        os.replace(tmp, path)
    except OSError:  # another process finished the same cache first
        shutil.rmtree(tmp, ignore_errors=True)
    cache = open_cache(path)
    cache.hit = False
    return cache


def _compact(npy: Path, keep: np.ndarray, chunk: int = 256) -> None:
    """Rewrite ``npy`` with only the rows where ``keep`` (chunked copy, bounded memory)."""
    src = np.load(npy, mmap_mode="r")
    out_path = npy.with_suffix(".kept.npy")
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=src.dtype,
                                    shape=(int(keep.sum()), *src.shape[1:]))
    rows, j = np.flatnonzero(keep), 0
    for a in range(0, len(rows), chunk):
        part = rows[a:a + chunk]
        out[j:j + len(part)] = src[part]
        j += len(part)
    out.flush()
    del out, src
    os.replace(out_path, npy)
