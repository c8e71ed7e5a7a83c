"""VQ-NSP neural tokenizer (Jiang et al., ICLR 2024, Sec. 2.2; REFERENCE.md "LaBraM").

``encoder`` (a LaBraM :class:`~streamdistill.pretrain.model.Backbone`, qkv bias on, no layer scale)
turns each 1-s patch into a token; ``to_code`` (Linear → Tanh → Linear) projects it to 64 dims; the
:class:`NormEMAQuantizer` snaps its L2-normalised vector to the nearest of 8192 L2-normalised codes
(cosine similarity), trained by EMA (decay 0.99) after a k-means initialisation on the first batch,
with commitment loss β‖sg[e] − z‖² (β = 1) and a straight-through gradient. The ``decoder``
(a 3-block backbone over code vectors) and two heads (Linear → Tanh → Linear → 200) predict each
patch's Fourier amplitude and phase over all 200 FFT bins, each z-scored per sample
(:func:`spectral_targets`). Loss = VQ + MSE(amplitude) + MSE(phase).

The trained tokenizer's codes (:meth:`VQNSP.encode_codes`) are the targets of masked EEG modeling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from streamdistill.pretrain.model import PATCH_SIZE, Backbone, get_config, init_weights, \
    patchify, with_depth

#: Rows of the argmax over codes computed at once (bounds the (rows × 8192) similarity matrix).
_CHUNK = 4096


def _ddp() -> bool:
    return dist.is_available() and dist.is_initialized()


def _nearest(z: Tensor, codes: Tensor) -> Tensor:
    """Index of the most cosine-similar code for each unit row of ``z: (N, d)`` → ``(N,)`` int64."""
    return torch.cat([(part @ codes.t()).argmax(dim=1) for part in z.split(_CHUNK)]) \
        if z.shape[0] else torch.zeros(0, dtype=torch.long, device=z.device)


def kmeans_cosine(samples: Tensor, n_clusters: int, n_iters: int = 10, *,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Spherical k-means of unit rows ``samples: (N, d)`` → ``(means (K, d) unit, counts (K,))``.

    Means start from ``K`` rows drawn without replacement (with replacement when ``N < K``) with
    ``generator`` (CPU), then ``n_iters`` rounds assign each row to its most similar mean and
    re-normalise the mean of each cluster; an empty cluster keeps its mean. Deterministic on CPU
    for a given generator state.
    """
    n = samples.shape[0]
    if n == 0:
        raise ValueError("k-means initialisation needs at least one sample")
    idx = (torch.randperm(n, generator=generator)[:n_clusters] if n >= n_clusters
           else torch.randint(0, n, (n_clusters,), generator=generator))
    means = samples[idx.to(samples.device)]
    counts = torch.zeros(n_clusters, device=samples.device)
    for _ in range(n_iters):
        assign = _nearest(samples, means)
        counts = torch.bincount(assign, minlength=n_clusters).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        new = F.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)
        means = torch.where(counts[:, None] > 0, new, means)
    return means, counts


