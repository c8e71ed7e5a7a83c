"""The multi-view compressor: views, patches, tokens, latents, losses (EEG-DLite)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdistill.config import CompressorConfig
from streamdistill.encode.losses import idc_inter, idc_intra, reconstruction_loss, total_loss
from streamdistill.encode.model import (
    CLS_POSITIONS,
    N_TOKENS,
    MultiViewCompressor,
    ResNet1dStem,
)
from streamdistill.encode.views import make_views, patchify, zscore_per_sample


def test_views_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 200)) * 30 + 5
    views = make_views(torch.from_numpy(x)).numpy()
    assert views.shape == (3, 4, 400) and views.dtype == np.float32
    for b in range(3):
        xn = (x[b] - x[b].mean()) / (x[b].std() + 1e-8)
        spec = np.fft.fft(xn, axis=-1)[:, :100]
        mag = np.abs(spec)
        pha = np.arctan2(spec.imag, spec.real)
        mag = (mag - mag.mean()) / (mag.std() + 1e-8)
        pha = (pha - pha.mean()) / (pha.std() + 1e-8)
        np.testing.assert_allclose(views[b, :, :200], xn, atol=1e-5)
        np.testing.assert_allclose(views[b, :, 200:300], mag, atol=1e-4)
        # phase is ill-defined where the spectrum is ~0; compare where it is not
        ok = np.abs(spec) > 1e-3
        np.testing.assert_allclose(views[b, :, 300:][ok], pha[ok], atol=1e-3)


def test_patches_layout():
    x = torch.randn(2, 5, 100)
    p = patchify(x)
    v = make_views(x)
    assert p.shape == (2, 20, 5, 10)
    for i in range(20):
        torch.testing.assert_close(p[:, i], v[..., i * 10 : (i + 1) * 10])
    with pytest.raises(ValueError):
        make_views(torch.randn(1, 2, 55))


def test_zscore_per_sample():
    x = torch.randn(4, 3, 50) * 7 + 2
    z = zscore_per_sample(x)
    torch.testing.assert_close(z.mean(dim=(1, 2)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(1, 2), unbiased=False), torch.ones(4), atol=1e-4,
                               rtol=0)


def test_stem_and_token_shapes():
    stem = ResNet1dStem(64, 8)
    assert stem(torch.randn(6, 64, 80)).shape == (6, 64)
    m = MultiViewCompressor(64, 800)
    out = m(torch.randn(3, 64, 800) * 20)
    assert out.latent.shape == (3, 64) and out.latent.dtype == torch.float32
    assert out.recon.shape == out.target.shape == (3, 20, 64, 80)
    assert out.tokens_in.shape == out.tokens_out.shape == (3, 20, 64)
    assert N_TOKENS == 23 and CLS_POSITIONS == (0, 11, 17)
    # latent = mean of the 20 non-CLS encoder tokens
    torch.testing.assert_close(out.latent, out.tokens_out.mean(dim=1))


def test_parameter_count_reported(capsys):
    m = MultiViewCompressor(64, 800)
    n = sum(p.numel() for p in m.parameters())
    print(f"EEG-DLite compressor, C=64, W=800: {n:,} parameters")
    assert 2.2e6 < n < 2.4e6  # REFERENCE.md: ≈2.3M


def test_encode_is_independent_of_batch_composition():
    torch.manual_seed(0)
    m = MultiViewCompressor(19, 2600, CompressorConfig(depth=2, decoder_depth=1)).eval()
    x = torch.randn(5, 19, 2600) * 20
    z_all = m.encode(x)
    z_one = torch.cat([m.encode(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(z_all, z_one, atol=1e-5, rtol=1e-5)
    # modal embedding is per token, so a sample's latent does not depend on its batch index
    torch.testing.assert_close(m.encode(x.flip(0)).flip(0), z_all, atol=1e-5, rtol=1e-5)


def test_bypass_decoder_reads_encoder_tokens():
    torch.manual_seed(0)
    m = MultiViewCompressor(4, 100, CompressorConfig(depth=1, decoder_depth=1, decoder="bypass"))
    out = m(torch.randn(2, 4, 100))
    assert out.recon.shape == (2, 20, 4, 10)
    m.decoder[0].ffn[0].weight.data.add_(1.0)  # the decoder is unused in bypass mode
    m.eval()
    out2 = m(torch.randn(2, 4, 100))
    assert torch.isfinite(out2.recon).all()


def test_losses_finite_and_variants_differ():
    torch.manual_seed(0)
    m = MultiViewCompressor(8, 200, CompressorConfig(depth=1, decoder_depth=1))
    out = m(torch.randn(6, 8, 200))
    rec = reconstruction_loss(out)
    inter, intra = idc_inter(out, m.idc_proj), idc_intra(out, m.idc_proj)
    assert torch.isfinite(rec) and torch.isfinite(inter) and torch.isfinite(intra)
    # log of (B-1) resp. 19 terms of exp(cos) ∈ [e^-1, e]: bounded
    assert np.log(5) - 1 <= float(inter.detach()) <= np.log(5) + 1
    assert np.log(19) - 1 <= float(intra.detach()) <= np.log(19) + 1
    loss, parts = total_loss(out, m.idc_proj, beta=1e-4, idc="inter")
    assert parts["loss"] == pytest.approx(parts["rec"] + 1e-4 * parts["idc"], rel=1e-5)


def test_loss_decreases_when_training_on_a_batch():
    torch.manual_seed(0)
    m = MultiViewCompressor(8, 200, CompressorConfig(depth=1, decoder_depth=1, dropout=0.0,
                                                    emb_dropout=0.0))
    x = torch.randn(16, 8, 200) * 20
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss, _ = total_loss(m(x), m.idc_proj)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
