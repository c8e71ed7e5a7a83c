"""EEG-DLite's multi-view compressor (Tang et al., AAAI 2026, Sec. 3.1; REFERENCE.md).

One model per montage group: its CNN stems take the group's ``C`` channels as input channels.

* three ResNet1d-18 stems (one per view: raw, magnitude, phase) turn each ``(C, W/10)`` patch into
  one 64-d token;
* tokens ``[CLS_raw, r1..r10, CLS_mag, m1..m5, CLS_phase, p1..p5]`` (23) + learned position
  embedding + per-view modal embedding (added per *token*, in training and encoding alike — the
  released code slices the batch axis at encoding time, a defect we do not reproduce), dropout;
* encoder: 6 pre-LN Transformer blocks, 8 heads × 64 dims; decoder: 2 blocks with their own
  position table and one linear head per view reconstructing that view's patches;
* latent ``z``: mean of the 20 non-CLS encoder output tokens, 64-d.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamdistill.config import CompressorConfig
from streamdistill.encode.views import N_PATCHES, N_RAW_PATCHES, N_SPECTRAL_PATCHES, patchify

#: Token layout: index of each CLS token and view id of each of the 23 tokens.
CLS_POSITIONS = (0, 1 + N_RAW_PATCHES, 2 + N_RAW_PATCHES + N_SPECTRAL_PATCHES)
N_TOKENS = N_PATCHES + 3
VIEW_OF_TOKEN = tuple(
    [0] * (1 + N_RAW_PATCHES) + [1] * (1 + N_SPECTRAL_PATCHES) + [2] * (1 + N_SPECTRAL_PATCHES)
)
PATCH_TOKENS = tuple(i for i in range(N_TOKENS) if i not in CLS_POSITIONS)


# ------------------------------------------------------------------------------ ResNet1d-18
class BasicBlock1d(nn.Module):
    """ResNet basic block on 1-D signals: two 3-tap convolutions with BN, identity/1×1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.shortcut = (
            nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out))
            if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet1dStem(nn.Module):
    """ResNet1d-18 patch encoder: ``(N, C, L)`` → ``(N, 8·base)`` (64 for base 8).

    Conv1d(C→b, k3, s2, p1) → BN → ReLU → MaxPool(3, 2, 1) → stages of 2 basic blocks with
    b, 2b, 4b, 8b filters (stride 2 entering stages 2–4) → adaptive average pooling.
    """

    def __init__(self, n_channels: int, base: int = 8):
        super().__init__()
        widths = [base, 2 * base, 4 * base, 8 * base]
        self.stem = nn.Sequential(
            nn.Conv1d(n_channels, base, 3, 2, 1, bias=False),
            nn.BatchNorm1d(base),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, 2, 1),
        )
        layers = []
        c_in = base
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock1d(c_in, width, stride), BasicBlock1d(width, width, 1)]
            c_in = width
        self.layers = nn.Sequential(*layers)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool1d(self.layers(self.stem(x)), 1).flatten(1)