class NormEMAQuantizer(nn.Module):
    """L2-normalised codebook ``(n_codes, dim)`` trained by EMA (BEiT-v2 / LaBraM's
    ``NormEMAVectorQuantizer``).

    Each batch, a code that took vectors moves to ``normalise(decay · code + (1 − decay) ·
    normalise(mean of its vectors))``; a code that took none is kept exactly. Buffers (saved with
    the model, never touched by the optimiser): ``codebook`` (unit rows), ``usage`` (EMA of how
    many vectors each code took per batch), ``initialised``.

    Under ``torch.distributed`` the per-code counts and vector sums are all-reduced before the EMA
    update, and the k-means codebook of rank 0 is broadcast, so every rank keeps the same codebook.
    """

    def __init__(self, n_codes: int = 8192, dim: int = 64, *, decay: float = 0.99,
                 beta: float = 1.0, kmeans_iters: int = 10, kmeans_seed: int = 0):
        super().__init__()
        self.n_codes, self.dim, self.decay, self.beta = n_codes, dim, decay, beta
        self.kmeans_iters, self.kmeans_seed = kmeans_iters, kmeans_seed
        self.register_buffer("codebook", torch.zeros(n_codes, dim))
        self.register_buffer("usage", torch.zeros(n_codes))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def kmeans_init_(self, z: Tensor) -> None:
        """Initialise the codebook by spherical k-means on unit vectors ``z: (N, dim)``.

        Seeded by ``kmeans_seed`` through a CPU ``torch.Generator``: the same batch gives the same
        codebook.
        """
        gen = torch.Generator().manual_seed(self.kmeans_seed)
        means, counts = kmeans_cosine(z.float(), self.n_codes, self.kmeans_iters, generator=gen)
        self.codebook.copy_(means)
        self.usage.copy_(counts)
        if _ddp():
            dist.broadcast(self.codebook, src=0)
            dist.broadcast(self.usage, src=0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, z: Tensor, codes: Tensor) -> None:
        counts = torch.bincount(codes, minlength=self.n_codes).to(z.dtype)
        sums = torch.zeros_like(self.codebook).index_add_(0, codes, z)
        if _ddp():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        means = F.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)
        moved = F.normalize(self.decay * self.codebook + (1 - self.decay) * means, dim=-1)
        self.codebook.copy_(torch.where(counts[:, None] > 0, moved, self.codebook))  # unused: kept

    def forward(self, z: Tensor, *, update: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Quantise ``z: (..., dim)`` → ``(z_q (..., dim), codes (...) int64, vq_loss scalar)``.

        ``z`` is L2-normalised first; ``z_q`` is the chosen unit code with a straight-through
        gradient to ``z``; ``vq_loss = β · mean‖sg[z_q] − z‖²``. The codebook is initialised on the
        first call and EMA-updated when ``update`` and the module is in training mode (codes and
        ``z_q`` come from the codebook before the update).
        """
        z = F.normalize(z.float(), dim=-1)
        flat = z.reshape(-1, self.dim)
        if not bool(self.initialised):
            self.kmeans_init_(flat.detach())
        codes = _nearest(flat.detach(), self.codebook)
        z_q = self.codebook[codes].view_as(z)
        if update and self.training:
            self._ema_update(flat.detach(), codes)
        loss = self.beta * F.mse_loss(z_q, z)
        z_q = z + (z_q - z).detach()
        return z_q, codes.view(z.shape[:-1]), loss


def spectral_targets(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-patch Fourier amplitude and phase of ``x: (B, C, A·200)`` µV → two ``(B, C·A, 200)``.

    FFT over each 1-s patch (all 200 bins, in float32); amplitude ``|X|`` and phase ``∠X`` are each
    z-scored per sample over (channels, patches, bins) with the unbiased std, as the reference's
    ``std_norm`` (std floored at 1e-6 so that an all-zero sample gives zeros, not NaN).
    """
    spec = torch.fft.fft(patchify(x.float()), dim=-1)
    out = []
    for v in (spec.abs(), spec.angle()):
        mean = v.mean(dim=(1, 2, 3), keepdim=True)
        std = v.std(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
        out.append(((v - mean) / std).flatten(1, 2))
    return out[0], out[1]


@dataclass(frozen=True)
class TokenizerConfig:
    """VQ-NSP hyper-parameters (paper and released recipe: codebook 8192 × 64, EMA 0.99, 3 decoder
    blocks, k-means init, β = 1)."""

    encoder: str = "base"
    decoder_depth: int = 3
    n_codes: int = 8192
    code_dim: int = 64
    decay: float = 0.99
    beta: float = 1.0
    kmeans_iters: int = 10
    kmeans_seed: int = 0


@dataclass
class TokenizerOutput:
    """One VQ-NSP step: ``loss = vq_loss + amp_loss + phase_loss`` (scalars), ``codes (B, C·A)``."""

    loss: Tensor
    vq_loss: Tensor
    amp_loss: Tensor
    phase_loss: Tensor
    codes: Tensor


def _head(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, PATCH_SIZE))


class VQNSP(nn.Module):
    """Vector-quantised neural spectrum prediction tokenizer. Inputs are ``(B, C, A·200)`` µV."""

    def __init__(self, config: TokenizerConfig | str = "base"):
        super().__init__()
        cfg = config if isinstance(config, TokenizerConfig) else TokenizerConfig(encoder=config)
        self.config = cfg
        size = get_config(cfg.encoder)
        d = size.embed_dim
        self.encoder = Backbone(size, qkv_bias=True, layer_scale=None)
        self.to_code = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, cfg.code_dim))
        self.quantizer = NormEMAQuantizer(cfg.n_codes, cfg.code_dim, decay=cfg.decay,
                                          beta=cfg.beta, kmeans_iters=cfg.kmeans_iters,
                                          kmeans_seed=cfg.kmeans_seed)
        self.decoder = Backbone(with_depth(size, cfg.decoder_depth), qkv_bias=True,
                                layer_scale=None, in_features=cfg.code_dim)
        self.amp_head, self.phase_head = _head(d), _head(d)
        for m in (self.to_code, self.amp_head, self.phase_head):
            m.apply(init_weights)

    def encode(self, x: Tensor, channels: Sequence[str], *,
               update: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """``x (B, C, A·200)`` µV → ``(z_q (B, C, A, code_dim), codes (B, C·A), vq_loss)``."""
        b, c = x.shape[:2]
        feats = self.encoder(x, channels)[:, 1:]                          # (B, C·A, D)
        z = self.to_code(feats).unflatten(1, (c, -1))                     # (B, C, A, code_dim)
        z_q, codes, vq_loss = self.quantizer(z, update=update)
        return z_q, codes.reshape(b, -1), vq_loss

    def decode(self, z_q: Tensor, channels: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Code vectors ``(B, C, A, code_dim)`` → predicted amplitude, phase ``(B, C·A, 200)``."""
        h = self.decoder(z_q, channels)[:, 1:]
        return self.amp_head(h), self.phase_head(h)

    def forward(self, x: Tensor, channels: Sequence[str]) -> TokenizerOutput:
        """Losses of one step on ``x (B, C, A·200)`` µV (EMA-updates the codebook in training)."""
        z_q, codes, vq_loss = self.encode(x, channels)
        amp, phase = self.decode(z_q, channels)
        amp_t, phase_t = spectral_targets(x)
        amp_loss = F.mse_loss(amp.float(), amp_t)
        phase_loss = F.mse_loss(phase.float(), phase_t)
        return TokenizerOutput(vq_loss + amp_loss + phase_loss, vq_loss, amp_loss, phase_loss,
                               codes)

    @torch.no_grad()
    def encode_codes(self, x: Tensor, channels: Sequence[str]) -> Tensor:
        """Codebook ids ``(B, C·A)`` int64 in ``[0, n_codes)`` of ``x (B, C, A·200)`` µV.

        The targets of masked EEG modeling (channel-major, like the backbone's patch tokens). Never
        updates the codebook; raises ``RuntimeError`` before the codebook was initialised.
        """
        if not bool(self.quantizer.initialised):
            raise RuntimeError("the VQ-NSP codebook is not initialised: train the tokenizer (its "
                               "first training batch runs k-means) or load a trained checkpoint")
        return self.encode(x, channels, update=False)[1]
