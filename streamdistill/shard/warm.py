"""Imported once by the forkserver that starts ``shard`` worker processes.

Workers fork from a server that already holds the worker's code, MNE's readers and threadpoolctl
(the filter kernels come from ``kernel_cache.py`` or are designed on first use), so each worker
starts in milliseconds instead of paying its imports (which, on corpora of short files, ate the
whole gain of a second worker).
"""

from __future__ import annotations

import mne
import threadpoolctl  # noqa: F401 - used by the resampler on every block

import streamdistill.shard.recording  # noqa: F401 - the worker's code and its imports

for _reader in ("read_raw_edf", "read_raw_bdf", "read_raw_fif", "read_raw_brainvision",
                "read_raw_eeglab", "read_raw_gdf"):
    getattr(mne.io, _reader)  # MNE loads its readers lazily
