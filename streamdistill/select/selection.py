"""Reading a selection (DESIGN.md, "Selection"): ``subset(eta)`` and friends.

A selection folder holds ``order.npy`` (int64 segment ids in pick order, one slice per scope),
``radius.npy`` (float64, aligned with ``order.npy``), ``scopes.parquet`` (each scope's key, group,
slice ``[start, end)`` and ``n_scope`` = its size before outlier removal), ``hbos.npy`` (float64
``(N,)``) and ``selection.json``. Farthest-first order is prefix-stable, so the subset for η is,
in every scope, the first :func:`quota` ``(η, n_scope)`` ids of its slice.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class SelectionError(ValueError):
    """A selection folder is missing, unfinished, or cannot serve the η asked for."""


def quota(eta_percent: float, n_scope: int) -> int:
    """Number of picks for η% of a scope of ``n_scope`` segments: ``round(η·N/100)``, halves
    rounded up (so the rule does not depend on Python's banker's rounding)."""
    return int(math.floor(eta_percent / 100.0 * n_scope + 0.5))


@dataclass
class Selection:
    """An opened selection folder (read-only; ``order``/``radius`` are memory maps)."""

    path: Path
    meta: dict
    scopes: pd.DataFrame

    @property
    def order(self) -> np.ndarray:
        """int64 segment ids in pick order (all scopes concatenated)."""
        return np.load(self.path / "order.npy", mmap_mode="r")

    @property
    def radius(self) -> np.ndarray:
        """float64 coverage radius after each pick (NaN where a method has none, e.g. random)."""
        return np.load(self.path / "radius.npy", mmap_mode="r")

    @property
    def hbos(self) -> np.ndarray:
        """float64 ``(N,)`` HBOS score of every segment (NaN where not computed)."""
        return np.load(self.path / "hbos.npy", mmap_mode="r")

    @property
    def max_eta(self) -> float:
        return float(max(self.meta["eta"]))

    def scope_picks(self, eta: float) -> list[np.ndarray]:
        """Per scope (in ``scopes`` order), the ids picked for η%, in pick order."""
        if not 0 < eta <= 100:
            raise SelectionError(f"η must be in (0, 100] percent (got {eta})")
        if eta > self.max_eta + 1e-9:
            raise SelectionError(
                f"{self.path} was selected up to η = {self.max_eta:g}%; η = {eta:g}% needs a "
                f"rerun of `streamdistill select` with --eta {eta:g} into the same --out "
                "(it extends the existing order)")
        order = self.order
        out = []
        for start, end, n_scope in self.scopes[["start", "end", "n_scope"]].itertuples(
                index=False):
            k = min(quota(eta, int(n_scope)), int(end - start))
            out.append(np.asarray(order[int(start):int(start) + k], dtype=np.int64))
        return out

    def subset(self, eta: float) -> np.ndarray:
        """Sorted segment ids selected at η% (int64)."""
        picks = self.scope_picks(eta)
        return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def open_selection(path: str | Path) -> Selection:
    """Open a finished selection folder written by ``streamdistill select``."""
    path = Path(path)
    meta_path = path / "selection.json"
    if not meta_path.is_file():
        raise SelectionError(f"{path}: no selection.json — not a finished selection (run or "
                             "rerun `streamdistill select ... --out {path}`)")
    meta = json.loads(meta_path.read_text())
    scopes = pd.read_parquet(path / "scopes.parquet")
    return Selection(path, meta, scopes)
