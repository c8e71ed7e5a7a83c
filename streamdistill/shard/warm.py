"""Imported once by the forkserver that starts ``shard`` worker processes.

Workers fork from a server that already holds MNE's readers, scipy.signal and the loaded numba
resampler, so each worker starts in milliseconds instead of paying ~2–3 s of imports and JIT-cache
loading (which, on corpora of short files, ate the whole gain of a second worker).
"""

from __future__ import annotations

import mne
import numpy as np

import streamdistill.shard.recording  # noqa: F401 - the worker's code and its imports
from streamdistill.shard.preprocess import design_resample_kernel
from streamdistill.shard.resample import polyphase_resample

for _reader in ("read_raw_edf", "read_raw_bdf", "read_raw_fif", "read_raw_brainvision",
                "read_raw_eeglab", "read_raw_gdf"):
    getattr(mne.io, _reader)  # MNE loads its readers lazily

for _dtype in (np.float32, np.float64):
    polyphase_resample(np.zeros((1, 64), _dtype), 5, 4, design_resample_kernel(5, 4))
