"""CUDA path of encode (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdistill.config import load_config
from streamdistill.config import CompressorConfig
from streamdistill.encode.model import MultiViewCompressor
from streamdistill.encode.run import run_encode
from streamdistill.store import open_store

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_encode_matches_cpu():
    torch.manual_seed(0)
    model = MultiViewCompressor(64, 800, CompressorConfig()).eval()
    x = torch.randn(64, 64, 800) * 30
    z_cpu = model.encode(x)
    z_gpu = model.cuda().encode(x.cuda()).cpu()
    np.testing.assert_allclose(z_gpu.numpy(), z_cpu.numpy(), rtol=1e-3, atol=1e-3)


def test_run_encode_on_cuda(small_store, tmp_path):
    cfg = load_config("tiny", {"encode.device": "cuda", "encode.epochs": 1}).encode
    summary = run_encode(open_store(small_store), tmp_path / "enc", cfg, progress=False)
    z = np.load(tmp_path / "enc" / "latents.npy")
    assert z.shape == (summary.n_segments, 64) and np.isfinite(z).all()
