"""Evaluation protocols on a task's cached windows: linear probe and full fine-tuning.

Both read windows ``x: (B, C, T) float32 µV`` (T = seconds · 200) from the cache's memory map in
batches and represent a window by **mean pooling** of the LaBraM backbone's normalised patch
tokens (the [CLS] token excluded): ``f = mean_{c,a} tokens[:, 1 + c·A + a] ∈ R^D``, as LaBraM's
fine-tuning with ``use_mean_pooling`` (Jiang et al., ICLR 2024, Sec. 3.1; REFERENCE.md).

* :func:`linear_probe` — frozen backbone; features standardised with the training split's mean and
  standard deviation; scikit-learn ``LogisticRegression`` (L2, lbfgs) for each ``C`` of a grid,
  the ``C`` with the best validation balanced accuracy kept (ties → the smaller ``C``).
* :func:`finetune` — LaBraM's recipe: backbone + ``Linear(D, K)`` head (truncated-normal init
  scaled by 0.001), AdamW (0.9, 0.999), weight decay 0.05 (none on norms, biases, embeddings),
  layer-wise lr decay 0.65 (:func:`~streamdistill.pretrain.model.param_groups`), stochastic depth
  0.1 growing linearly over the blocks, label smoothing 0.1, linear warm-up then cosine per step
  (:func:`~streamdistill.pretrain.schedule.lr_at`); the weights of the epoch with the best
  validation balanced accuracy are kept. One difference from the released code: its mean-pooling
  model skips the final per-token LayerNorm and adds a new ``fc_norm`` after pooling; we keep the
  pretrained final norm, so the probe and fine-tuning see the same features.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamdistill.config import FinetuneConfig, ProbeConfig
from streamdistill.evaluate.metrics import classification_metrics
from streamdistill.evaluate.windows import WindowCache
from streamdistill.pretrain.model import Backbone, param_groups
from streamdistill.pretrain.schedule import lr_at, set_lr

SPLITS = ("train", "val", "test")


def batches(cache: WindowCache, rows: np.ndarray, batch_size: int,
            device: torch.device) -> Iterator[tuple[np.ndarray, Tensor]]:
    """``(rows, x)`` per batch: ``x (B, C, T)`` float32 µV on ``device`` read from the memmap
    (rows read in ascending order within a batch; the yielded ``rows`` say which)."""
    for a in range(0, len(rows), batch_size):
        part = np.sort(rows[a:a + batch_size])
        yield part, torch.from_numpy(np.ascontiguousarray(cache.x[part])).to(device)


def pooled(backbone: Backbone, x: Tensor, channels: list[str]) -> Tensor:
    """Mean of the patch tokens (no [CLS]): ``(B, C, A·200)`` µV → ``(B, D)``."""
    return backbone(x, channels)[:, 1:].mean(dim=1)


@torch.no_grad()
def extract_features(backbone: Backbone, cache: WindowCache, rows: np.ndarray, *,
                     batch_size: int, device: torch.device) -> np.ndarray:
    """Frozen mean-pooled features of ``rows`` (ascending), ``(len(rows), D)`` float32."""
    backbone.eval().to(device)
    rows = np.sort(rows)
    out = [pooled(backbone, x, cache.channels).float().cpu().numpy()
           for _, x in batches(cache, rows, batch_size, device)]
    return np.concatenate(out) if out else np.zeros((0, backbone.embed_dim), np.float32)


def linear_probe(backbone: Backbone, cache: WindowCache, *, cfg: ProbeConfig | None = None,
                 seed: int = 0, device: torch.device | str = "cpu",
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Linear probe on frozen features. Returns ``{'metrics': {split: ...}, 'hyperparameters',
    'seconds'}``; ``C`` is chosen on the validation split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    cfg, device = cfg or ProbeConfig(), torch.device(device)
    k = len(cache.info["class_names"])
    t0 = time.perf_counter()
    rows = {s: cache.rows(s) for s in SPLITS}
    feats = {s: extract_features(backbone, cache, r, batch_size=cfg.batch_size, device=device)
             for s, r in rows.items()}
    labels = {s: cache.index["label"].to_numpy()[r] for s, r in rows.items()}
    t_feat = time.perf_counter() - t0
    if log:
        log(f"  features: {sum(len(f) for f in feats.values())} windows in {t_feat:.1f} s")
    scaler = StandardScaler().fit(feats["train"])
    z = {s: scaler.transform(f) for s, f in feats.items()}
    grid: dict[str, float] = {}
    best: tuple[float, float, Any] | None = None
    for c in sorted(cfg.Cs):
        clf = LogisticRegression(C=c, max_iter=cfg.max_iter, random_state=seed)
        clf.fit(z["train"], labels["train"])
        score = classification_metrics(labels["val"], _full_proba(clf, z["val"], k),
                                       k)["balanced_accuracy"]
        grid[repr(c)] = score
        if best is None or score > best[0]:
            best = (score, c, clf)
    assert best is not None
    _, c_best, clf = best
    metrics = {s: classification_metrics(labels[s], _full_proba(clf, z[s], k), k)
               for s in SPLITS}
    return {"metrics": metrics,
            "hyperparameters": {"C": c_best, "val_balanced_accuracy_by_C": grid,
                                "Cs": list(cfg.Cs), "max_iter": cfg.max_iter,
                                "features": "mean of normalised patch tokens (no CLS), "
                                            "standardised on train",
                                "batch_size": cfg.batch_size},
            "seconds": {"features": round(t_feat, 3),
                        "fit": round(time.perf_counter() - t0 - t_feat, 3)}}


def _full_proba(clf, z: np.ndarray, k: int) -> np.ndarray:
    """``predict_proba`` over all ``k`` classes (a class absent from training gets 0)."""
    p = clf.predict_proba(z)
    out = np.zeros((len(z), k))
    out[:, clf.classes_] = p
    return out


class Classifier(nn.Module):
    """Backbone + mean pooling + ``Linear(D, K)`` head: ``(B, C, A·200)`` µV → logits ``(B, K)``."""

    def __init__(self, backbone: Backbone, n_classes: int, init_scale: float = 1e-3):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.embed_dim, n_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.head.weight.data.mul_(init_scale)

    def forward(self, x: Tensor, channels: list[str]) -> Tensor:
        return self.head(pooled(self.backbone, x, channels))


@torch.no_grad()
def predict_proba(model: Classifier, cache: WindowCache, rows: np.ndarray, *, batch_size: int,
                  device: torch.device) -> np.ndarray:
    """Softmax probabilities ``(len(rows), K)`` of ``rows`` (ascending order)."""
    model.eval()
    out = [F.softmax(model(x, cache.channels).float(), dim=-1).cpu().numpy()
           for _, x in batches(cache, np.sort(rows), batch_size, device)]
    return np.concatenate(out)


def finetune(backbone: Backbone, cache: WindowCache, *, cfg: FinetuneConfig | None = None,
             seed: int = 0, device: torch.device | str = "cpu",
             log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tune a copy of ``backbone`` with a linear head on the train split; keep the epoch with
    the best validation balanced accuracy; score it on every split. Seeded: head init, dropout
    paths and batch order follow ``seed``."""
    cfg, device = cfg or FinetuneConfig(), torch.device(device)
    cfg.validate()
    k = len(cache.info["class_names"])
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    net = copy.deepcopy(backbone)
    depth = net.config.depth
    for i, blk in enumerate(net.blocks):
        blk.drop_path = cfg.drop_path * i / max(depth - 1, 1)
    model = Classifier(net, k, cfg.head_init_scale).to(device)
    groups = param_groups(model, cfg.weight_decay, layer_decay=cfg.layer_decay, depth=depth)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))
    labels = torch.tensor(cache.index["label"].to_numpy(), dtype=torch.int64)
    train, val = cache.rows("train"), cache.rows("val")
    steps = math.ceil(len(train) / cfg.batch_size)
    total, warm = cfg.epochs * steps, round(cfg.warmup_epochs * steps)
    rng = np.random.default_rng(seed)
    history, best, step = [], (-1.0, -1, None), 0
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(train)
        losses = []
        for a in range(0, len(order), cfg.batch_size):
            lr = lr_at(step, base_lr=cfg.lr, min_lr=cfg.min_lr, warmup_steps=warm,
                       total_steps=total)
            set_lr(opt, lr)
            (rows, x), = batches(cache, order[a:a + cfg.batch_size], cfg.batch_size, device)
            loss = F.cross_entropy(model(x, cache.channels), labels[rows].to(device),
                                   label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            opt.step()
            losses.append(loss.item())
            step += 1
        val_bacc = classification_metrics(
            labels[np.sort(val)].numpy(),
            predict_proba(model, cache, val, batch_size=cfg.batch_size, device=device),
            k)["balanced_accuracy"]
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "val_balanced_accuracy": val_bacc, "lr_end": lr})
        if log:
            log(f"  epoch {epoch + 1}/{cfg.epochs}: loss {np.mean(losses):.4f}, "
                f"val balanced accuracy {val_bacc:.4f}")
        if val_bacc > best[0]:
            best = (val_bacc, epoch + 1, {n: t.detach().cpu().clone()
                                          for n, t in model.state_dict().items()})
    model.load_state_dict(best[2])
    t_train = time.perf_counter() - t0
    metrics = {}
    for s in SPLITS:
        rows = np.sort(cache.rows(s))
        metrics[s] = classification_metrics(
            labels[rows].numpy(),
            predict_proba(model, cache, rows, batch_size=cfg.batch_size, device=device), k)
    return {"metrics": metrics,
            "hyperparameters": {**asdict(cfg), "best_epoch": best[1],
                                "steps_per_epoch": steps, "warmup_steps": warm,
                                "optimizer": "AdamW(0.9, 0.999)",
                                "lr_scales": sorted({round(g["lr_scale"], 6) for g in groups})},
            "history": history,
            "seconds": {"train": round(t_train, 3),
                        "score": round(time.perf_counter() - t0 - t_train, 3)}}
