"""EEG-DLite's three views of a segment and their patches (Tang et al., AAAI 2026, Sec. 3.1).

For a segment ``x: (C, W)`` µV:

* raw view: ``x̃ = (x − μ) / (σ + ε)`` with one scalar mean/std over all ``C·W`` values;
* spectral views: ``F = FFT(x̃)`` along time, bins ``0 … W/2 − 1`` (DC kept, Nyquist dropped);
  magnitude ``|F|`` and phase ``atan2(Im F, Re F)``, each z-scored per segment the same way;
* concatenated ``[x̃ | |F| | ∠F]: (C, 2W)`` and cut into 20 non-overlapping patches of ``W/10``
  samples: 10 raw, 5 magnitude, 5 phase.
"""

from __future__ import annotations

import torch

N_RAW_PATCHES = 10
N_SPECTRAL_PATCHES = 5
N_PATCHES = N_RAW_PATCHES + 2 * N_SPECTRAL_PATCHES
EPS = 1e-8


def zscore_per_sample(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``(x − mean) / (std + eps)`` with one mean/std per sample over all non-batch axes.

    ``x: (B, ...)``; the std is the population std (``unbiased=False``).
    """
    dims = tuple(range(1, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def spectral_views(x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitude and phase of ``rfft(x_norm)`` over bins ``0 … W/2 − 1``, each z-scored.

    ``x_norm: (B, C, W)`` → two ``(B, C, W/2)`` tensors (float32).
    """
    w = x_norm.shape[-1]
    spectrum = torch.fft.rfft(x_norm.float(), dim=-1)[..., : w // 2]
    magnitude = spectrum.abs()
    phase = torch.atan2(spectrum.imag, spectrum.real)
    return zscore_per_sample(magnitude), zscore_per_sample(phase)


def make_views(x: torch.Tensor) -> torch.Tensor:
    """The concatenated normalised views ``(B, C, 2W)``: raw | magnitude | phase.

    ``x: (B, C, W)`` µV, ``W`` divisible by 10.
    """
    if x.shape[-1] % 10:
        raise ValueError(f"segment length W={x.shape[-1]} must be divisible by 10")
    x_norm = zscore_per_sample(x.float())
    magnitude, phase = spectral_views(x_norm)
    return torch.cat([x_norm, magnitude, phase], dim=-1)


def to_patches(views: torch.Tensor) -> torch.Tensor:
    """Cut ``(B, C, 2W)`` views into ``(B, 20, C, W/10)`` patches (10 raw, 5 mag, 5 phase)."""
    b, c, two_w = views.shape
    p = two_w // 2 // 10
    return views.reshape(b, c, N_PATCHES, p).permute(0, 2, 1, 3).contiguous()


def patchify(x: torch.Tensor) -> torch.Tensor:
    """Segment ``(B, C, W)`` µV → patches ``(B, 20, C, W/10)`` of the three normalised views."""
    return to_patches(make_views(x))
