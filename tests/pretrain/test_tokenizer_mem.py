"""VQ-NSP tokenizer (spectral targets, quantizer, k-means init, EMA, DDP reduction) and masked EEG
modeling (masks, symmetric passes, loss)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdistill.pretrain.mem import MEMModel, mem_loss, random_mask
from streamdistill.pretrain.tokenizer import (
    VQNSP, NormEMAQuantizer, TokenizerConfig, kmeans_cosine, spectral_targets,
)

CH = ["FP1", "FP2", "CZ", "O1"]
TINY = TokenizerConfig(encoder="tiny")


def eeg(batch: int, channels: int, seconds: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, seconds * 200, generator=g) * 50.0


@pytest.fixture(scope="module")
def trained_tokenizer() -> VQNSP:
    """Tiny tokenizer after 4 AdamW steps on random EEG (k-means ran on the first batch)."""
    torch.manual_seed(0)
    tok = VQNSP(TINY)
    opt = torch.optim.AdamW(tok.parameters(), lr=1e-3)
    for step in range(4):
        out = tok(eeg(8, 4, 4, seed=step), CH)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    return tok.eval()


# --------------------------------------------------------------------------------- tokenizer
def test_spectral_targets():
    x = eeg(3, 4, 2)
    amp, phase = spectral_targets(x)
    assert amp.shape == phase.shape == (3, 8, 200)
    for v in (amp, phase):
        torch.testing.assert_close(v.mean(dim=(1, 2)), torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(v.std(dim=(1, 2)), torch.ones(3), atol=1e-5, rtol=0)
    # per-sample z-scoring makes the targets unit-free; an all-zero sample gives zeros, not NaN
    torch.testing.assert_close(spectral_targets(x * 7.0)[0], amp, atol=1e-4, rtol=1e-4)
    assert torch.equal(spectral_targets(torch.zeros(1, 2, 200))[0], torch.zeros(1, 2, 200))
    # bin 0 of a patch's amplitude target is its |sum| (up to the z-score)
    raw = torch.fft.fft(x[0, 1, 200:400] / 100).abs()
    z = (raw - raw.mean()) / raw.std()
    assert torch.corrcoef(torch.stack((z, amp[0, 3])))[0, 1] > 0.99


def test_tokenizer_shapes_and_losses():
    torch.manual_seed(0)
    tok = VQNSP(TINY)
    x = eeg(2, 4, 3)
    out = tok(x, CH)
    assert out.codes.shape == (2, 12) and out.codes.dtype == torch.long
    assert 0 <= int(out.codes.min()) and int(out.codes.max()) < 8192
    z_q, codes, _ = tok.encode(x, CH, update=False)
    assert z_q.shape == (2, 4, 3, 64)
    torch.testing.assert_close(z_q.norm(dim=-1), torch.ones(2, 4, 3))
    amp, phase = tok.decode(z_q, CH)
    assert amp.shape == phase.shape == (2, 12, 200)
    torch.testing.assert_close(out.loss, out.vq_loss + out.amp_loss + out.phase_loss)
    assert all(torch.isfinite(v) for v in (out.vq_loss, out.amp_loss, out.phase_loss))


def test_straight_through_gradient_reaches_encoder():
    torch.manual_seed(0)
    tok = VQNSP(TINY)
    out = tok(eeg(2, 4, 2), CH)
    (out.amp_loss + out.phase_loss).backward()  # reconstruction only: no VQ term
    g = tok.encoder.blocks[0].attn.qkv.weight.grad
    assert g is not None and g.abs().sum() > 0
    assert tok.to_code[0].weight.grad.abs().sum() > 0


def test_kmeans_init_is_deterministic():
    g = torch.Generator().manual_seed(5)
    z = F.normalize(torch.randn(500, 16, generator=g), dim=-1)
    a = kmeans_cosine(z, 32, generator=torch.Generator().manual_seed(1))
    b = kmeans_cosine(z, 32, generator=torch.Generator().manual_seed(1))
    c = kmeans_cosine(z, 32, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert int(a[1].sum()) == 500
    torch.testing.assert_close(a[0].norm(dim=-1), torch.ones(32))
    q1, q2 = (NormEMAQuantizer(64, 16, kmeans_seed=3) for _ in range(2))
    q1(z), q2(z)
    assert torch.equal(q1.codebook, q2.codebook) and bool(q1.initialised)


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(8)[:4]
    z = F.normalize(centres.repeat_interleave(50, 0) + 0.05 * torch.randn(200, 8, generator=g),
                    dim=-1)
    means, counts = kmeans_cosine(z, 4, generator=torch.Generator().manual_seed(0))
    assert sorted(counts.tolist()) == [50.0] * 4
    assert (means @ centres.t()).amax(0).min() > 0.99


def test_codebook_used_after_training(trained_tokenizer):
    q = trained_tokenizer.quantizer
    assert bool(q.initialised)
    torch.testing.assert_close(q.codebook.norm(dim=-1), torch.ones(8192))
    codes = trained_tokenizer.encode_codes(eeg(4, 4, 4, seed=11), CH)
    assert codes.shape == (4, 16) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < 8192
    assert codes.unique().numel() > 1
    assert int((q.usage > 0).sum()) > 1


def test_encode_codes_never_updates(trained_tokenizer):
    q = trained_tokenizer.quantizer
    before = q.codebook.clone(), q.usage.clone()
    trained_tokenizer.train()
    try:
        trained_tokenizer.encode_codes(eeg(2, 4, 2, seed=12), CH)
    finally:
        trained_tokenizer.eval()
    trained_tokenizer(eeg(2, 4, 2, seed=13), CH)  # eval-mode forward: no EMA either
    assert torch.equal(q.codebook, before[0]) and torch.equal(q.usage, before[1])
    with pytest.raises(RuntimeError, match="not initialised"):
        VQNSP(TINY).encode_codes(eeg(1, 4, 1), CH)


def test_ema_update_moves_used_codes_only():
    q = NormEMAQuantizer(16, 8, decay=0.9, kmeans_seed=0)
    g = torch.Generator().manual_seed(0)
    q(torch.randn(64, 8, generator=g))  # k-means init
    before = q.codebook.clone()
    _, codes, _ = q(torch.randn(10, 8, generator=g))
    used = torch.zeros(16, dtype=torch.bool)
    used[codes] = True
    moved = (q.codebook - before).abs().amax(-1) > 0
    assert torch.equal(moved, used)
    torch.testing.assert_close(q.codebook.norm(dim=-1), torch.ones(16))


def test_ddp_reduction_path_matches_single_process(tmp_path):
    """Under torch.distributed (gloo, world size 1) the all-reduced update equals the local one."""
    g = torch.Generator().manual_seed(0)
    init, batch = torch.randn(64, 8, generator=g), torch.randn(32, 8, generator=g)
    local = NormEMAQuantizer(16, 8)
    local(init), local(batch)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        q = NormEMAQuantizer(16, 8)
        q(init), q(batch)
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(q.codebook, local.codebook)
    torch.testing.assert_close(q.usage, local.usage)


# --------------------------------------------------------------------------------------- MEM
@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 5), n=st.integers(2, 80), ratio=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**31 - 1))
def test_random_mask_and_complement_cover_once(batch, n, ratio, seed):
    mask = random_mask(batch, n, ratio, torch.Generator().manual_seed(seed))
    assert mask.shape == (batch, n) and mask.dtype == torch.bool
    assert (mask.sum(1) == n - int(n * (1 - ratio))).all()
    cover = mask.int() + (~mask).int()
    assert (cover == 1).all()
    again = random_mask(batch, n, ratio, torch.Generator().manual_seed(seed))
    assert torch.equal(mask, again)


def test_random_mask_is_uniform_and_checked():
    mask = random_mask(4000, 10, 0.5, torch.Generator().manual_seed(0))
    freq = mask.float().mean(0)
    assert (freq - 0.5).abs().max() < 0.04
    with pytest.raises(ValueError, match="ratio"):
        random_mask(2, 10, 1.0)


def test_mem_forward_shapes_and_symmetry():
    torch.manual_seed(0)
    model = MEMModel("tiny").eval()
    x = eeg(2, 4, 3)
    mask = random_mask(2, 12, 0.5, torch.Generator().manual_seed(0))
    logits = model(x, CH, mask)
    assert logits.shape == (12, 8192)  # 6 masked patches per sample
    a, b = model(x, CH, mask, symmetric=True)
    torch.testing.assert_close(a, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b, model(x, CH, ~mask), atol=1e-5, rtol=1e-5)
    # the masked patches' embeddings are the mask token: one patch masked or not changes its logits
    one = torch.zeros(2, 12, dtype=torch.bool)
    one[0, 5] = True
    out_masked = model.backbone.encode(torch.where(one.view(2, 4, 3, 1), model.mask_token,
                                                   model.backbone.embed(x)), CH)
    torch.testing.assert_close(model(x, CH, one), model.lm_head(out_masked[:, 1:][one]))


def test_mem_rejects_bad_masks():
    model = MEMModel("tiny", vocab_size=16)
    x = eeg(1, 4, 2)
    with pytest.raises(ValueError, match="bool tensor"):
        model(x, CH, torch.zeros(1, 8))
    with pytest.raises(ValueError, match="bool tensor"):
        model(x, CH, torch.zeros(1, 7, dtype=torch.bool))
    codes = torch.zeros(1, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="both passes"):
        mem_loss(model, x, CH, torch.ones(1, 8, dtype=torch.bool), codes)


def test_mem_loss_decreases(trained_tokenizer):
    torch.manual_seed(0)
    x = eeg(4, 4, 4, seed=21)
    codes = trained_tokenizer.encode_codes(x, CH)
    model = MEMModel("tiny")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mask = random_mask(4, 16, 0.5, torch.Generator().manual_seed(0))
    first = mem_loss(model, x, CH, mask, codes)
    assert first.loss.item() == pytest.approx(2 * torch.log(torch.tensor(8192.0)).item(), rel=0.1)
    losses = []
    for _ in range(6):
        out = mem_loss(model, x, CH, mask, codes)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0] - 0.5
    assert 0.0 <= float(out.acc_masked) <= 1.0
    torch.testing.assert_close(out.loss.detach(), out.loss_masked + out.loss_complement)
