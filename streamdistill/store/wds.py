"""WebDataset export of segments (DESIGN.md): ``shard-%06d.tar``, one sample per segment.

Each sample: ``__key__`` = the zero-padded segment id, ``x.npy`` = the ``(C, T)`` array in the
store dtype (µV), ``json`` = its metadata (segment id, group, channels, sfreq, recording, dataset,
subject, session, start_s). Shard ``k`` holds a fixed run of the exported ids (``shard_segments``
per shard), so a rerun after appending to the store rewrites only the last, partial shard; every
tar is written to a temp name and renamed, with fixed tar mtimes, so reruns give identical files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from streamdistill.io_utils import atomic_write, atomic_write_json
from streamdistill.store.segment_store import SegmentStore

MANIFEST = "wds.json"


def _runs(groups: np.ndarray, rows: np.ndarray) -> Iterator[tuple[int, int]]:
    """Split positions into runs of one group with consecutive rows: ``[i, j)``."""
    i = 0
    n = len(rows)
    while i < n:
        j = i + 1
        while j < n and groups[j] == groups[i] and rows[j] == rows[j - 1] + 1:
            j += 1
        yield i, j
        i = j


def _encode_npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x, allow_pickle=False)
    return buf.getvalue()


def export_wds(
    store: SegmentStore,
    out_dir: str | Path,
    *,
    segment_ids: np.ndarray | None = None,
    shard_segments: int = 1000,
    progress: bool = False,
) -> list[Path]:
    """Write ``segment_ids`` (default: all, in id order) as WebDataset shards into ``out_dir``.

    Reads one shard's worth of segments at a time (memory O(shard_segments · C · T)). Returns the
    shard paths. Shards already written for the same ids are kept.
    """
    import webdataset as wds

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = np.arange(store.n_segments, dtype=np.int64) if segment_ids is None else np.asarray(
        segment_ids, np.int64)
    manifest_path = out / MANIFEST
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    old_shards = old.get("shards", {}) if old.get("shard_segments") == shard_segments else {}
    meta_cols = ["segment_id", "group", "recording_id", "dataset", "subject", "session", "start_s"]
    shards: dict[str, dict] = {}
    paths = []
    n_shards = -(-len(ids) // shard_segments)
    for k in tqdm(range(n_shards), desc="wds", unit="shard", disable=not progress):
        chunk = ids[k * shard_segments : (k + 1) * shard_segments]
        name = f"shard-{k:06d}.tar"
        path = out / name
        span = {"first": int(chunk[0]), "last": int(chunk[-1]), "n": int(len(chunk))}
        paths.append(path)
        shards[name] = span
        if old_shards.get(name) == span and path.exists():
            continue
        groups, rows = store.locate(chunk)
        meta = _segment_meta(store, chunk, meta_cols)

        def write(tmp: Path, chunk=chunk, groups=groups, rows=rows, meta=meta) -> None:
            with open(tmp, "wb") as fh, wds.TarWriter(fh, mtime=0.0, encoder=False) as sink:
                for i, j in _runs(groups, rows):
                    g = str(groups[i])
                    block = np.asarray(store.array(g)[int(rows[i]) : int(rows[j - 1]) + 1])
                    info = store.groups[g]
                    for t in range(i, j):
                        record = dict(meta[t], channels=list(info.channels),
                                      sfreq=store.info["groups"][g]["sfreq"])
                        sink.write({
                            "__key__": f"{int(chunk[t]):010d}",
                            "x.npy": _encode_npy(block[t - i]),
                            "json": json.dumps(record, sort_keys=True).encode(),
                        })

        atomic_write(path, write)
    for stale in set(old.get("shards", {})) - set(shards):
        (out / stale).unlink(missing_ok=True)
    atomic_write_json(manifest_path, {
        "store": str(store.path), "store_fingerprint": store.fingerprint,
        "shard_segments": shard_segments, "n_segments": int(len(ids)), "shards": shards,
    })
    return paths


def _segment_meta(store: SegmentStore, ids: np.ndarray, columns: list[str]) -> list[dict]:
    """Metadata rows of ``ids`` (in that order), reading only the row groups that hold them."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    table = ds.dataset(store.layout.segments).to_table(
        columns=columns, filter=pc.field("segment_id").isin(ids.tolist()))
    by_id = {int(r["segment_id"]): r for r in table.to_pylist()}
    return [by_id[int(i)] for i in ids]
