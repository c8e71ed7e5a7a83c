"""Shared fixtures: small generated corpora (written through MNE to real formats) and helpers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
EEGMMIDB = SHARED_DATA / "eegmmidb"

# Keep BLAS/FFT single-threaded in tests: results must not depend on thread counts anyway, and
# the CI machine has 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Filter kernels designed during the tests are cached in a folder of this session, not the
# user's ~/.cache (shard/kernel_cache.py); subprocesses inherit it.
os.environ.setdefault("STREAMDISTILL_CACHE_DIR", tempfile.mkdtemp(prefix="sd-test-cache-"))


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """Four 75-s recordings: 19 and 64 channels, 160/250/500 Hz, EDF/FIF/BrainVision/EEGLAB."""
    from streamdistill.synth import generate_corpus

    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, n_subjects=2, recordings_per_subject=2, montages=(19, 64),
                    sfreqs=(160, 250, 500), duration_s=75.0,
                    formats=("edf", "fif", "brainvision", "eeglab"), seed=7)
    return out


def assert_same_store(a: Path, b: Path) -> None:
    """Two stores hold the same content: arrays bit for bit, tables and store.json equal."""
    from streamdistill.store import open_store

    sa, sb = open_store(a), open_store(b)
    assert sa.info == sb.info
    assert sa.segments().equals(sb.segments())
    assert sa.recordings().equals(sb.recordings())
    for g in sa.groups:
        xa, xb = sa.array(g)[:], sb.array(g)[:]
        assert xa.shape == xb.shape
        assert np.array_equal(xa.view(np.uint16), xb.view(np.uint16)), g


@pytest.fixture
def same_store():
    """:func:`assert_same_store` as a fixture (tests are not a package)."""
    return assert_same_store


@pytest.fixture(scope="session")
def small_store(small_corpus, tmp_path_factory) -> Path:
    """``small_corpus`` sharded once (read-only for tests: copy it before changing it)."""
    from streamdistill.config import ShardConfig
    from streamdistill.shard.run import run_shard

    out = tmp_path_factory.mktemp("small_store") / "store"
    run_shard([str(small_corpus)], out, ShardConfig(workers=1), progress=False)
    return out
