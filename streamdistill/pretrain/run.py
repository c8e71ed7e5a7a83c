"""``streamdistill pretrain``: LaBraM's two stages on the selected segments, streamed from the store.

Stage ``tokenizer`` trains the VQ-NSP tokenizer (:class:`~streamdistill.pretrain.tokenizer.VQNSP`);
stage ``mem`` trains the masked-EEG-modeling student against the frozen tokenizer's codes
(:func:`~streamdistill.pretrain.mem.mem_loss`, 50% mask + its complement). Both stream batches of
one montage group from the store (:class:`~streamdistill.store.pretrain_loader.SelectedBatches`):
only the selected segments (the prefix of a selection for η), never the corpus in RAM.

Layout of ``RUN``::

    RUN/<stage>/checkpoint.pt   model, optimiser, step, loader state, RNG (every N steps, atomic)
    RUN/<stage>/metrics.jsonl   one JSON line per logged step (loss parts, lr, tokens/s, data wait)
    RUN/<stage>/loss.png        the loss curve
    RUN/tokenizer/tokenizer.pt  the trained tokenizer (weights + config)
    RUN/mem/student.pt          the trained student; RUN/mem/braindecode.pt its backbone as
                                ``braindecode.models.Labram`` weights (+ braindecode.json)
    RUN/run.json                data identity, per-stage wall time, steps, throughput

A killed run continues with ``--resume`` at the batch after its last checkpoint; on CPU the result
equals an uninterrupted run (masks are drawn from ``(seed, step, rank)``, the loader's order is a
pure function of its state, and the torch RNG is checkpointed). Under ``torchrun`` every rank
reads an equal, disjoint share of each epoch's batches; rank 0 writes the files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from streamdistill.config import OptimConfig, PretrainConfig, to_dict
from streamdistill.io_utils import atomic_write, atomic_write_json, package_versions
from streamdistill.pretrain.schedule import lr_at, set_lr


class PretrainError(RuntimeError):
    """The inputs or the run folder cannot be used (names them and what to do)."""


@dataclass
class StageSummary:
    stage: str
    steps: int
    epochs: int
    seconds: float
    tokens_per_s: float
    data_wait: float
    final_loss: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PretrainSummary:
    out: Path
    n_segments: int
    stages: list[StageSummary]

    def line(self) -> str:
        parts = [f"{s.stage}: {s.steps} steps, loss {s.final_loss:.3f}, "
                 f"{s.tokens_per_s:,.0f} tokens/s, data wait {100 * s.data_wait:.1f}%"
                 for s in self.stages]
        return f"pretrain: {self.n_segments} segments; " + "; ".join(parts) + f" → {self.out}"


# ------------------------------------------------------------------------------ distributed
@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PretrainError(f"--device {name}: CUDA is not available here; use --device cpu")
    return torch.device(name)


# ------------------------------------------------------------------------------ data identity
def selected_ids(store, selection: str | Path | None, eta: float | None):
    """(sorted selected ids or None for the whole store, η used, selection path)."""
    if selection is None:
        if eta is not None:
            raise PretrainError("--eta needs --selection (without one the whole store is used)")
        return None, 100.0, None
    from streamdistill.select.selection import SelectionError, open_selection

    try:
        sel = open_selection(selection)
    except SelectionError as exc:
        raise PretrainError(str(exc)) from None
    fp = sel.meta.get("store_fingerprint")
    if fp is not None and fp != store.fingerprint:
        raise PretrainError(
            f"--selection {selection} was made from another segment store (fingerprint "
            f"{fp[:12]}…, this store {store.fingerprint[:12]}…); select again on this store")
    if sel.meta.get("n_segments") != store.n_segments:
        raise PretrainError(f"--selection {selection} covers {sel.meta.get('n_segments')} "
                            f"segments, the store has {store.n_segments}: another store")
    eta = sel.max_eta if eta is None else eta
    try:
        ids = sel.subset(eta)
    except SelectionError as exc:
        raise PretrainError(str(exc)) from None
    if ids.size == 0:
        raise PretrainError(f"--selection {selection} selects no segment at η = {eta:g}%")
    return ids, float(eta), Path(selection)


def data_digest(store_fp: str, ids: np.ndarray | None) -> str:
    h = hashlib.sha256(store_fp.encode())
    h.update(b"all" if ids is None else np.ascontiguousarray(ids, np.int64).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------ checkpoints
def _save(path: Path, payload: dict) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
    atomic_write(path, write)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


# ------------------------------------------------------------------------------ one stage
@dataclass
class StageSpec:
    """What differs between the two stages."""

    name: str
    optim: OptimConfig
    build: Callable[[], nn.Module]
    step_loss: Callable[[nn.Module, dict, int], tuple[torch.Tensor, dict[str, float]]]
    finish: Callable[[nn.Module, Path], dict[str, Any]]
    identity: dict[str, Any]


def _mask_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(hashlib.sha256(
        f"mask:{seed}:{step}:{rank}".encode()).hexdigest()[:15], 16))


def train_stage(spec: StageSpec, cfg: PretrainConfig, source: Path, ids: np.ndarray | None,
                out: Path, device: torch.device, ddp: Dist, *, resume: bool,
                progress: bool) -> StageSummary:
    """Train one stage to its last epoch (resuming from ``out/checkpoint.pt`` when asked)."""
    from streamdistill.pretrain.model import param_groups
    from streamdistill.store.pretrain_loader import LoaderState, SelectedBatches, make_dataloader

    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "checkpoint.pt", out / "metrics.jsonl"
    identity = {**spec.identity, "world": ddp.world}
    torch.manual_seed(cfg.seed)
    model = spec.build().to(device)
    groups = param_groups(model, spec.optim.weight_decay)
    opt = torch.optim.AdamW(groups, lr=spec.optim.lr, betas=(spec.optim.beta1, spec.optim.beta2))
    state, step = LoaderState(epoch=0, batches_done=0), 0
    if ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("complete"):
            return StageSummary(**ck["summary"])
        if not resume:
            raise PretrainError(f"{out} holds a checkpoint at step {ck['step']}; pass --resume "
                                "to continue it, or use a new --out")
        if ck["identity"] != identity:
            diff = sorted(k for k in identity if ck["identity"].get(k) != identity[k])
            raise PretrainError(f"{ckpt_path} was made with other data or settings "
                                f"({', '.join(diff)} differ); use a new --out")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        state, step = LoaderState(**ck["loader"]), int(ck["step"])
    elif log_path.exists() and ddp.main:
        log_path.unlink()
    if ddp.world > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False)
    from streamdistill.store.segment_sources import LoaderError

    try:
        # On CUDA the batches keep the store's dtype and are cast on the GPU (half the bytes
        # to fill in the workers and to copy to the device); on the CPU the workers cast.
        ds = SelectedBatches(source, ids, batch_size=cfg.batch_size, seed=cfg.seed,
                             shuffle_buffer=cfg.shuffle_buffer, rank=ddp.rank,
                             world_size=ddp.world, state=state,
                             x_dtype="store" if device.type == "cuda" else "float32")
    except LoaderError as exc:
        raise PretrainError(f"{exc} (--batch-size)") from None
    per_epoch = ds.batches_per_epoch()
    if per_epoch == 0:
        raise PretrainError(f"the selection has fewer segments than one batch per process "
                            f"({cfg.batch_size}); lower --batch-size or select more")
    total = per_epoch * spec.optim.epochs
    warmup = int(round(spec.optim.warmup_epochs * per_epoch))
    t_stage, wait_s, tokens, last_loss = time.perf_counter(), 0.0, 0, float("nan")
    window: dict[str, float] = {}
    bar = tqdm(total=total, initial=step, desc=spec.name, unit="step",
               disable=not (progress and ddp.main))

    position = {"epoch": state.epoch, "batches_done": state.batches_done}

    def checkpoint(complete: bool = False, summary: dict | None = None) -> None:
        if ddp.main:
            _save(ckpt_path, {
                "model": _unwrap(model).state_dict(), "optimizer": opt.state_dict(),
                "step": step, "loader": dict(position), "torch_rng": torch.get_rng_state(),
                "identity": identity, "complete": complete, "summary": summary})
        if ddp.world > 1:
            dist.barrier()

    # One loader for the stage: its workers persist and follow set_epoch (no start-up per epoch).
    loader = make_dataloader(ds, num_workers=cfg.num_workers, prefetch_factor=cfg.prefetch_factor,
                             pin_memory=device.type == "cuda")
    model.train()
    for epoch in range(state.epoch, spec.optim.epochs):
        ds.set_epoch(epoch)  # keeps batches_done when resuming inside this epoch
        if epoch != position["epoch"]:
            position.update(epoch=epoch, batches_done=0)
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            set_lr(opt, lr_at(step, base_lr=spec.optim.lr, min_lr=spec.optim.min_lr,
                              warmup_steps=warmup, total_steps=total))
            with torch.autocast(device.type, dtype=torch.bfloat16,
                                enabled=cfg.amp and device.type == "cuda"):
                loss, parts = spec.step_loss(model, batch, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if spec.optim.clip_norm > 0:
                parts["grad_norm"] = float(nn.utils.clip_grad_norm_(model.parameters(),
                                                                    spec.optim.clip_norm))
            opt.step()
            position["batches_done"] += 1
            step += 1
            t2 = time.perf_counter()
            wait_s += t1 - t0
            x = batch["x"]
            n_tok = int(x.shape[0] * x.shape[1] * (x.shape[2] // 200)) * ddp.world
            tokens += n_tok
            last_loss = float(loss.detach())
            for k, v in {"loss": last_loss, **parts}.items():
                window[k] = window.get(k, 0.0) + float(v)
            window["_n"] = window.get("_n", 0) + 1
            window["_wait"] = window.get("_wait", 0.0) + (t1 - t0)
            window["_time"] = window.get("_time", 0.0) + (t2 - t0)
            window["_tokens"] = window.get("_tokens", 0) + n_tok
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}")
            if step % cfg.log_every == 0 or step == total:
                _log(log_path, window, step, epoch, opt, ddp)
                window = {}
            if step % cfg.checkpoint_every == 0:
                checkpoint()
        position.update(epoch=epoch + 1, batches_done=0)
        checkpoint()  # epoch boundary: the loader state now points at the next epoch
    bar.close()
    seconds = time.perf_counter() - t_stage
    extra = spec.finish(_unwrap(model), out) if ddp.main else {}
    summary = StageSummary(spec.name, step, spec.optim.epochs, seconds,
                           tokens / seconds if seconds > 0 else 0.0,
                           wait_s / seconds if seconds > 0 else 0.0, last_loss, extra)
    checkpoint(complete=True, summary=asdict(summary))
    if ddp.main:
        plot_curve(log_path, out / "loss.png", spec.name)
    return summary


def _log(path: Path, window: dict[str, float], step: int, epoch: int, opt, ddp: Dist) -> None:
    if not ddp.main or not window:
        return
    n = window["_n"]
    rec = {"step": step, "epoch": epoch,
           "lr": max(g["lr"] for g in opt.param_groups),
           **{k: v / n for k, v in window.items() if not k.startswith("_")},
           "tokens_per_s": window["_tokens"] / window["_time"] if window["_time"] else 0.0,
           "data_wait": window["_wait"] / window["_time"] if window["_time"] else 0.0,
           "time": time.time()}
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def plot_curve(log_path: Path, png: Path, title: str) -> None:
    """Loss (and its parts) against the step, from ``metrics.jsonl``."""
    if not log_path.is_file():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not recs:
        return
    keys = [k for k in recs[0] if k.startswith("loss")]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    steps = [r["step"] for r in recs]
    for k in keys:
        ax.plot(steps, [r.get(k, math.nan) for r in recs], label=k, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"LaBraM {title}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------ the stages
def tokenizer_spec(cfg: PretrainConfig, identity: dict[str, Any]) -> StageSpec:
    from streamdistill.pretrain.tokenizer import VQNSP, TokenizerConfig

    tcfg = TokenizerConfig(encoder=cfg.tokenizer_encoder, n_codes=cfg.n_codes,
                           code_dim=cfg.code_dim, kmeans_seed=cfg.seed)

    def step_loss(model, batch, step):
        o = model(batch["x"].to(next(model.parameters()).device, non_blocking=True).float(),
                  batch["channels"])
        used = int(torch.unique(o.codes).numel())
        return o.loss, {"loss_vq": float(o.vq_loss.detach()),
                        "loss_amp": float(o.amp_loss.detach()),
                        "loss_phase": float(o.phase_loss.detach()), "codes_in_batch": used}

    def finish(model, out: Path) -> dict[str, Any]:
        usage = model.quantizer.usage
        _save(out / "tokenizer.pt", {"config": asdict(tcfg), "model": model.state_dict()})
        return {"codebook_used": int((usage > 1e-3).sum()), "n_codes": cfg.n_codes}

    return StageSpec("tokenizer", cfg.tokenizer, lambda: VQNSP(tcfg), step_loss, finish,
                     {**identity, "stage": "tokenizer", "tokenizer": asdict(tcfg),
                      "optim": asdict(cfg.tokenizer), "batch_size": cfg.batch_size,
                      "seed": cfg.seed})


def load_tokenizer(path: Path, device: torch.device):
    """A trained, frozen VQ-NSP tokenizer from ``tokenizer.pt``."""
    from streamdistill.pretrain.tokenizer import VQNSP, TokenizerConfig

    if not path.is_file():
        raise PretrainError(f"{path}: no trained tokenizer; run `pretrain --stage tokenizer` "
                            "first (or --stage all), or pass --tokenizer PATH")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = VQNSP(TokenizerConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval().requires_grad_(False)
    return model.to(device), hashlib.sha256(path.read_bytes()).hexdigest()


def mem_spec(cfg: PretrainConfig, identity: dict[str, Any], tokenizer_path: Path,
             device: torch.device, rank: int, n_times: int) -> StageSpec:
    from streamdistill.pretrain.export import braindecode_kwargs, export_braindecode
    from streamdistill.pretrain.mem import MEMModel, mem_loss, random_mask

    tokenizer, tok_hash = load_tokenizer(tokenizer_path, device)

    def step_loss(model, batch, step):
        x = batch["x"].to(device, non_blocking=True).float()
        codes = tokenizer.encode_codes(x, batch["channels"])
        mask = random_mask(x.shape[0], codes.shape[1], cfg.mask_ratio,
                           _mask_generator(cfg.seed, step, rank), device=device)
        res = mem_loss(model, x, batch["channels"], mask, codes)
        return res.loss, {"loss_masked": float(res.loss_masked),
                          "loss_complement": float(res.loss_complement),
                          "acc_masked": float(res.acc_masked),
                          "acc_complement": float(res.acc_complement)}

    def finish(model, out: Path) -> dict[str, Any]:
        _save(out / "student.pt", {"config": {"model": cfg.model, "vocab": cfg.n_codes,
                                              "drop_path": cfg.drop_path},
                                   "model": model.state_dict()})
        weights = export_braindecode(model.backbone, n_times=n_times)
        _save(out / "braindecode.pt", weights)
        kwargs = {**braindecode_kwargs(model.backbone), "n_times": n_times, "n_outputs": 0}
        atomic_write_json(out / "braindecode.json", {
            "class": "braindecode.models.Labram", "kwargs": kwargs,
            "input": "x / 100: braindecode's Labram takes µV ÷ 100 (ours divides inside)",
            "load": "Labram(n_chans=..., **kwargs).load_state_dict(torch.load(path), "
                    "strict=True)"})
        return {"tokenizer_sha256": tok_hash}

    return StageSpec("mem", cfg.mem,
                     lambda: MEMModel(cfg.model, cfg.n_codes, drop_path=cfg.drop_path),
                     step_loss, finish,
                     {**identity, "stage": "mem", "model": cfg.model, "tokenizer": tok_hash,
                      "optim": asdict(cfg.mem), "batch_size": cfg.batch_size,
                      "mask_ratio": cfg.mask_ratio, "drop_path": cfg.drop_path, "seed": cfg.seed})


# ------------------------------------------------------------------------------ the stage
def run_pretrain(store_path: str | Path, out: str | Path, cfg: PretrainConfig, *,
                 selection: str | Path | None = None, tokenizer: str | Path | None = None,
                 resume: bool = False, progress: bool = True) -> PretrainSummary:
    """Run ``cfg.stage`` (tokenizer, mem or all) on the selected segments of a store."""
    from streamdistill.store import StoreError, open_store

    cfg.validate()
    out = Path(out)
    try:
        store = open_store(store_path)
    except StoreError as exc:
        raise PretrainError(str(exc)) from None
    ids, eta, sel_path = selected_ids(store, selection, cfg.eta)
    n_times = max(g.n_times for g in store.groups.values())
    device = resolve_device(cfg.device)
    ddp = init_distributed(device)
    if ddp.world > 1 and device.type == "cuda":
        device = resolve_device(cfg.device, ddp.local_rank)
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    identity = {"store_fingerprint": store.fingerprint, "data": data_digest(store.fingerprint, ids),
                "eta": eta}
    n_sel = store.n_segments if ids is None else int(ids.size)
    stages: list[StageSummary] = []
    source = Path(store.path)
    if cfg.stage in ("tokenizer", "all"):
        stages.append(train_stage(tokenizer_spec(cfg, identity), cfg, source, ids,
                                  out / "tokenizer", device, ddp, resume=resume,
                                  progress=progress))
    if cfg.stage in ("mem", "all"):
        tok_path = Path(tokenizer) if tokenizer else out / "tokenizer" / "tokenizer.pt"
        stages.append(train_stage(mem_spec(cfg, identity, tok_path, device, ddp.rank, n_times),
                                  cfg, source, ids, out / "mem", device, ddp, resume=resume,
                                  progress=progress))
    summary = PretrainSummary(out, n_sel, stages)
    if ddp.main:
        old = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
        done = {s["stage"]: s for s in old.get("stages", [])}
        done.update({s.stage: asdict(s) for s in stages})
        atomic_write_json(out / "run.json", {
            "store": str(store.path), "store_fingerprint": store.fingerprint,
            "selection": str(sel_path) if sel_path else None, "eta": eta,
            "n_segments": n_sel, "world_size": ddp.world, "device": str(device),
            "config": to_dict(cfg), "stages": list(done.values()),
            "versions": package_versions()})
    return summary
