"""Selection baselines of EEG-DLite's ablations: ``random`` and ``pca-kcenter``.

``random``: a seeded permutation of a scope's kept segments; truncating it gives every η, so it
is prefix-stable like k-center. ``pca-kcenter``: k-center greedy on the projection of the raw
segments (µV, flattened ``C·T``) onto their first ``d`` principal components, fitted per montage
group with scikit-learn's ``IncrementalPCA`` over the store streamed in storage order (Ross et
al. 2008), so memory is one batch of segments plus the ``d × C·T`` components.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streamdistill.io_utils import atomic_write_json


def random_order(n_kept: int, seed: int, scope_index: int) -> np.ndarray:
    """int64 ``(n_kept,)`` permutation of local rows; a pure function of (seed, scope index)."""
    rng = np.random.default_rng([int(seed), int(scope_index)])
    return rng.permutation(n_kept).astype(np.int64)


def _batches(n: int, batch: int, min_rows: int) -> list[tuple[int, int]]:
    """Row spans of ``batch`` rows; a short tail (< ``min_rows``) merges into the span before."""
    spans = [(a, min(a + batch, n)) for a in range(0, n, batch)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < min_rows:
        (a, _), (_, b) = spans[-2], spans[-1]
        spans[-2:] = [(a, b)]
    return spans


def pca_features(store, out_path: Path, *, dim: int = 64, batch: int = 512,
                 progress: bool = True) -> Path:
    """Write ``out_path`` = float32 ``(N, dim)`` PCA features of every segment (segment id order).

    Per group: ``IncrementalPCA(n_components=min(dim, N_g, C·T))`` fitted on the group's rows in
    storage order (deterministic), then every row projected; groups with fewer components than
    ``dim`` are zero-padded (zeros change no distance). Resumable per group: a group whose
    features are written is recorded in ``<out_path>.json`` and skipped on a rerun.
    """
    from sklearn.decomposition import IncrementalPCA

    done_path = out_path.with_suffix(".json")
    done = json.loads(done_path.read_text()) if done_path.is_file() else {}
    if done.get("store_fingerprint") not in (None, store.fingerprint) or done.get("dim") != dim:
        done = {}
    done.update({"store_fingerprint": store.fingerprint, "dim": dim,
                 "groups_done": done.get("groups_done", [])})
    if not out_path.is_file() or not done["groups_done"]:
        np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32,
                                  shape=(store.n_segments, dim)).flush()
    feats = np.lib.format.open_memmap(out_path, mode="r+")
    for g, info in sorted(store.groups.items()):
        if g in done["groups_done"]:
            continue
        n = info.n_segments
        flat = info.n_channels * info.n_times
        n_comp = min(dim, n, flat)
        spans = _batches(n, max(batch, n_comp), n_comp)
        pca = IncrementalPCA(n_components=n_comp)
        bar = tqdm(total=2 * n, desc=f"pca {g}", unit="seg", disable=not progress)
        for a, b in spans:
            pca.partial_fit(store.read_rows(g, a, b).reshape(b - a, flat))
            bar.update(b - a)
        for a, b in spans:
            z = pca.transform(store.read_rows(g, a, b).reshape(b - a, flat)).astype(np.float32)
            ids = store.segment_ids_of_rows(g, a, b)
            feats[ids, :n_comp] = z
            feats[ids, n_comp:] = 0.0
            bar.update(b - a)
        bar.close()
        feats.flush()
        done["groups_done"] = sorted(set(done["groups_done"]) | {g})
        atomic_write_json(done_path, done)
    del feats
    return out_path
