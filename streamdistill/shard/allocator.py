"""Keep freed block buffers for reuse instead of returning them to the kernel (glibc only).

The block loop (``preprocess.iter_blocks``) allocates and frees a few arrays of tens of MB per
block: input, padded copy, spectra, filtered, resampled, store-dtype copy. glibc serves each
allocation above its mmap threshold (128 KiB, raised dynamically up to 32 MiB) with a fresh
``mmap`` and gives it back with ``munmap`` on free, so every block pays page faults and kernel
zeroing for all of them again. Measured while developing (``shard`` of eegmmidb, one pinned
core, ``/usr/bin/time``, glibc tunables set through the environment): system time 1.09 → 0.66 s,
wall time −6%. Raising the mmap and trim thresholds makes freed blocks stay in the heap and be
reused. Peak RSS stays set by the block size (+5% in that run) because the heap only keeps what
the largest block needed.

Cost: the heap fragments around small long-lived objects, so the peak grows by ≈ 11 KiB per
input file instead of ≈ 3.5 KiB (eegmmidb ×4 → ×16, measured; 0.35 → 1.1 GB extrapolated to
100,000 files). ``malloc_trim`` every 32 recordings and a 64-MB trim threshold were tried and did
not change it (the growth is in place, not free memory). The ≈ 3.5 KiB without it is the
per-file state the run keeps (task list, ledger summaries; ``shard/commit.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: ``mallopt`` parameter numbers (glibc ``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def reuse_large_allocations(threshold_mb: int = 512) -> bool:
    """Serve allocations below ``threshold_mb`` from the heap and keep up to twice that freed
    in it. Once per process; returns False where it does not apply (not glibc)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    threshold = threshold_mb << 20
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 * threshold))
