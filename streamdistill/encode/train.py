"""Streamed training of one compressor per montage group, checkpointed every epoch.

Batches stream from the store (``store/loader.py``: shard-level shuffle + bounded shuffle buffer,
order a pure function of ``(seed, epoch)``), so a group is never loaded into RAM. The checkpoint
at the end of every epoch holds the model, optimizer, scheduler, torch RNG state and the loss
history; a killed run resumed from it continues bit for bit on CPU (tested).
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from streamdistill.config import EncodeConfig
from streamdistill.encode.losses import total_loss
from streamdistill.config import CompressorConfig
from streamdistill.encode.model import MultiViewCompressor
from streamdistill.io_utils import atomic_write, atomic_write_text
from streamdistill.store.loader import GroupBatches
from streamdistill.store.segment_store import SegmentStore

MIN_TRAIN_SEGMENTS = 2


class TrainingError(RuntimeError):
    """A group cannot be trained (the message names the group and why)."""


def training_rows(n_rows: int, fraction: float, seed: int, group: str) -> np.ndarray | None:
    """Sorted rows of a seeded random ``fraction`` of a group (None = all rows)."""
    if fraction >= 1.0:
        return None
    k = max(MIN_TRAIN_SEGMENTS, int(round(fraction * n_rows)))
    rng = np.random.default_rng([seed, zlib.crc32(group.encode())])
    return np.sort(rng.choice(n_rows, size=min(k, n_rows), replace=False))


def training_digest(cfg: EncodeConfig, store: SegmentStore, group: str) -> str:
    """Hash of what determines a group's training run (a checkpoint from anything else is not
    resumed)."""
    keys = {k: v for k, v in asdict(cfg).items()
            if k not in ("device", "prefetch", "threads", "encode_batch", "groups", "amp")}
    payload = json.dumps({"cfg": keys, "store": store.fingerprint, "group": group},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_model(n_channels: int, n_times: int, cfg: EncodeConfig, seed: int) -> MultiViewCompressor:
    """A freshly initialised compressor (initialisation seeded)."""
    torch.manual_seed(seed)
    return MultiViewCompressor(n_channels, n_times, CompressorConfig(**asdict(cfg.model)))


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def train_group(
    store: SegmentStore,
    group: str,
    cfg: EncodeConfig,
    out_dir: Path,
    *,
    device: torch.device,
    progress: bool = True,
) -> Path:
    """Train (or resume, or reuse) the compressor of ``group``; return its final weights file
    ``compressor/<group>.pt``."""
    info = store.groups[group]
    comp_dir = out_dir / "compressor"
    comp_dir.mkdir(parents=True, exist_ok=True)
    final_path = comp_dir / f"{group}.pt"
    ckpt_path = comp_dir / f"{group}.ckpt.pt"
    digest = training_digest(cfg, store, group)
    if final_path.exists():
        meta = torch.load(final_path, map_location="cpu", weights_only=False)
        if meta.get("training_digest") == digest:
            return final_path
        raise TrainingError(
            f"{final_path} was trained with another config or store; use a new --out or "
            "delete it to retrain")
    rows = training_rows(info.n_segments, cfg.train_fraction, cfg.seed, group)
    n_train = info.n_segments if rows is None else len(rows)
    if n_train < MIN_TRAIN_SEGMENTS:
        raise TrainingError(
            f"group {group} has {n_train} training segment(s); at least {MIN_TRAIN_SEGMENTS} "
            "are needed to train a compressor")
    batch_size = min(cfg.batch_size, n_train)
    model = build_model(info.n_channels, info.n_times, cfg, cfg.seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma)
    history: list[dict[str, float]] = []
    start_epoch = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt.get("training_digest") == digest:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["torch_rng"])
            if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
            history = ckpt["history"]
            start_epoch = ckpt["epoch"] + 1
    else:
        torch.manual_seed(cfg.seed + 1)  # dropout stream, independent of init
    log_path = out_dir / "train_log" / f"{group}.jsonl"
    bar = tqdm(total=cfg.epochs, initial=start_epoch, desc=f"train {group}", unit="epoch",
               disable=not progress)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        batches = GroupBatches(store, group, batch_size=batch_size, seed=cfg.seed, epoch=epoch,
                               rows=rows, buffer_size=cfg.shuffle_buffer, prefetch=cfg.prefetch)
        t0 = time.perf_counter()
        wait = 0.0
        sums = {"loss": 0.0, "rec": 0.0, "idc": 0.0}
        n_batches = n_seen = 0
        t_wait = time.perf_counter()
        for batch in batches:
            wait += time.perf_counter() - t_wait
            x = torch.from_numpy(batch.x).to(device, non_blocking=True)
            with _autocast(device, cfg.amp):
                out = model(x)
                loss, parts = total_loss(out, model.idc_proj, beta=cfg.beta, idc=cfg.idc)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            opt.step()
            for k in sums:
                sums[k] += parts[k]
            n_batches += 1
            n_seen += len(batch.rows)
            t_wait = time.perf_counter()
        seconds = time.perf_counter() - t0
        sched.step()
        history.append({
            "epoch": epoch,
            **{k: v / max(n_batches, 1) for k, v in sums.items()},
            "lr": opt.param_groups[0]["lr"],
            "batches": n_batches,
            "segments": n_seen,
            "seconds": round(seconds, 3),
            "segments_per_s": round(n_seen / seconds, 2) if seconds > 0 else 0.0,
            "data_wait_fraction": round(wait / seconds, 4) if seconds > 0 else 0.0,
        })
        _save({
            "training_digest": digest, "epoch": epoch, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "history": history,
        }, ckpt_path)
        atomic_write_text(log_path, "".join(json.dumps(h) + "\n" for h in history))
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", refresh=False)
    bar.close()
    _save({
        "training_digest": digest,
        "group": group,
        "channels": list(info.channels),
        "n_channels": info.n_channels,
        "n_times": info.n_times,
        "shape": asdict(cfg.model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "store_fingerprint": store.fingerprint,
        "train_rows": n_train,
        "history": history,
    }, final_path)
    ckpt_path.unlink(missing_ok=True)
    return final_path


def load_compressor(path: Path, device: torch.device) -> MultiViewCompressor:
    """A trained compressor from ``compressor/<group>.pt``, in eval mode on ``device``."""
    meta = torch.load(path, map_location="cpu", weights_only=False)
    model = MultiViewCompressor(meta["n_channels"], meta["n_times"],
                                CompressorConfig(**meta["shape"]))
    model.load_state_dict(meta["state_dict"])
    return model.to(device).eval()