# ------------------------------------------------------------------------------ Transformer
class Attention(nn.Module):
    """Multi-head self-attention: qkv ``dim → 3·heads·head_dim`` (no bias), out → ``dim``."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.out = nn.Sequential(nn.Linear(heads * head_dim, dim), nn.Dropout(dropout))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class Block(nn.Module):
    """Pre-LN Transformer block: ``x + Attn(LN(x))``, then ``x + FFN(LN(x))`` (GELU)."""

    def __init__(self, shape: CompressorConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(shape.dim)
        self.attn = Attention(shape.dim, shape.heads, shape.head_dim, shape.dropout)
        self.norm2 = nn.LayerNorm(shape.dim)
        self.ffn = nn.Sequential(
            nn.Linear(shape.dim, shape.mlp_dim), nn.GELU(), nn.Dropout(shape.dropout),
            nn.Linear(shape.mlp_dim, shape.dim), nn.Dropout(shape.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


# ------------------------------------------------------------------------------ compressor
@dataclass
class CompressorOutput:
    """``latent: (B, dim)``; ``recon``/``target``: ``(B, 20, C, W/10)``; ``tokens_in``: the
    pre-Transformer patch tokens ``(B, 20, dim)``; ``tokens_out``: encoder output patch tokens."""

    latent: torch.Tensor
    recon: torch.Tensor
    target: torch.Tensor
    tokens_in: torch.Tensor
    tokens_out: torch.Tensor


class MultiViewCompressor(nn.Module):
    """EEG-DLite compressor for segments ``(B, C, W)`` µV of one montage group."""

    def __init__(self, n_channels: int, n_times: int, shape: CompressorConfig = CompressorConfig()):
        super().__init__()
        if n_times % 10:
            raise ValueError(f"n_times={n_times} must be divisible by 10")
        if shape.decoder not in ("transformer", "bypass"):
            raise ValueError("decoder must be 'transformer' or 'bypass'")
        self.n_channels, self.n_times, self.shape = n_channels, n_times, shape
        self.patch_len = n_times // 10
        self.stems = nn.ModuleList(ResNet1dStem(n_channels, shape.stem_base) for _ in range(3))
        stem_dim = self.stems[0].out_dim
        self.stem_proj = nn.Identity() if stem_dim == shape.dim else nn.Linear(stem_dim, shape.dim)
        self.cls = nn.Parameter(torch.zeros(3, shape.dim))
        self.pos = nn.Parameter(torch.zeros(1, N_TOKENS, shape.dim))
        self.modal = nn.Parameter(torch.zeros(3, 1, shape.dim))
        self.emb_dropout = nn.Dropout(shape.emb_dropout)
        self.encoder = nn.ModuleList(Block(shape) for _ in range(shape.depth))
        self.decoder_pos = nn.Embedding(N_TOKENS, shape.dim)
        self.decoder = nn.ModuleList(Block(shape) for _ in range(shape.decoder_depth))
        self.heads = nn.ModuleList(
            nn.Linear(shape.dim, n_channels * self.patch_len) for _ in range(3))
        #: Projection used by the instance-discrimination loss (losses.py), training only.
        self.idc_proj = nn.Linear(shape.dim, shape.dim)
        self.register_buffer("view_of_token", torch.tensor(VIEW_OF_TOKEN), persistent=False)
        self.register_buffer("patch_tokens", torch.tensor(PATCH_TOKENS), persistent=False)
        nn.init.trunc_normal_(self.cls, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.modal, std=0.02)

    # -- tokens
    def _patch_tokens(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, 20, C, P)`` → ``(B, 20, dim)``: each view's patches through its own stem."""
        b = patches.shape[0]
        spans = ((0, N_RAW_PATCHES), (N_RAW_PATCHES, N_RAW_PATCHES + N_SPECTRAL_PATCHES),
                 (N_RAW_PATCHES + N_SPECTRAL_PATCHES, N_PATCHES))
        tokens = []
        for stem, (a, z) in zip(self.stems, spans):
            part = patches[:, a:z].reshape(b * (z - a), self.n_channels, self.patch_len)
            tokens.append(self.stem_proj(stem(part)).view(b, z - a, -1))
        return torch.cat(tokens, dim=1)

    def _with_cls(self, tokens: torch.Tensor) -> torch.Tensor:
        """Insert the three CLS tokens, add position and per-token modal embeddings."""
        b = tokens.shape[0]
        cls = self.cls.unsqueeze(0).expand(b, -1, -1)
        r, m = N_RAW_PATCHES, N_RAW_PATCHES + N_SPECTRAL_PATCHES
        seq = torch.cat([cls[:, 0:1], tokens[:, :r], cls[:, 1:2], tokens[:, r:m],
                         cls[:, 2:3], tokens[:, m:]], dim=1)
        modal = self.modal[self.view_of_token].transpose(0, 1)  # (1, 23, dim)
        return self.emb_dropout(seq + self.pos + modal)

    def forward(self, x: torch.Tensor) -> CompressorOutput:
        """``x: (B, C, W)`` µV → latent, reconstruction of the 20 view patches, tokens."""
        target = patchify(x)
        tokens_in = self._patch_tokens(target)
        h = self._with_cls(tokens_in)
        for block in self.encoder:
            h = block(h)
        tokens_out = h[:, self.patch_tokens]
        latent = tokens_out.mean(dim=1)
        if self.shape.decoder == "transformer":
            d = h + self.decoder_pos.weight.unsqueeze(0)
            for block in self.decoder:
                d = block(d)
        else:
            d = h
        d = d[:, self.patch_tokens]  # (B, 20, dim)
        b = x.shape[0]
        r, m = N_RAW_PATCHES, N_RAW_PATCHES + N_SPECTRAL_PATCHES
        recon = torch.cat(
            [self.heads[0](d[:, :r]), self.heads[1](d[:, r:m]), self.heads[2](d[:, m:])], dim=1
        ).view(b, N_PATCHES, self.n_channels, self.patch_len)
        return CompressorOutput(latent, recon, target, tokens_in, tokens_out)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, dim)`` (encoder only; call in eval mode)."""
        tokens_in = self._patch_tokens(patchify(x))
        h = self._with_cls(tokens_in)
        for block in self.encoder:
            h = block(h)
        return h[:, self.patch_tokens].mean(dim=1)
