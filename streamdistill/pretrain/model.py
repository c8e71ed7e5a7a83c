"""LaBraM backbone (Jiang et al., ICLR 2024, Sec. 2.1; REFERENCE.md "LaBraM").

An EEG sample ``x: (B, C, A·200) float32, µV`` at 200 Hz is scaled to units of 100 µV (**the only
place the model divides by 100 is** :func:`patchify`), cut into ``A`` one-second patches per channel
``(B, C, A, 200)``, and embedded patch by patch by :class:`TemporalConv` into ``D = 25·k`` features.
A [CLS] token is prepended; each patch token gets the position-embedding row of its channel (rows
indexed by LaBraM's channel list, :mod:`streamdistill.pretrain.channels`) plus the time-embedding
row of its second; the tokens go through pre-LN Transformer blocks with QK-LayerNorm and layer
scale, then a final LayerNorm. Tokens are ordered channel-major: token ``1 + c·A + a`` is channel
``c``, second ``a``.

The same :class:`Backbone` serves as the masked-EEG-modeling student (no qkv bias, layer scale 0.1),
as the VQ-NSP tokenizer's encoder (qkv bias, no layer scale, as the reference) and, with a linear
patch embedding of code vectors (``in_features``), as its 3-layer decoder. Parameter and module
names follow the reference (``patch_embed.conv1``, ``pos_embed``, ``blocks.i.attn.qkv`` ...).

One deliberate difference from the released pretraining code: its student adds the *first
channel's* position embedding to [CLS] (``pos_embed[:, 0:1]`` taken after flattening), leaving row
0 untrained, while its fine-tuning model and braindecode add row 0. We add row 0 everywhere, so
a pretrained backbone is the network that fine-tuning and braindecode run.

This module also holds the optimiser helpers of the recipe: :func:`param_groups` (AdamW without
weight decay on norms, biases and embeddings) and :func:`layer_id` (layer-wise lr decay).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamdistill.pretrain.channels import input_chans

#: Samples per patch: one second at LaBraM's 200 Hz.
PATCH_SIZE = 200
#: Input divisor: the model sees ``x / 100`` (units of 100 µV), as LaBraM's data pipeline.
INPUT_SCALE_UV = 100.0
#: Rows of the time embedding: at most 16 one-second patches per channel.
MAX_PATCHES = 16
#: Norm epsilon of every LayerNorm (blocks, QK-norm, final norm), as the reference.
LN_EPS = 1e-6
#: Time samples per patch after TemporalConv's stride-8 first convolution (200 / 8).
_CONV_STEPS = 25


@dataclass(frozen=True)
class LabramConfig:
    """Size of a LaBraM transformer. ``embed_dim`` must equal ``25 · conv_channels``.

    TemporalConv has no projection: its output, ``conv_channels`` feature maps of 25 steps, is
    flattened into the token, so ``conv_channels`` fixes the width (8 base, 16 large, 32 huge).
    """

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    conv_channels: int
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        if self.embed_dim != _CONV_STEPS * self.conv_channels:
            raise ValueError(f"config {self.name!r}: embed_dim {self.embed_dim} must be 25 × "
                             f"conv_channels ({_CONV_STEPS * self.conv_channels})")
        if self.conv_channels % 4:
            raise ValueError(f"config {self.name!r}: conv_channels {self.conv_channels} must be a "
                             "multiple of 4 (GroupNorm with 4 groups)")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"config {self.name!r}: embed_dim {self.embed_dim} is not divisible "
                             f"by num_heads {self.num_heads}")


#: Registry. ``tiny`` (ours, for CPU tests and the demo: D 100 = 25·4, 2 blocks, 4 heads of 25,
#: ≈0.27M parameters) keeps ``D = 25·k`` so that it exports to braindecode like the paper's sizes.
#: base/large/huge are the paper's three sizes: 5.82M, 46.3M, 369M backbone parameters.
CONFIGS: dict[str, LabramConfig] = {
    c.name: c for c in (
        LabramConfig("tiny", embed_dim=100, depth=2, num_heads=4, conv_channels=4),
        LabramConfig("base", embed_dim=200, depth=12, num_heads=10, conv_channels=8),
        LabramConfig("large", embed_dim=400, depth=24, num_heads=16, conv_channels=16),
        LabramConfig("huge", embed_dim=800, depth=48, num_heads=16, conv_channels=32),
    )
}


def get_config(config: str | LabramConfig) -> LabramConfig:
    """Look a size up by name (``tiny``, ``base``, ``large``, ``huge``) or pass a config through."""
    if isinstance(config, LabramConfig):
        return config
    if config not in CONFIGS:
        raise ValueError(f"unknown LaBraM size {config!r}; choose one of {sorted(CONFIGS)}")
    return CONFIGS[config]


def patchify(x: Tensor) -> Tensor:
    """``(B, C, A·200)`` µV → ``(B, C, A, 200)`` in units of 100 µV (LaBraM's ``x / 100``).

    Raises ``ValueError`` for a wrong rank, a length that is not whole seconds at 200 Hz, or more
    than 16 seconds (the time embedding has 16 rows).
    """
    if x.ndim != 3:
        raise ValueError(f"expected EEG of shape (batch, channels, samples), got {tuple(x.shape)}")
    n_times = x.shape[-1]
    if n_times == 0 or n_times % PATCH_SIZE:
        raise ValueError(f"{n_times} samples is not a whole number of 1-s patches at 200 Hz "
                         f"({PATCH_SIZE} samples each); resample to 200 Hz and cut whole seconds")
    n_patches = n_times // PATCH_SIZE
    if n_patches > MAX_PATCHES:
        raise ValueError(f"{n_patches} s per sample, but LaBraM's time embedding has only "
                         f"{MAX_PATCHES} rows: cut windows of at most {MAX_PATCHES} s")
    return (x / INPUT_SCALE_UV).unflatten(-1, (n_patches, PATCH_SIZE))


class TemporalConv(nn.Module):
    """LaBraM's patch encoder (Sec. 2.1): ``(B, C, A, 200)`` → ``(B, C, A, 25·k)``.

    Conv(1→k, 1×15, stride 8, pad 7) → GroupNorm(4, k) → GELU, then twice Conv(k→k, 1×3, pad 1) →
    GroupNorm → GELU. The convolutions see one patch at a time, but GroupNorm's statistics span all
    ``C·A`` patches of a sample (the reference runs the convolutions on a ``(B, 1, C·A, 200)``
    image). The 25 × k output is flattened time-major (index ``t·k + channel``), as the reference's
    ``'B C NA T -> B NA (T C)'``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=(1, 15), stride=(1, 8), padding=(0, 7))
        self.norm1 = nn.GroupNorm(4, channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=(1, 3), padding=(0, 1))
        self.norm2 = nn.GroupNorm(4, channels)
        self.conv3 = nn.Conv2d(channels, channels, kernel_size=(1, 3), padding=(0, 1))
        self.norm3 = nn.GroupNorm(4, channels)

    def forward(self, patches: Tensor) -> Tensor:
        b, c, a, t = patches.shape
        h = patches.reshape(b, 1, c * a, t)
        h = F.gelu(self.norm1(self.conv1(h)))
        h = F.gelu(self.norm2(self.conv2(h)))
        h = F.gelu(self.norm3(self.conv3(h)))                  # (B, k, C·A, 25)
        return h.permute(0, 2, 3, 1).reshape(b, c, a, -1)      # (B, C, A, 25·k)


