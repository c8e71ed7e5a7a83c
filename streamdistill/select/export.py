"""``select --export wds|npy DIR``: write the selected segments (µV), streamed from the store.

- ``wds``: WebDataset tar shards in DESIGN.md's layout (``store/wds.py``; one sample per segment,
  ``__key__`` = segment id, ``x.npy`` as stored, ``json`` metadata).
- ``npy``: per montage group ``DIR/<group>.npy`` = float32 ``(N_sel, C, W)`` µV and
  ``DIR/<group>.segment_ids.npy`` = int64 ``(N_sel,)``, in segment-id order, written through a
  memory map from runs of consecutive store rows (memory O(``block_rows`` · C · W)).

Both are written to temporary names and renamed, so a killed export leaves no partial file under
a final name; a rerun rewrites what is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from streamdistill.io_utils import atomic_write, atomic_write_json


def export_selection(store, segment_ids: np.ndarray, kind: str, out_dir: str | Path, *,
                     block_rows: int = 1024, progress: bool = True) -> list[Path]:
    """Export ``segment_ids`` (sorted int64) of ``store`` as ``kind`` (``wds`` or ``npy``)."""
    out = Path(out_dir)
    ids = np.asarray(segment_ids, np.int64)
    if kind == "wds":
        from streamdistill.store.wds import export_wds
        return export_wds(store, out, segment_ids=ids, progress=progress)
    if kind != "npy":
        raise ValueError(f"--export: kind must be wds or npy (got {kind!r})")
    out.mkdir(parents=True, exist_ok=True)
    groups, rows = store.locate(ids)
    paths = []
    for g in sorted(set(groups.tolist())):
        sel_rows = rows[groups == g].astype(np.int64)
        sel_ids = ids[groups == g]
        info = store.groups[g]
        target = out / f"{g}.npy"
        paths.append(target)

        def write(tmp: Path, g=g, sel_rows=sel_rows, info=info) -> None:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                            shape=(len(sel_rows), info.n_channels, info.n_times))
            bar = tqdm(total=len(sel_rows), desc=f"export {g}", unit="seg",
                       disable=not progress)
            i = 0
            while i < len(sel_rows):
                # rows [r0, r0 + span) of the store hold the next picks; read them in one go
                r0 = int(sel_rows[i])
                j = int(np.searchsorted(sel_rows, r0 + block_rows, side="left"))
                block = store.read_rows(g, r0, int(sel_rows[j - 1]) + 1)
                arr[i:j] = block[sel_rows[i:j] - r0]
                bar.update(j - i)
                i = j
            bar.close()
            arr.flush()
            del arr

        atomic_write(target, write)
        id_path = out / f"{g}.segment_ids.npy"

        def write_ids(tmp: Path, sel_ids=sel_ids) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, sel_ids)
        atomic_write(id_path, write_ids)
    atomic_write_json(out / "export.json", {
        "store": str(store.path), "store_fingerprint": store.fingerprint,
        "n_segments": int(len(ids)), "groups": sorted(set(groups.tolist())), "dtype": "float32",
        "units": "uV"})
    return paths
