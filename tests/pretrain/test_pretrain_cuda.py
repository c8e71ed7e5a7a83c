"""CUDA path of pretrain (skipped without a GPU): the backbone gives the CPU's outputs on the
device, and a short run on CUDA (bf16 autocast, pinned batches) trains both stages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamdistill.config import load_config
from streamdistill.pretrain.model import Backbone
from streamdistill.pretrain.run import run_pretrain

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CH = ["FP1", "FP2", "CZ", "PZ", "O1", "O2", "T7", "T8"]


def test_base_backbone_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = Backbone("base").eval()
    x = torch.randn(4, len(CH), 4 * 200) * 50.0
    with torch.no_grad():
        out_cpu = model(x, CH)
        out_gpu = model.cuda()(x.cuda(), CH).cpu()
    # TF32 matmuls may be on for CUDA: compare at the precision they keep
    torch.testing.assert_close(out_gpu, out_cpu, rtol=2e-2, atol=2e-2)


def test_run_pretrain_on_cuda(small_store, tmp_path):
    cfg = load_config("tiny", {"pretrain.device": "cuda", "pretrain.log_every": 1}).pretrain
    cfg.tokenizer.epochs = 2
    cfg.mem.epochs = 1
    cfg.tokenizer.warmup_epochs = cfg.mem.warmup_epochs = 1
    summary = run_pretrain(small_store, tmp_path / "run", cfg, progress=False)
    assert [s.stage for s in summary.stages] == ["tokenizer", "mem"]
    for s in summary.stages:
        assert s.steps > 0 and np.isfinite(s.final_loss) and 0 <= s.data_wait <= 1
        recs = [json.loads(line) for line in
                (tmp_path / "run" / s.stage / "metrics.jsonl").read_text().splitlines()]
        assert recs and all(np.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in recs)
    assert summary.stages[0].extra["codebook_used"] > 1
    assert (tmp_path / "run" / "mem" / "student.pt").is_file()