class Attention(nn.Module):
    """Multi-head self-attention with QK-LayerNorm (eps 1e-6) per head, as LaBraM/BEiT-v2.

    ``qkv`` has no bias of its own; with ``qkv_bias`` there are learnable ``q_bias`` and ``v_bias``
    (the key bias is fixed at 0, which softmax ignores anyway).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.q_norm = nn.LayerNorm(head_dim, eps=LN_EPS)
        self.k_norm = nn.LayerNorm(head_dim, eps=LN_EPS)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        bias = None
        if self.q_bias is not None and self.v_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).view(b, n, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)          # (B, heads, N, head_dim) each
        q, k = self.q_norm(q).type_as(v), self.k_norm(k).type_as(v)
        out = F.scaled_dot_product_attention(q, k, v)           # softmax(q kᵀ / √head_dim) v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """``fc1`` (D → ratio·D) → GELU → ``fc2`` (→ D)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN block: ``x + γ₁·Attn(LN(x))``, then ``x + γ₂·MLP(LN(x))``; γ = layer scale.

    ``layer_scale=None`` drops γ (the tokenizer's setting). ``drop_path`` is stochastic depth (per
    sample), used for fine-tuning.
    """

    def __init__(self, config: LabramConfig, qkv_bias: bool, layer_scale: float | None,
                 drop_path: float = 0.0):
        super().__init__()
        d = config.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=LN_EPS)
        self.attn = Attention(d, config.num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(d, eps=LN_EPS)
        self.mlp = Mlp(d, int(d * config.mlp_ratio))
        self.gamma_1 = nn.Parameter(torch.full((d,), layer_scale)) if layer_scale else None
        self.gamma_2 = nn.Parameter(torch.full((d,), layer_scale)) if layer_scale else None
        self.drop_path = drop_path

    def _branch(self, y: Tensor, gamma: Tensor | None) -> Tensor:
        if gamma is not None:
            y = gamma * y
        if self.training and self.drop_path > 0:
            keep = torch.rand(y.shape[0], 1, 1, device=y.device) >= self.drop_path
            y = y * keep.to(y.dtype) / (1.0 - self.drop_path)
        return y

    def forward(self, x: Tensor) -> Tensor:
        x = x + self._branch(self.attn(self.norm1(x)), self.gamma_1)
        return x + self._branch(self.mlp(self.norm2(x)), self.gamma_2)


class Backbone(nn.Module):
    """LaBraM transformer: EEG (or per-patch features) → ``(B, 1 + C·A, D)`` normalised tokens.

    Parameters
    ----------
    config : size name or :class:`LabramConfig`.
    qkv_bias : learnable q/v biases (tokenizer: True; MEM student: False, as the reference).
    layer_scale : initial γ of every block (MEM student: 0.1; tokenizer: None = no layer scale).
    in_features : ``None`` → inputs are raw EEG ``(B, C, A·200)`` µV embedded by
        :class:`TemporalConv`; an int ``F`` → inputs are per-patch vectors ``(B, C, A, F)`` embedded
        by a linear layer (the tokenizer decoder's "1×1 convolution" over code vectors).
    drop_path : largest stochastic-depth rate, growing linearly over the blocks (fine-tuning).
    """

    def __init__(self, config: str | LabramConfig = "base", *, qkv_bias: bool = False,
                 layer_scale: float | None = 0.1, in_features: int | None = None,
                 drop_path: float = 0.0):
        super().__init__()
        self.config = cfg = get_config(config)
        self.qkv_bias, self.layer_scale, self.in_features = qkv_bias, layer_scale, in_features
        d = cfg.embed_dim
        self.patch_embed: nn.Module = (TemporalConv(cfg.conv_channels) if in_features is None
                                       else nn.Linear(in_features, d))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 128 + 1, d))
        self.time_embed = nn.Parameter(torch.zeros(1, MAX_PATCHES, d))
        rates = [drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(Block(cfg, qkv_bias, layer_scale, r) for r in rates)
        self.norm = nn.LayerNorm(d, eps=LN_EPS)
        self.apply(init_weights)
        for p in (self.cls_token, self.pos_embed, self.time_embed):
            nn.init.trunc_normal_(p, std=0.02)
        for i, blk in enumerate(self.blocks, start=1):  # depth-scaled residual outputs (BEiT)
            blk.attn.proj.weight.data.div_(math.sqrt(2.0 * i))
            blk.mlp.fc2.weight.data.div_(math.sqrt(2.0 * i))

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def embed(self, x: Tensor) -> Tensor:
        """Embeddings ``(B, C, A, D)`` of EEG ``(B, C, A·200)`` µV (or of ``(B, C, A, F)``)."""
        if self.in_features is None:
            return self.patch_embed(patchify(x))
        if x.ndim != 4 or x.shape[-1] != self.in_features:
            raise ValueError(f"expected per-patch features (batch, channels, patches, "
                             f"{self.in_features}), got {tuple(x.shape)}")
        if x.shape[2] > MAX_PATCHES:
            raise ValueError(f"{x.shape[2]} patches per channel; the time embedding has "
                             f"{MAX_PATCHES} rows")
        return self.patch_embed(x)

    def encode(self, tokens: Tensor, channels: Sequence[str]) -> Tensor:
        """Transformer over patch embeddings ``(B, C, A, D)`` → ``(B, 1 + C·A, D)`` (LN'd).

        ``channels`` names the C rows (same montage for the whole batch); each patch gets its
        channel's ``pos_embed`` row and its second's ``time_embed`` row; [CLS] gets row 0.
        """
        b, c, a, d = tokens.shape
        if len(channels) != c:
            raise ValueError(f"{len(channels)} channel names for {c} channels of input")
        rows = torch.tensor(input_chans(channels), device=tokens.device)
        pos = self.pos_embed[0, rows]                                     # (1 + C, D)
        patch = tokens + pos[1:, None, :] + self.time_embed[0, None, :a, :]
        cls = (self.cls_token[0] + pos[:1]).expand(b, 1, d)
        h = torch.cat((cls, patch.reshape(b, c * a, d)), dim=1)
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h)

    def forward(self, x: Tensor, channels: Sequence[str]) -> Tensor:
        """``(B, C, A·200)`` µV → tokens ``(B, 1 + C·A, D)``: [CLS] then channel-major patches."""
        return self.encode(self.embed(x), channels)


def init_weights(module: nn.Module) -> None:
    """Reference initialisation: Linear ~ N(0, 0.02²) truncated, zero bias; LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (build on ``torch.device('meta')`` to count big sizes for free)."""
    return sum(p.numel() for p in module.parameters())


def with_depth(config: str | LabramConfig, depth: int) -> LabramConfig:
    """The same width with another depth (the tokenizer's 3-layer decoder)."""
    cfg = get_config(config)
    return replace(cfg, name=f"{cfg.name}-d{depth}", depth=depth)


# ------------------------------------------------------------------------- optimiser helpers
#: Parameters named so (last dotted part) are embeddings: no weight decay, lr-decay layer 0.
EMBEDDING_NAMES = frozenset({"cls_token", "pos_embed", "time_embed", "mask_token"})


def no_weight_decay(name: str, param: Tensor) -> bool:
    """LaBraM/BEiT recipe: no decay on 1-D tensors (norms, biases, layer scales), on any bias, and
    on the embeddings (``cls_token``, ``pos_embed``, ``time_embed``, ``mask_token``; the released
    code decays ``mask_token``, the issue asks not to)."""
    return param.ndim <= 1 or name.endswith(".bias") or name.rsplit(".", 1)[-1] in EMBEDDING_NAMES


def layer_id(name: str, depth: int) -> int:
    """Layer of a parameter for layer-wise lr decay (fine-tuning recipe, decay 0.65).

    0 for the patch embedding and the embeddings, ``i + 1`` for ``blocks.i``, ``depth + 1`` for
    everything above (final norm, heads). Works on names with a prefix (``backbone.blocks.3...``).
    The reference puts ``time_embed`` in the top layer by omission; we keep it with the others.
    """
    parts = name.split(".")
    if "blocks" in parts:
        return int(parts[parts.index("blocks") + 1]) + 1
    if "patch_embed" in parts or parts[-1] in EMBEDDING_NAMES:
        return 0
    return depth + 1


def param_groups(model: nn.Module, weight_decay: float, *, layer_decay: float | None = None,
                 depth: int | None = None) -> list[dict]:
    """AdamW parameter groups: ``{'params', 'weight_decay', 'lr_scale', 'group'}``.

    Trainable parameters only. With ``layer_decay`` (and the backbone ``depth``), a parameter of
    layer ``l`` (:func:`layer_id`) gets ``lr_scale = layer_decay ** (depth + 1 - l)``; the training
    loop sets each group's lr to ``base_lr · lr_scale``. Without it every ``lr_scale`` is 1.
    """
    if layer_decay is not None and depth is None:
        raise ValueError("layer_decay needs the backbone depth")
    groups: dict[str, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = not no_weight_decay(name, p)
        lid = layer_id(name, depth) if layer_decay is not None and depth is not None else None
        key = ("decay" if decay else "no_decay") + ("" if lid is None else f"_layer{lid}")
        if key not in groups:
            scale = 1.0 if lid is None else float(layer_decay) ** (depth + 1 - lid)  # type: ignore[operator]
            groups[key] = {"params": [], "weight_decay": weight_decay if decay else 0.0,
                           "lr_scale": scale, "group": key}
        groups[key]["params"].append(p)
    return list(groups.values())
