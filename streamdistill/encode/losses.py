"""EEG-DLite's training objective ``L = L_Rec + β · L_IDC`` (β = 1e-4; Tang et al., Eq. 3–5).

``L_Rec``: mean squared error between the reconstructed and the normalised input patches of the
three views.

``L_IDC`` (instance discrimination), two variants:

* ``inter`` (default; as the paper describes it): penalises high cosine similarity between
  *different samples* of a batch. With ``ẑ_b`` the L2-normalised projection of sample ``b``'s mean
  pre-Transformer patch token and ``ĥ_b`` that of its latent (mean encoder output token),
  ``L = mean_b log Σ_{b' ≠ b} exp(ẑ_b · ĥ_{b'})``.
* ``intra`` (the authors' released code): per sample, ``log Σ_{i ≠ j} exp(ẑ_i · ĥ_j)`` over the
  sample's own 20 patch tokens (pre- vs post-Transformer), no temperature, no positive term.
  It discriminates patches within a sample rather than samples within a batch, which is not what
  the paper states; it is kept as an option to reproduce the released model. With β = 1e-4 both
  terms are small (log of ~20 or ~B terms), so the objective is dominated by ``L_Rec`` either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from streamdistill.encode.model import CompressorOutput


def reconstruction_loss(out: CompressorOutput) -> torch.Tensor:
    """MSE over all 20 reconstructed patches of the normalised three-view input."""
    return F.mse_loss(out.recon.float(), out.target.float())


def _off_diagonal_logsumexp(sim: torch.Tensor) -> torch.Tensor:
    """``log Σ_{j ≠ i} exp(sim[..., i, j])`` for each row ``i``: ``(..., n, n)`` → ``(..., n)``."""
    n = sim.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    return torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=-1)


def idc_inter(out: CompressorOutput, proj: torch.nn.Module) -> torch.Tensor:
    """Between-sample instance discrimination (the paper's description). Needs B ≥ 2."""
    if out.latent.shape[0] < 2:
        return out.latent.new_zeros(())
    z = F.normalize(proj(out.tokens_in.mean(dim=1)).float(), dim=-1)
    h = F.normalize(proj(out.latent).float(), dim=-1)
    return _off_diagonal_logsumexp(z @ h.T).mean()


def idc_intra(out: CompressorOutput, proj: torch.nn.Module) -> torch.Tensor:
    """Within-sample patch discrimination (the released code's computation)."""
    z = F.normalize(proj(out.tokens_in).float(), dim=-1)
    h = F.normalize(proj(out.tokens_out).float(), dim=-1)
    return _off_diagonal_logsumexp(z @ h.transpose(1, 2)).mean()


def total_loss(
    out: CompressorOutput, proj: torch.nn.Module, *, beta: float = 1e-4, idc: str = "inter"
) -> tuple[torch.Tensor, dict[str, float]]:
    """``L_Rec + β · L_IDC`` and its parts (as floats, for logging)."""
    rec = reconstruction_loss(out)
    if idc == "inter":
        disc = idc_inter(out, proj)
    elif idc == "intra":
        disc = idc_intra(out, proj)
    elif idc == "none":
        disc = rec.new_zeros(())
    else:
        raise ValueError(f"idc must be inter, intra or none (got {idc!r})")
    loss = rec + beta * disc
    return loss, {"loss": float(loss.detach()), "rec": float(rec.detach()),
                  "idc": float(disc.detach())}
