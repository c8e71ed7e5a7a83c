"""Blockwise preprocessing equals whole-recording processing (issue 2: within 1e-3 µV RMS)."""

from __future__ import annotations

import mne
import numpy as np
import pytest
from scipy import signal

from streamdistill.config import PreprocessConfig
from streamdistill.shard.preprocess import (
    design_resample_kernel,
    iter_blocks,
    make_plan,
    process_whole,
    reflect_limited_pad,
)


def _eeg_like(n_channels: int, n: int, seed: int = 0) -> np.ndarray:
    """Brown-ish noise with a large DC offset and a 50 Hz component, µV."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal((n_channels, n)), axis=1) * 2.0
    x += rng.uniform(-3000, 3000, (n_channels, 1))
    return x


def _blockwise(x: np.ndarray, plan, block_s: float):
    blocks = list(iter_blocks(lambda a, b: x[:, a:b], x.shape[1], plan, block_s))
    starts = [b.start for b in blocks]
    data = np.concatenate([b.data for b in blocks], axis=1)
    return starts, data, blocks


@pytest.mark.parametrize("sfreq", [160.0, 250.0, 256.0, 500.0, 1000.0, 200.0, 128.0])
@pytest.mark.parametrize("block_s", [30.0, 71.3])
def test_blockwise_equals_whole(sfreq, block_s):
    plan = make_plan(sfreq, PreprocessConfig())
    n = int(sfreq * 190) + 3
    x = _eeg_like(3, n)
    whole = process_whole(x, plan)
    starts, data, blocks = _blockwise(x, plan, block_s)
    assert len(blocks) > 1
    assert data.shape == whole.shape == (3, plan.n_out(n))
    assert starts == sorted(starts) and starts[0] == 0
    rms = np.sqrt(np.mean((data - whole) ** 2))
    assert rms < 1e-3, rms


def test_float32_close_to_float64():
    x = _eeg_like(4, 256 * 200, seed=1)
    p32 = make_plan(256.0, PreprocessConfig(dsp_dtype="float32"))
    p64 = make_plan(256.0, PreprocessConfig(dsp_dtype="float64"))
    diff = process_whole(x, p32) - process_whole(x, p64)
    assert np.sqrt(np.mean(diff**2)) < 1e-3


def test_float64_blockwise_is_exact():
    plan = make_plan(250.0, PreprocessConfig(dsp_dtype="float64"))
    x = _eeg_like(2, 250 * 150)
    _, data, _ = _blockwise(x, plan, 31.0)
    np.testing.assert_allclose(data, process_whole(x, plan), atol=1e-9)


def test_matches_mne_filter_chain_in_the_interior():
    """Interior samples equal MNE's filter_data → notch_filter → polyphase resample."""
    sfreq = 250.0
    x = _eeg_like(2, int(sfreq * 120), seed=3)
    plan = make_plan(sfreq, PreprocessConfig(dsp_dtype="float64"))
    ours = process_whole(x, plan)
    ref = mne.filter.filter_data(x, sfreq, 0.1, 75.0, verbose="error")
    ref = mne.filter.notch_filter(ref, sfreq, 50.0, verbose="error")
    ref = signal.resample_poly(ref, plan.up, plan.down, axis=1, padtype="reflect")
    edge = int(40 * 200)
    np.testing.assert_allclose(ours[:, edge:-edge], ref[:, edge:-edge], atol=1e-6)


def test_resample_kernel_is_scipys_default():
    x = np.random.default_rng(0).standard_normal((2, 1000))
    for up, down in [(5, 4), (25, 32), (1, 5)]:
        a = signal.resample_poly(x, up, down, axis=1, padtype="reflect")
        b = signal.resample_poly(x, up, down, axis=1, padtype="reflect",
                                 window=design_resample_kernel(up, down))
        np.testing.assert_array_equal(a, b)


def test_nyquist_limits_are_noted():
    plan = make_plan(128.0, PreprocessConfig())
    assert any("low-pass" in n for n in plan.notes)
    assert any("notch" in n for n in plan.notes) is False  # 50 Hz < 64 Hz Nyquist
    plan = make_plan(100.0, PreprocessConfig())
    assert any("notch" in n for n in plan.notes)


def test_nan_and_flat_flags_do_not_spread():
    sfreq = 200.0
    x = _eeg_like(2, int(sfreq * 100))
    x[:, 4000:4100] = np.nan
    x[:, 10000:12000] = 7.0
    plan = make_plan(sfreq, PreprocessConfig())
    _, data, blocks = _blockwise(x, plan, 30.0)
    bad = np.concatenate([b.bad for b in blocks])
    changed = np.concatenate([b.changed for b in blocks])
    assert np.isfinite(data).all()
    assert bad[4000:4100].all() and bad.sum() == 100
    assert not changed[10001:12000].any() and changed[12000]


def test_reflect_limited_pad_matches_mne_semantics():
    x = np.arange(5, dtype=float)[None]
    np.testing.assert_array_equal(reflect_limited_pad(x, 2, 2), [[2, 1, 0, 1, 2, 3, 4, 3, 2]])
    np.testing.assert_array_equal(reflect_limited_pad(x, 6, 0)[0, :6], [0, 0, 4, 3, 2, 1])


@pytest.mark.parametrize("up,down", [(5, 4), (25, 32), (4, 5), (2, 5), (1, 5), (3, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [3001, 97, 4800])
def test_polyphase_resample_equals_scipy(up, down, dtype, n):
    """Every length: whole tiles only, tiles plus a remainder, fewer outputs than one tile."""
    from streamdistill.shard.resample import polyphase_resample

    x = np.random.default_rng(up * 10 + down).standard_normal((5, n)).astype(dtype)
    kernel = design_resample_kernel(up, down)
    ours = polyphase_resample(x, up, down, kernel)
    ref = signal.resample_poly(x.astype(np.float64), up, down, axis=1, window=kernel,
                               padtype="reflect")
    assert ours.shape == ref.shape and ours.dtype == dtype and ours.flags.c_contiguous
    np.testing.assert_allclose(ours, ref, atol=1e-5 if dtype == np.float32 else 1e-10)
    short = x[:, :7]
    np.testing.assert_allclose(polyphase_resample(short, up, down, kernel),
                               signal.resample_poly(short, up, down, axis=1, window=kernel,
                                                    padtype="reflect"), atol=1e-5)
