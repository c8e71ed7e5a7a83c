"""BLAS thread control for the small matrix products of the per-core stages."""

from __future__ import annotations

import contextlib


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread (when threadpoolctl is installed) around small products.

    OpenBLAS threads any product above ~2.6·10⁵ multiply-adds; the tile products of the
    resampler (``shard/resample.py``) and the synthetic-EEG renderer (``synth/signals.py``) are
    around that size and gain nothing from threads, while on a busy machine — or with one worker
    process per core — they lose up to 10× to oversubscription. One thread also keeps results
    independent of the machine's core count.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
