"""On-disk cache of designed filter kernels, so that a ``shard`` run whose rates were seen before
does not import ``scipy.signal``.

The band-pass, notch and resampling kernels of a :class:`~streamdistill.shard.preprocess.FilterPlan`
are a pure function of the input rate, the preprocessing parameters and the versions of the
libraries that design them (MNE's ``create_filter``, scipy's ``firwin``). Designing them needs
``scipy.signal``, whose import alone costs ≈ 0.5 s of CPU per process (measured on this project's
machine: ``python -c "import mne; import scipy.signal"`` 0.65 s against 0.11 s for ``import
mne``) — a tenth of sharding all of eegmmidb on one core. The design itself is ~10 ms per rate.

So each designed set is stored once, as ``<key>.npz`` under :func:`cache_dir`, the key a hash of
everything the design depends on (including the MNE, scipy and numpy versions), and read back
bit for bit on later runs. Files are written with temp + rename; an unreadable, foreign or
mismatching file is ignored and rewritten; a cache folder that cannot be written only costs the
design time. The cache never changes a result: a hit returns the very arrays the design
produced (tested), and ``STREAMDISTILL_CACHE_DIR=""`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

#: Bump when the cached content or its meaning changes.
FORMAT = 1


def cache_dir() -> Path | None:
    """``$STREAMDISTILL_CACHE_DIR`` (empty: no cache), else ``$XDG_CACHE_HOME/streamdistill``,
    else ``~/.cache/streamdistill``; kernels live in its ``filter-kernels/`` folder."""
    env = os.environ.get("STREAMDISTILL_CACHE_DIR")
    if env is not None:
        return Path(env) / "filter-kernels" if env else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "streamdistill" / "filter-kernels"


def library_versions() -> dict[str, str]:
    """Versions of the libraries the design depends on (importing ``scipy`` itself is cheap:
    its sub-packages load lazily)."""
    import mne
    import scipy

    return {"mne": mne.__version__, "scipy": scipy.__version__, "numpy": np.__version__}


Design = Callable[[], tuple[dict[str, np.ndarray], list[str]]]


def cached_design(params: dict, design: Design) -> tuple[dict[str, np.ndarray], list[str]]:
    """``design()`` → ``(arrays, notes)``, served from the cache when ``params`` (JSON-able,
    with :func:`library_versions` added here) were designed before."""
    folder = cache_dir()
    if folder is None:
        return design()
    ident = json.dumps({"format": FORMAT, **params, **library_versions()}, sort_keys=True)
    path = folder / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.npz"
    hit = _load(path, ident)
    if hit is not None:
        return hit
    arrays, notes = design()
    _save(path, ident, arrays, notes)
    return arrays, notes


def _load(path: Path, ident: str) -> tuple[dict[str, np.ndarray], list[str]] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["__meta__"]))
            if meta.get("ident") != ident:
                return None
            arrays = {k: npz[k] for k in meta["arrays"]}
        return arrays, list(meta["notes"])
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None  # absent, truncated or foreign: design again


def _save(path: Path, ident: str, arrays: dict[str, np.ndarray], notes: list[str]) -> None:
    meta = json.dumps({"ident": ident, "arrays": sorted(arrays), "notes": list(notes)})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez(fh, __meta__=np.array(meta), **arrays)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
