"""``streamdistill shard``: discover → process each recording (anywhere) → commit in order.

Resumable and idempotent: files already in the store's ledger are skipped; recordings staged by a
killed run are committed without being processed again; new files are appended after the others.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from streamdistill.config import ShardConfig
from streamdistill.io_utils import check_writable_dir
from streamdistill.shard.commit import StoreWriter
from streamdistill.shard.discover import RecordingTask, discover
from streamdistill.shard.executors import default_workers, ordered_map, start_forkserver
from streamdistill.shard.records import (
    base_result,
    config_digest,
    file_identity,
    read_staged,
    run_task,
    staging_key,
)


#: Modules the worker processes' forkserver imports once (MNE readers, DSP, the worker code).
WORKER_PRELOAD = ("streamdistill.shard.warm",)


@dataclass
class ShardSummary:
    """Outcome of one ``shard`` run over the whole store."""

    n_files: int
    status_counts: dict[str, int]
    hours_by_group: dict[str, float]
    n_segments: int
    newly_processed: int
    reused: int
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def kept_anything(self) -> bool:
        return self.n_segments > 0

    def line(self) -> str:
        c = self.status_counts
        groups = ", ".join(f"{g}: {h:.2f} h" for g, h in sorted(self.hours_by_group.items()))
        return (
            f"shard: {self.n_files} files: {c.get('ok', 0)} ok, {c.get('skipped', 0)} skipped, "
            f"{c.get('failed', 0)} failed; {self.n_segments} segments"
            + (f" ({groups})" if groups else "")
        )


def _failure(task: RecordingTask, exc: BaseException) -> dict[str, Any]:
    """Result record for a task whose worker died or whose code raised unexpectedly."""
    result = base_result(task)
    result["reason"] = f"worker error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return result


def run_shard(
    inputs: list[str], out: str | Path, cfg: ShardConfig, *, progress: bool = True
) -> ShardSummary:
    """Shard ``inputs`` into the store at ``out`` (created or resumed); see the module docstring.

    Raises ``PermissionError`` (unwritable ``--out``/``--wds``), ``InputError`` (an INPUT that
    matches nothing) or ``StoreMismatch`` (``--out`` made with other parameters) before any work.
    """
    workers = cfg.workers or default_workers()
    if workers > 1 and not cfg.scheduler:
        start_forkserver(WORKER_PRELOAD)  # imports in the background while we scan and open
    tasks = discover(inputs, dataset=cfg.dataset, path_pattern=cfg.path_pattern)
    check_writable_dir(out, "--out")
    if cfg.wds:
        check_writable_dir(cfg.wds, "--wds")
    writer = StoreWriter(out, cfg)
    done = writer.done()
    digest = config_digest(cfg.preprocess, cfg.store.dtype)

    # A retried failed file gets a new ledger line; the old one stays as history.
    todo = [
        t for t in tasks
        if t.path not in done or (cfg.retry_failed and done[t.path]["status"] == "failed")
    ]
    staged: dict[str, dict[str, Any]] = {}
    for t in todo:
        meta = read_staged(writer.layout.staging / f"{staging_key(t.path)}.json")
        if meta is None or meta.get("config_digest") != digest:
            continue
        try:
            same_file = all(meta.get(k) == v for k, v in file_identity(t.path).items())
        except OSError:
            same_file = False
        if same_file and (meta["status"] != "ok" or Path(meta.get("staged", "")).exists()):
            staged[t.path] = meta
    to_run = [t for t in todo if t.path not in staged]

    n_workers = min(workers, max(1, len(to_run)))
    in_process = n_workers == 1 and not cfg.scheduler
    fn = functools.partial(
        run_task,
        cfg=cfg.preprocess,
        store_dtype=cfg.store.dtype,
        staging_dir=str(writer.layout.staging),
        spool_bytes=int(cfg.spool_mb * 1e6) if in_process else 0,
        fsync=cfg.durable,
    )
    results = ordered_map(
        fn, to_run, workers=n_workers, scheduler=cfg.scheduler,
        on_error=_failure, preload=WORKER_PRELOAD,
    )
    bar = tqdm(
        total=len(todo), unit="file", desc="shard", disable=not progress, file=sys.stderr,
        dynamic_ncols=True,
    )
    hours = 0.0
    counts: Counter[str] = Counter()
    try:
        for t in todo:
            result = staged.get(t.path) or next(results)
            if result["path"] != t.path:  # pragma: no cover - ordering is guaranteed
                raise RuntimeError("internal error: results out of order")
            writer.commit(result)
            counts[result["status"]] += 1
            hours += float(result.get("duration_s") or 0.0) / 3600
            bar.update(1)
            bar.set_postfix(hours=f"{hours:.2f}", ok=counts["ok"], skipped=counts["skipped"],
                            failed=counts["failed"], refresh=False)
    finally:
        bar.close()
        results.close()
        writer.finalize()
    if cfg.wds:
        from streamdistill.store.segment_store import open_store
        from streamdistill.store.wds import export_wds

        export_wds(open_store(out), cfg.wds, shard_segments=cfg.wds_shard_segments,
                   progress=progress)
    return summarize(writer, len(to_run), len(staged))


def summarize(writer: StoreWriter, newly: int, reused: int) -> ShardSummary:
    """Summary over the whole ledger (latest entry per path)."""
    latest: dict[str, dict[str, Any]] = {}
    for e in writer.entries:
        latest[e["path"]] = e
    counts = Counter(e["status"] for e in latest.values())
    hours: dict[str, float] = defaultdict(float)
    for g, info in writer.groups.items():
        hours[g] = writer.group_rows.get(g, 0) * info["stride_s"] / 3600
    problems = [(e["path"], e["status"], e["reason"]) for e in latest.values()
                if e["status"] != "ok"]
    return ShardSummary(
        n_files=len(latest),
        status_counts=dict(counts),
        hours_by_group=dict(hours),
        n_segments=writer.next_segment_id,
        newly_processed=newly,
        reused=reused,
        problems=problems,
    )
