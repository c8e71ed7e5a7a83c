"""The on-disk filter-kernel cache: hits equal the design bit for bit, bad files are redesigned,
and a cached run needs no scipy.signal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import streamdistill.shard.kernel_cache as kernel_cache
from streamdistill.config import PreprocessConfig
from streamdistill.shard import preprocess


def _plan(rate: float, **cfg):
    preprocess._make_plan.cache_clear()
    return preprocess.make_plan(rate, PreprocessConfig(**cfg))


def _same(a, b) -> None:
    assert a.kernel.tobytes() == b.kernel.tobytes()
    assert a.resample_kernel.tobytes() == b.resample_kernel.tobytes()
    assert (a.up, a.down, a.fir_context, a.resample_context, a.notes) == \
        (b.up, b.down, b.fir_context, b.resample_context, b.notes)


@pytest.mark.parametrize("rate,cfg", [(160.0, {}), (1000.0, {}), (128.0, {}),
                                      (250.0, {"notch_freq": None, "h_freq": 40.0})])
def test_cached_plan_equals_designed(tmp_path, monkeypatch, rate, cfg):
    monkeypatch.setenv("STREAMDISTILL_CACHE_DIR", "")
    designed = _plan(rate, **cfg)
    monkeypatch.setenv("STREAMDISTILL_CACHE_DIR", str(tmp_path))
    first = _plan(rate, **cfg)  # designs and stores
    assert len(list((tmp_path / "filter-kernels").glob("*.npz"))) == 1
    calls = []
    monkeypatch.setattr(preprocess, "_design_kernels", lambda *a: calls.append(a))
    hit = _plan(rate, **cfg)
    assert not calls  # served from disk
    _same(designed, first)
    _same(designed, hit)
    if rate == 128.0:  # 128 Hz: the 75-Hz low-pass is above Nyquist, noted
        assert any("low-pass" in n for n in hit.notes)


def test_bad_or_foreign_files_are_redesigned(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDISTILL_CACHE_DIR", str(tmp_path))
    good = _plan(160.0)
    (path,) = (tmp_path / "filter-kernels").glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])  # truncated
    _same(good, _plan(160.0))
    other = tmp_path / "other"
    monkeypatch.setenv("STREAMDISTILL_CACHE_DIR", str(other))
    _plan(500.0)
    (foreign,) = (other / "filter-kernels").glob("*.npz")
    os.replace(foreign, path)  # a file whose recorded parameters are another rate's
    _same(good, _plan(160.0))
    assert kernel_cache._load(path, "x") is None


def test_library_versions_are_part_of_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDISTILL_CACHE_DIR", str(tmp_path))
    _plan(160.0)
    real = kernel_cache.library_versions()
    monkeypatch.setattr(kernel_cache, "library_versions", lambda: {**real, "scipy": "0.0"})
    _plan(160.0)
    assert len(list((tmp_path / "filter-kernels").glob("*.npz"))) == 2


def test_unwritable_cache_only_costs_the_design(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STREAMDISTILL_CACHE_DIR", str(blocker))
    _same(_plan(160.0), _plan(160.0))


def test_cached_run_does_not_import_scipy_signal(tmp_path):
    code = ("import sys; from streamdistill.config import PreprocessConfig; "
            "from streamdistill.shard.preprocess import make_plan; "
            "make_plan(160.0, PreprocessConfig()); print('scipy.signal' in sys.modules)")
    env = {**os.environ, "STREAMDISTILL_CACHE_DIR": str(tmp_path)}
    run = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip() for _ in range(2)]
    assert run == ["True", "False"]
