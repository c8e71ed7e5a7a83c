"""``streamdistill encode STORE --out DIR``: train one compressor per group, then encode all.

Outputs in ``DIR`` (DESIGN.md, "Latent array"): ``latents.npy``, ``latents.json``,
``compressor/<gid>.pt``, plus ``train_log/<gid>.jsonl`` and ``train_log/loss.png``. Rerunning the
same command resumes whatever was interrupted (training from its last epoch checkpoint, encoding
from its last finished block) and does nothing more once complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from streamdistill.config import EncodeConfig
from streamdistill.encode.latents import encode_store
from streamdistill.encode.train import TrainingError, train_group
from streamdistill.store.segment_store import SegmentStore, StoreError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available here")
    return device


@dataclass
class EncodeSummary:
    latents: Path
    groups: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    n_segments: int

    def line(self) -> str:
        parts = ", ".join(
            f"{g}: {v['segments']} seg, final loss {v['final_loss']:.4f}"
            for g, v in sorted(self.groups.items()))
        skipped = (f"; skipped {', '.join(f'{g} ({r})' for g, r in self.skipped.items())}"
                   if self.skipped else "")
        return f"encode: {self.n_segments} latents → {self.latents} ({parts}){skipped}"


def check_store(store: SegmentStore) -> None:
    """Refuse an empty store with a clear message."""
    if store.n_segments == 0 or not store.groups:
        raise StoreError(f"{store.path}: the store holds no segments; nothing to encode")


def run_encode(
    store: SegmentStore, out_dir: str | Path, cfg: EncodeConfig, *, progress: bool = True
) -> EncodeSummary:
    """Train (or resume) every group's compressor, then encode the whole store."""
    check_store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    groups = sorted(cfg.groups) if cfg.groups else sorted(store.groups)
    unknown = set(groups) - set(store.groups)
    if unknown:
        raise StoreError(f"--groups {sorted(unknown)} not in the store (has {sorted(store.groups)})")
    models: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for g in groups:
        try:
            models[g] = train_group(store, g, cfg, out, device=device, progress=progress)
        except TrainingError as exc:
            skipped[g] = str(exc)
    if not models:
        raise TrainingError("no group could be trained: " + "; ".join(skipped.values()))
    plot_losses(out)
    encode_store(store, out, models, encode_batch=cfg.encode_batch, device=device, amp=cfg.amp,
                 dim=cfg.model.dim, progress=progress)
    summary_groups = {}
    for g, path in models.items():
        meta = torch.load(path, map_location="cpu", weights_only=False)
        hist = meta["history"]
        summary_groups[g] = {"segments": store.groups[g].n_segments,
                             "final_loss": hist[-1]["loss"] if hist else float("nan")}
    return EncodeSummary(out / "latents.npy", summary_groups, skipped,
                         sum(store.groups[g].n_segments for g in models))


def plot_losses(out: Path) -> Path | None:
    """``train_log/loss.png``: loss per epoch of every group (reconstruction and total)."""
    logs = sorted((out / "train_log").glob("*.jsonl"))
    if not logs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for log in logs:
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        epochs = [r["epoch"] + 1 for r in rows]
        ax.plot(epochs, [r["rec"] for r in rows], marker="o", ms=3, label=f"{log.stem} L_Rec")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction MSE (normalised views)")
    ax.set_yscale("log")
    ax.set_title("EEG-DLite compressor training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "train_log" / "loss.png"
    fig.savefig(path)
    plt.close(fig)
    return path
