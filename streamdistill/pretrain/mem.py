"""Masked EEG modeling (Jiang et al., ICLR 2024, Sec. 2.3; REFERENCE.md "LaBraM").

Half of the ``C·A`` patch embeddings of each sample, drawn uniformly (:func:`random_mask`), are
replaced by a learned mask token; the :class:`MEMModel` student (a LaBraM
:class:`~streamdistill.pretrain.model.Backbone`, no qkv bias, layer scale 0.1) predicts the frozen
VQ-NSP tokenizer's code of every masked patch with a linear head over the 8192 codes. A second pass
masks the complement ("symmetric masking"), so every patch is predicted once per step;
``loss = CE(masked) + CE(complement)``, :func:`mem_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamdistill.pretrain.model import Backbone, LabramConfig, get_config


def random_mask(batch: int, n_patches: int, ratio: float = 0.5,
                generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    """Uniform random mask ``(batch, n_patches)`` bool, True = masked, drawn per sample.

    Each row masks exactly ``n_patches − int(n_patches · (1 − ratio))`` patches (the reference's
    ``random_masking``: argsort of uniform noise). The noise is drawn on ``generator``'s device
    (CPU by default), so a seeded generator gives the same mask on any ``device``.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
    if batch < 0 or n_patches < 1:
        raise ValueError(f"need batch ≥ 0 and n_patches ≥ 1, got {batch}, {n_patches}")
    gen_device = generator.device if generator is not None else "cpu"
    noise = torch.rand(batch, n_patches, generator=generator, device=gen_device)
    n_keep = int(n_patches * (1.0 - ratio))
    rank = noise.argsort(dim=1).argsort(dim=1)               # rank of each patch's noise
    return (rank >= n_keep).to(device if device is not None else gen_device)


class MEMModel(nn.Module):
    """LaBraM student for masked EEG modeling: backbone, ``mask_token (D,)``, ``lm_head``."""

    def __init__(self, config: str | LabramConfig = "base", vocab_size: int = 8192, *,
                 layer_scale: float | None = 0.1, drop_path: float = 0.0):
        super().__init__()
        cfg = get_config(config)
        self.backbone = Backbone(cfg, qkv_bias=False, layer_scale=layer_scale,
                                 drop_path=drop_path)
        self.mask_token = nn.Parameter(torch.zeros(cfg.embed_dim))
        self.lm_head = nn.Linear(cfg.embed_dim, vocab_size)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.lm_head.weight, std=0.02)
        nn.init.zeros_(self.lm_head.bias)

    def _check_mask(self, mask: Tensor, tokens: Tensor) -> Tensor:
        b, c, a, _ = tokens.shape
        if mask.dtype != torch.bool or tuple(mask.shape) != (b, c * a):
            raise ValueError(f"mask must be a bool tensor of shape (batch, channels·patches) = "
                             f"{(b, c * a)}, got {mask.dtype} {tuple(mask.shape)}")
        return mask.to(tokens.device)

    def forward(self, x: Tensor, channels: Sequence[str], mask: Tensor, *,
                symmetric: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Logits ``(n_masked, vocab)`` of the masked patches of ``x (B, C, A·200)`` µV.

        ``mask: (B, C·A)`` bool, True = masked, channel-major like the tokenizer's codes; rows of
        the result follow ``mask.nonzero()`` order (sample, then patch), i.e. they align with
        ``codes[mask]``. With ``symmetric=True`` the complement pass runs in the same call (one
        batched transformer pass of 2B samples, which keeps DDP to one forward per step) and the
        result is ``(logits[mask], logits_complement[~mask])``.
        """
        tokens = self.backbone.embed(x)                                   # (B, C, A, D)
        mask = self._check_mask(mask, tokens)
        masks = torch.cat((mask, ~mask)) if symmetric else mask
        if symmetric:
            tokens = torch.cat((tokens, tokens))
        w = masks.view(tokens.shape[:3]).unsqueeze(-1)
        tokens = torch.where(w, self.mask_token.to(tokens.dtype), tokens)
        h = self.backbone.encode(tokens, channels)[:, 1:]                 # (B or 2B, C·A, D)
        logits = self.lm_head(h[masks])
        if not symmetric:
            return logits
        n = int(mask.sum())
        return logits[:n], logits[n:]


@dataclass
class MEMLoss:
    """``loss = loss_masked + loss_complement`` (scalar tensor with grad); the rest detached."""

    loss: Tensor
    loss_masked: Tensor
    loss_complement: Tensor
    acc_masked: Tensor
    acc_complement: Tensor


def mem_loss(model: nn.Module, x: Tensor, channels: Sequence[str], mask: Tensor,
             codes: Tensor) -> MEMLoss:
    """Symmetric masked-EEG-modeling loss of ``model`` (a :class:`MEMModel`, possibly DDP-wrapped).

    ``x (B, C, A·200)`` µV, ``mask (B, C·A)`` bool, ``codes (B, C·A)`` int64 from the frozen
    tokenizer's :meth:`~streamdistill.pretrain.tokenizer.VQNSP.encode_codes`. Cross-entropy of the
    masked pass against ``codes[mask]`` plus that of the complement pass against ``codes[~mask]``;
    the accuracies are the reference's ``mlm_acc`` / ``mlm_acc_sym``.
    """
    if codes.shape != mask.shape:
        raise ValueError(f"codes {tuple(codes.shape)} and mask {tuple(mask.shape)} differ in shape")
    if bool(mask.all()) or not bool(mask.any()):
        raise ValueError("the mask must leave patches for both passes (some True, some False)")
    logits, logits_c = model(x, channels, mask, symmetric=True)
    mask = mask.to(codes.device)
    target, target_c = codes[mask], codes[~mask]
    loss_m = F.cross_entropy(logits.float(), target.to(logits.device))
    loss_c = F.cross_entropy(logits_c.float(), target_c.to(logits.device))
    with torch.no_grad():
        acc = (logits.argmax(-1) == target.to(logits.device)).float().mean()
        acc_c = (logits_c.argmax(-1) == target_c.to(logits.device)).float().mean()
    return MEMLoss(loss_m + loss_c, loss_m.detach(), loss_c.detach(), acc, acc_c)
