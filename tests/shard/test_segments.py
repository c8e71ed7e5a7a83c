"""Window rule and windowing of block streams."""

from __future__ import annotations

import numpy as np
import pytest

from streamdistill.shard.preprocess import Block
from streamdistill.shard.segments import (
    WindowCounts,
    group_id,
    iter_windows,
    to_storage,
    window_seconds,
)


@pytest.mark.parametrize("c,seconds", [(64, 4), (19, 13), (32, 8), (16, 16), (8, 16),
                                       (128, 2), (23, 11), (1, 16)])
def test_window_rule(c, seconds):
    assert window_seconds(c) == seconds
    assert window_seconds(c, 2.5) == 2.5


def _blocks(x, sizes, bad=None, changed=None):
    n = x.shape[1]
    bad = np.zeros(n, bool) if bad is None else bad
    changed = np.ones(n, bool) if changed is None else changed
    start = 0
    for size in sizes:
        stop = min(start + size, n)
        yield Block(start, x[:, start:stop], bad[start:stop], changed[start:stop])
        start = stop
        if start >= n:
            break


@pytest.mark.parametrize("sizes", [[1000], [37] * 40, [333, 1, 999], [5] * 300])
@pytest.mark.parametrize("stride", [100, 60, 150])
def test_windows_independent_of_block_sizes(sizes, stride):
    x = np.random.default_rng(0).standard_normal((3, 1000))
    counts = WindowCounts()
    wins = list(iter_windows(_blocks(x, sizes), 100, stride, counts))
    expected_starts = list(range(0, 1000 - 100 + 1, stride))
    assert [w.start for w in wins] == expected_starts
    assert counts.total == len(expected_starts)
    for w in wins:
        np.testing.assert_array_equal(w.x, x[:, w.start : w.start + 100])


def test_drops_nonfinite_and_flat_windows():
    x = np.random.default_rng(0).standard_normal((2, 1000))
    bad = np.zeros(1000, bool)
    bad[250] = True
    changed = np.ones(1000, bool)
    changed[500:700] = False
    counts = WindowCounts()
    wins = list(iter_windows(_blocks(x, [130] * 8, bad, changed), 100, 100, counts))
    assert [w.start for w in wins] == [0, 100, 300, 400, 700, 800, 900]
    assert (counts.total, counts.dropped_nonfinite, counts.dropped_flat) == (10, 1, 2)


def test_float16_clipping_flags():
    x = np.array([[1.0, 70000.0, -80000.0]])
    y, clipped = to_storage(x, "float16")
    assert clipped and y.dtype == np.float16 and np.isfinite(y).all()
    y, clipped = to_storage(np.array([[1.0, 2.0]]), "float16")
    assert not clipped


def test_group_id_stable_and_distinct():
    a = group_id(("FP1", "FP2"))
    assert a == group_id(("FP1", "FP2")) and a.startswith("c2-")
    assert a != group_id(("FP2", "FP1"))


def test_block_cast_flags_clipping_per_window():
    from streamdistill.shard.segments import to_storage_block

    x = np.zeros((2, 300))
    x[1, 150] = 1e6
    block = to_storage_block(Block(0, x, np.zeros(300, bool), np.ones(300, bool)), "float16")
    assert block.data.dtype == np.float16 and block.data.flags.c_contiguous
    assert block.clipped.sum() == 1
    wins = list(iter_windows([block], 100, 100, WindowCounts()))
    assert [w.clipped for w in wins] == [False, True, False]
