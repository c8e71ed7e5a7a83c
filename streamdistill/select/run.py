"""``streamdistill select``: HBOS outlier removal, then k-center greedy per scope (EEG-DLite §3.3).

Steps, each resumable (state under ``OUT/.work``; a kill at any point and a rerun give the same
files as an uninterrupted run):

1. features: the compressor latents (``dlite``, ``random``) or streamed PCA features of the raw
   segments (``pca-kcenter``), a memory-mapped float32 ``(N, d)`` array read in row blocks;
2. HBOS per montage group (:func:`~streamdistill.select.hbos.hbos_scores`; one compressor made
   a group's latents, so scores are comparable inside it) and removal of its top τ%;
3. per scope, the kept rows are gathered (a scratch memory map when large) and k-center greedy
   (:func:`~streamdistill.select.kcenter.kcenter_greedy`) runs to the largest η, checkpointing
   its state every ``checkpoint_every`` picks; ``random`` takes a seeded permutation instead;
4. ``hbos.npy``, ``order.npy``, ``radius.npy``, ``scopes.parquet`` are written atomically, then
   ``selection.json`` (its presence marks a finished selection), then the report plots.

A rerun with a larger η continues every scope's k-center from its saved state (farthest-first
is prefix-stable), so one latent array serves a whole η sweep.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from streamdistill.config import SelectConfig
from streamdistill.io_utils import atomic_write, atomic_write_json, package_versions
from streamdistill.select.inputs import (
    LatentSource,
    Scope,
    SegmentTable,
    SelectInputError,
    build_scopes,
    check_finite,
    check_match,
    group_rows,
    load_segment_table,
    open_latents,
)
from streamdistill.select.selection import SelectionError, open_selection, quota

SELECTION_FORMAT_VERSION = 1
#: Scopes up to this many bytes of kept latents are gathered into RAM; larger ones into a
#: scratch memory map under ``.work`` (file-backed pages the kernel can drop under pressure).
IN_RAM_SCOPE_BYTES = 256 << 20


@dataclass
class SelectSummary:
    out: Path
    n_segments: int
    n_outliers: int
    n_scopes: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        per_eta = ", ".join(f"η {e}%: {n}" for e, n in self.counts.items())
        return (f"select: {self.n_segments} segments, {self.n_outliers} outliers removed, "
                f"{self.n_scopes} scope(s); {per_eta} → {self.out} ({self.seconds:.1f} s)")


# ---------------------------------------------------------------------------------- helpers
def _params(cfg: SelectConfig, features_fp: str, table: SegmentTable) -> dict[str, Any]:
    """Everything that changes the order (not η, device, threads, pruning or block size)."""
    return {
        "format_version": SELECTION_FORMAT_VERSION, "method": cfg.method, "tau": cfg.tau,
        "scope": cfg.scope, "subject_cap": cfg.subject_cap, "init": cfg.init, "seed": cfg.seed,
        "n_bins": cfg.n_bins, "hbos_alpha": cfg.hbos_alpha, "hbos_tol": cfg.hbos_tol,
        "standardize": cfg.standardize, "precision": cfg.precision,
        "pca_dim": cfg.pca_dim if cfg.method == "pca-kcenter" else None,
        "features_fingerprint": features_fp, "n_segments": table.n_rows,
    }


def _save_npy(path: Path, arr: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.save would append ".npy" to a name
            np.save(fh, arr)
    atomic_write(path, write)


def _load_state(path: Path):
    from streamdistill.select.kcenter import KCenterState

    with np.load(path) as z:
        return KCenterState(picks=z["picks"].astype(np.int64), radius=z["radius"],
                            min_dist=z["min_dist"], nearest=z["nearest"])


def _save_state(path: Path, state) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, picks=state.picks, radius=state.radius, min_dist=state.min_dist,
                     nearest=state.nearest)
    atomic_write(path, write)


def _gather(arr: np.ndarray, rows: np.ndarray, scratch: Path, block_rows: int) -> np.ndarray:
    """``arr[rows]`` as a C-contiguous float32 array, gathered in blocks (RAM or scratch map)."""
    n, d = len(rows), arr.shape[1]
    if n * d * 4 <= IN_RAM_SCOPE_BYTES:
        out = np.empty((n, d), np.float32)
    else:
        out = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=(n, d))
    for a in range(0, n, block_rows):
        out[a:a + block_rows] = arr[rows[a:a + block_rows]]
    if isinstance(out, np.memmap):
        out.flush()
        out = np.lib.format.open_memmap(scratch, mode="r")
    return out


def _resolve_device(device: str) -> str:
    if device == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# -------------------------------------------------------------------------------- the stage
def run_select(latents: str | Path | None, out: str | Path, cfg: SelectConfig, *,
               store: str | Path | None = None, segments: str | Path | None = None,
               extend: str | Path | None = None, progress: bool = True) -> SelectSummary:
    """Select segments; see the module docstring. Returns a summary (also in selection.json).

    ``latents``: ``encode``'s output folder or a float32 ``(N, d)`` ``.npy`` (unused by
    ``pca-kcenter``); ``store``/``segments``: where the segments table comes from (default: the
    store named in ``latents.json``); ``extend``: a previous selection whose picks seed each
    scope's k-center (same features and parameters), continued to the η asked for.
    """
    t0 = time.perf_counter()
    cfg.validate()
    out = Path(out)
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        import numba
        numba.set_num_threads(min(cfg.threads, numba.config.NUMBA_NUM_THREADS))

    source, table, store_obj = _open_inputs(latents, cfg, store, segments, work, progress)
    params = _params(cfg, source.fingerprint, table)
    params_path = work / "params.json"
    if params_path.is_file():
        old = json.loads(params_path.read_text())
        if old != params:
            diff = sorted(k for k in params if old.get(k) != params.get(k))
            raise SelectionError(
                f"{out} holds a selection made with other inputs or parameters "
                f"({', '.join(diff)} differ); use a new --out, or delete {out} to start over")
    else:
        atomic_write_json(params_path, params)

    arr = source.open()
    check_finite(arr, cfg.block_rows)
    scores, kept_by_group = _hbos_and_filter(arr, table, cfg, work, progress)
    scopes = build_scopes(table, cfg.scope)
    eta_max = max(cfg.eta)
    extend_sel = _open_extend(extend, params) if extend else None

    orders, radii, rows_meta = [], [], []
    keep_mask: np.ndarray | None = None
    device = _resolve_device(cfg.device)
    for i, scope in enumerate(scopes):
        if scope.key == scope.group:
            kept = kept_by_group[scope.group]
        else:  # a recording inside the group: O(its size) through the global keep mask
            if keep_mask is None:
                keep_mask = np.zeros(table.n_rows, bool)
                for rows in kept_by_group.values():
                    keep_mask[rows] = True
            kept = scope.rows[keep_mask[scope.rows]]
        k = min(quota(eta_max, len(scope.rows)), len(kept))
        picks, radius = _select_scope(i, scope, kept, k, arr, table, cfg, work, device,
                                      extend_sel, progress and len(scopes) <= 64)
        orders.append(kept[picks[:k]])
        radii.append(radius[:k])
        rows_meta.append({"scope": scope.key, "group": scope.group, "n_scope": len(scope.rows),
                          "n_kept": len(kept), "n_outliers": len(scope.rows) - len(kept)})
    order = np.concatenate(orders).astype(np.int64) if orders else np.zeros(0, np.int64)
    radius = np.concatenate(radii).astype(np.float64) if radii else np.zeros(0)
    ends = np.cumsum([len(o) for o in orders]).astype(np.int64)
    scopes_df = pd.DataFrame(rows_meta)
    scopes_df.insert(2, "start", np.concatenate([[0], ends[:-1]]).astype(np.int64)
                     if len(ends) else np.zeros(0, np.int64))
    scopes_df.insert(3, "end", ends)

    _write_hbos(out / "hbos.npy", scores, table, cfg.block_rows)
    _save_npy(out / "order.npy", order)
    _save_npy(out / "radius.npy", radius)
    atomic_write(out / "scopes.parquet", lambda tmp: scopes_df.to_parquet(tmp, index=False))
    counts = {f"{e:g}": int(sum(min(quota(e, r["n_scope"]), r["n_kept"]) for r in rows_meta))
              for e in sorted(cfg.eta)}
    n_out = int(sum(r["n_outliers"] for r in rows_meta))
    meta = {
        **params, "eta": sorted(float(e) for e in cfg.eta), "latents": str(source.path),
        "segments_table": str(table.source), "store": str(store_obj.path) if store_obj else None,
        "store_fingerprint": _store_fingerprint(store_obj, source),
        "n_outliers": n_out, "n_selected": counts, "extended_from": str(extend) if extend else None,
        "device": device, "versions": package_versions(),
    }
    atomic_write_json(out / "selection.json", meta)
    summary = SelectSummary(out, table.n_rows, n_out, len(scopes), counts,
                            time.perf_counter() - t0)
    try:
        from streamdistill.select.report import write_report
        write_report(out, source, table)
    except Exception as exc:  # plots must never lose a finished selection
        print(f"select: report plots failed ({exc!r}); the selection itself is complete")
    return summary


def _store_fingerprint(store_obj, source: LatentSource) -> str | None:
    """The segment store's fingerprint, from the store or from ``latents.json`` (``pretrain``
    refuses a selection made from another store)."""
    if store_obj is not None:
        return store_obj.fingerprint
    meta = source.path.with_name("latents.json")
    if meta.is_file():
        return json.loads(meta.read_text()).get("store_fingerprint")
    return None


def _open_inputs(latents, cfg: SelectConfig, store, segments, work: Path, progress: bool):
    """(feature source, segments table, opened store or None)."""
    from streamdistill.store import open_store

    lat = open_latents(latents) if latents is not None else None
    store_path = Path(store) if store else (lat.store_path if lat else None)
    store_obj = None
    if cfg.method == "pca-kcenter":
        if store_path is None:
            raise SelectInputError("--method pca-kcenter reads the raw segments: pass --store")
        store_obj = open_store(store_path)
        from streamdistill.select.baselines import pca_features
        feats = pca_features(store_obj, work / "pca_features.npy", dim=cfg.pca_dim,
                             batch=cfg.pca_batch, progress=progress)
        digest = hashlib.sha256(f"pca:{store_obj.fingerprint}:{cfg.pca_dim}".encode()).hexdigest()
        source = LatentSource(feats, store_obj.n_segments, cfg.pca_dim, digest, store_obj.path)
    elif lat is None:
        raise SelectInputError(f"--method {cfg.method} needs LATENTS (the output of `encode`)")
    else:
        source = lat
    if segments is not None:
        table = load_segment_table(segments)
    elif store_path is not None:
        if store_obj is None and (store_path / "store.json").is_file():
            store_obj = open_store(store_path)
        table = load_segment_table(store_path)
    else:
        raise SelectInputError(f"{source.path}: no latents.json naming its store; pass --store "
                               "STORE or --segments TABLE.parquet")
    check_match(source, table)
    return source, table, store_obj


def _hbos_and_filter(arr, table: SegmentTable, cfg: SelectConfig, work: Path, progress: bool):
    """Per group: HBOS scores (cached in ``.work/hbos-<group>.npy``) and the kept rows."""
    from streamdistill.select.hbos import hbos_scores, outlier_mask

    scores: dict[str, np.ndarray] = {}
    kept: dict[str, np.ndarray] = {}
    for g, rows in group_rows(table).items():
        path = work / f"hbos-{g}.npy"
        if path.is_file():
            s = np.load(path)
        else:
            if progress:
                print(f"select: HBOS over {len(rows)} latents of group {g}", flush=True)
            s = hbos_scores(arr, rows, n_bins=cfg.n_bins, alpha=cfg.hbos_alpha,
                            tol=cfg.hbos_tol, standardize=cfg.standardize,
                            block_rows=cfg.block_rows)
            _save_npy(path, s)
        scores[g] = s
        kept[g] = rows[~outlier_mask(s, cfg.tau)] if cfg.tau > 0 else rows
    return scores, kept


def _scope_labels(kept: np.ndarray, table: SegmentTable, cap: float | None):
    codes = table.subject[kept]
    uniq, labels = np.unique(codes, return_inverse=True)
    return labels.astype(np.int32), (cap if cap is not None else 1.0 / len(uniq))


def _select_scope(i: int, scope: Scope, kept: np.ndarray, k: int, arr, table: SegmentTable,
                  cfg: SelectConfig, work: Path, device: str, extend_sel, progress: bool):
    """(local picks, radius) of one scope, at least ``k`` long; resumable from ``.work``."""
    from streamdistill.select.baselines import random_order

    if cfg.method == "random":
        return random_order(len(kept), cfg.seed, i)[:k], np.full(k, np.nan)
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    from streamdistill.select.kcenter import kcenter_greedy, seed_state

    state_path = work / "kcenter" / f"scope-{i:06d}.npz"
    state_path.parent.mkdir(exist_ok=True)
    state = _load_state(state_path) if state_path.is_file() else None
    if state is not None and len(state.picks) >= k:
        return state.picks, state.radius
    points = _gather(arr, kept, work / "scope-points.npy", cfg.block_rows)
    if state is None and extend_sel is not None:
        state = _extend_state(extend_sel, i, scope, kept, points, seed_state)
    labels, cap = (None, None)
    if cfg.scope == "subject":
        labels, cap = _scope_labels(kept, table, cfg.subject_cap)
    backend = "torch" if device.startswith("cuda") else "numba"
    result = kcenter_greedy(
        points, k, init=cfg.init, seed=cfg.seed, state=state, labels=labels, label_cap=cap,
        backend=backend, device=device, precision=cfg.precision, pruning=cfg.pruning,
        checkpoint=lambda st: _save_state(state_path, st),
        checkpoint_every=cfg.checkpoint_every, progress=progress)
    _save_state(state_path, result)
    del points
    return result.picks, result.radius


def _open_extend(path, params: dict[str, Any]):
    sel = open_selection(path)
    diff = sorted(k for k in params if k != "format_version" and sel.meta.get(k) != params[k])
    if diff:
        raise SelectionError(f"--extend {path}: that selection was made with other inputs or "
                             f"parameters ({', '.join(diff)} differ); it cannot seed this one")
    return sel


def _extend_state(sel, i: int, scope: Scope, kept: np.ndarray, points, seed_state):
    row = sel.scopes.iloc[i] if i < len(sel.scopes) else None
    if row is None or row["scope"] != scope.key:
        raise SelectionError(f"--extend {sel.path}: its scope {i} is not {scope.key}")
    ids = np.asarray(sel.order[int(row["start"]):int(row["end"])], np.int64)
    local = np.searchsorted(kept, ids)
    if ids.size and (local.max() >= len(kept) or not np.array_equal(kept[local], ids)):
        raise SelectionError(f"--extend {sel.path}: its picks are not kept rows of {scope.key}")
    state = seed_state(points, local)
    old_radius = np.asarray(sel.radius[int(row["start"]):int(row["end"])], np.float64)
    state.radius = old_radius.copy()
    return state


def _write_hbos(path: Path, scores: dict[str, np.ndarray], table: SegmentTable,
                block_rows: int) -> None:
    """``hbos.npy`` float64 ``(N,)`` from the per-group scores, written through a temp file."""
    rows_of = group_rows(table)

    def write(tmp: Path) -> None:
        full = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float64, shape=(table.n_rows,))
        for a in range(0, table.n_rows, block_rows):
            full[a:a + block_rows] = np.nan
        for g, s in scores.items():
            full[rows_of[g]] = s
        full.flush()
        del full
    atomic_write(path, write)


def clear_work(out: str | Path) -> None:
    """Remove the resumable state of a finished selection (frees the scratch space)."""
    shutil.rmtree(Path(out) / ".work", ignore_errors=True)


__all__ = ["run_select", "SelectSummary", "clear_work"]
