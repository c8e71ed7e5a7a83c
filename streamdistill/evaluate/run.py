"""``streamdistill evaluate``: score a LaBraM backbone on a downstream task.

:func:`run_evaluate` loads the backbone (:func:`load_backbone`), builds or reuses the task's window
cache (:mod:`~streamdistill.evaluate.windows`), runs a protocol
(:mod:`~streamdistill.evaluate.protocols`) and writes ``OUT/results.json``: metrics per split, the
chosen hyper-parameters, windows per split and class, dropped windows, wall times, versions.

Model sources (``model_source``):

* a pretrain **run folder** (``RUN/mem/student.pt``, or that file itself): the masked-EEG-modeling
  student's backbone (``{"config": {...}, "model": MEMModel state_dict}``, ``backbone.*`` keys);
* ``random``: a randomly initialised backbone of ``size`` (the MEM student's architecture: no qkv
  bias, layer scale 0.1), drawn from ``seed`` — the "no pretraining" arm;
* a **braindecode** ``Labram`` state dict (``RUN/mem/braindecode.pt``, or any ``.pt`` that is not a
  student): mapped back onto our :class:`~streamdistill.pretrain.model.Backbone` by inverting
  :func:`~streamdistill.pretrain.export.export_braindecode`'s renames (braindecode itself is not
  needed, nor imported). ``final_layer.*`` (a classification head) and ``fc_norm.*`` are ignored.

In every case the architecture (width, depth, heads, conv channels, qkv bias, layer scale) is read
from the weights' shapes, so a checkpoint of any size loads; ``braindecode.json``, if present, is
only recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from streamdistill.evaluate.protocols import (
    FinetuneConfig,
    ProbeConfig,
    finetune,
    linear_probe,
)
from streamdistill.evaluate.tasks import Task, TaskError, load_task
from streamdistill.evaluate.windows import build_cache
from streamdistill.io_utils import atomic_write_json, package_versions, sha256_file
from streamdistill.pretrain.model import (
    CONFIGS,
    MAX_PATCHES,
    Backbone,
    LabramConfig,
    count_parameters,
)

PROTOCOLS = ("probe", "finetune")


class EvaluateError(RuntimeError):
    """The model source, task or protocol cannot be used; the message says what to do."""


# ------------------------------------------------------------------------------ model sources
_FROM_BRAINDECODE = (
    (re.compile(r"^patch_embed\.temporal_conv\."), "patch_embed."),
    (re.compile(r"^position_embedding$"), "pos_embed"),
    (re.compile(r"^temporal_embedding$"), "time_embed"),
    (re.compile(r"\.mlp\.0\."), ".mlp.fc1."),
    (re.compile(r"\.mlp\.2\."), ".mlp.fc2."),
)


def infer_config(state: dict[str, torch.Tensor]) -> tuple[LabramConfig, bool, bool]:
    """``(config, qkv_bias, layer_scale)`` of a backbone state dict (our names), from shapes.

    A registered size (tiny/base/large/huge) is returned by name when the shapes match it.
    """
    try:
        d = int(state["pos_embed"].shape[-1])
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        conv = int(state["patch_embed.conv1.weight"].shape[0])
        heads = d // int(state["blocks.0.attn.q_norm.weight"].shape[0])
        mlp_ratio = state["blocks.0.mlp.fc1.weight"].shape[0] / d
    except (KeyError, ValueError, IndexError) as exc:
        raise EvaluateError(f"not a LaBraM backbone state dict (missing or odd {exc})") from None
    for cfg in CONFIGS.values():
        if (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.conv_channels, cfg.mlp_ratio) == (
                d, depth, heads, conv, mlp_ratio):
            break
    else:
        cfg = LabramConfig(f"custom-d{d}-l{depth}", embed_dim=d, depth=depth, num_heads=heads,
                           conv_channels=conv, mlp_ratio=mlp_ratio)
    return cfg, "blocks.0.attn.q_bias" in state, "blocks.0.gamma_1" in state


def backbone_from_state(state: dict[str, torch.Tensor]) -> Backbone:
    """A :class:`Backbone` with exactly these weights (strict loading)."""
    cfg, qkv_bias, layer_scale = infer_config(state)
    backbone = Backbone(cfg, qkv_bias=qkv_bias, layer_scale=0.1 if layer_scale else None)
    if state["time_embed"].shape[1] != MAX_PATCHES:  # braindecode sizes it to A + 1 rows
        rows = state["time_embed"][:, :MAX_PATCHES]
        pad = rows.new_zeros(1, MAX_PATCHES - rows.shape[1], rows.shape[-1])
        state = {**state, "time_embed": torch.cat((rows, pad), dim=1)}
    backbone.load_state_dict(state, strict=True)
    return backbone


def from_braindecode(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Inverse of :func:`~streamdistill.pretrain.export.export_braindecode`'s renames: our names,
    plus the braindecode-only keys that were dropped."""
    out, dropped = {}, []
    for name, value in state.items():
        if name.startswith(("final_layer.", "fc_norm.", "head.")):
            dropped.append(name)
            continue
        for pattern, new in _FROM_BRAINDECODE:
            name = pattern.sub(new, name)
        out[name] = value
    return out, dropped


def load_backbone(source: str | Path, *, size: str = "base", seed: int = 0
                  ) -> tuple[Backbone, dict[str, Any]]:
    """The backbone named by ``source`` (``random``, a run folder, a student or braindecode .pt)
    and a JSON-ready description of where it came from."""
    if str(source) == "random":
        if size not in CONFIGS:
            raise EvaluateError(f"--size {size!r}: choose one of {sorted(CONFIGS)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = Backbone(size, qkv_bias=False, layer_scale=0.1)
        return backbone, {"kind": "random", "size": size, "init_seed": seed,
                          "n_params": count_parameters(backbone)}
    path = Path(source)
    if path.is_dir():
        candidates = [path / "mem" / "student.pt", path / "student.pt",
                      path / "mem" / "braindecode.pt", path / "braindecode.pt"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise EvaluateError(f"{path}: no mem/student.pt or mem/braindecode.pt; pass a "
                                "pretrain run folder, a .pt file or 'random'")
        path = found
    if not path.is_file():
        raise EvaluateError(f"model source {source}: no such file or folder; pass a pretrain run "
                            "folder, a student.pt / braindecode.pt file or 'random'")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint
        raise EvaluateError(f"{path}: cannot read as a torch checkpoint ({exc})") from None
    info: dict[str, Any] = {"path": str(path.resolve()), "sha256": sha256_file(path)}
    if isinstance(payload, dict) and "model" in payload and "config" in payload:
        state = {k[len("backbone."):]: v for k, v in payload["model"].items()
                 if k.startswith("backbone.")}
        info.update(kind="run", student_config=payload["config"])
    elif isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state, dropped = from_braindecode(payload)
        meta = path.with_name("braindecode.json")
        info.update(kind="braindecode", ignored_keys=dropped,
                    braindecode_json=json.loads(meta.read_text()) if meta.is_file() else None)
    else:
        raise EvaluateError(f"{path}: neither a pretrain student ({{'config', 'model'}}) nor a "
                            "braindecode Labram state dict")
    backbone = backbone_from_state(state)
    info.update(size=backbone.config.name, n_params=count_parameters(backbone))
    return backbone, info


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA if available else CPU; refuses CUDA where there is none."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EvaluateError(f"--device {name}: CUDA is not available here; use --device cpu")
    return torch.device(name)


# ------------------------------------------------------------------------------ the stage
def _split_counts(index, class_names: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for split in ("train", "val", "test"):
        part = index[index["split"] == split]
        out[split] = {"total": len(part), "subjects": int(part["subject"].nunique()),
                      **{c: int((part["class"] == c).sum()) for c in class_names}}
    return out


def check_splits(counts: dict[str, dict[str, int]], class_names: list[str], task: str) -> None:
    """Refuse splits a protocol cannot use: train with one class only, empty val or test."""
    train = [c for c in class_names if counts["train"][c] > 0]
    if len(train) < 2:
        raise TaskError(f"task {task!r}: labels with one class only in the train split "
                        f"({train}); every class needs training windows")
    for split in ("val", "test"):
        if counts[split]["total"] == 0:
            raise TaskError(f"task {task!r}: the {split} split has no windows; list or draw "
                            f"subjects for splits.{split}")


def run_evaluate(model_source: str | Path, task: str | Path | Task, *, protocol: str = "probe",
                 seed: int = 0, out: str | Path, size: str = "base",
                 data_root: str | Path | None = None, cache_dir: str | Path | None = None,
                 device: str = "auto", epochs: int | None = None,
                 finetune_cfg: FinetuneConfig | None = None, probe_cfg: ProbeConfig | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate ``model_source`` on ``task`` with ``protocol`` (``probe`` or ``finetune``).

    Writes ``OUT/results.json`` and returns the same dict. ``epochs`` overrides
    ``finetune_cfg.epochs``. Raises :class:`~.tasks.TaskError` (task/data problems) or
    :class:`EvaluateError` (model source, device, protocol).
    """
    t0 = time.perf_counter()
    if protocol not in PROTOCOLS:
        raise EvaluateError(f"--protocol {protocol!r}: choose one of {list(PROTOCOLS)}")
    dev = resolve_device(device)
    spec = task if isinstance(task, Task) else load_task(task, data_root=data_root)
    cache = build_cache(spec, cache_dir, log=log)
    t_windows = time.perf_counter() - t0
    names = list(cache.info["class_names"])
    counts = _split_counts(cache.index, names)
    check_splits(counts, names, spec.name)
    if log:
        log(f"windows: {cache.info['n_windows']} ({'cache hit' if cache.hit else 'built'}) "
            f"{cache.path}; " + ", ".join(f"{s} {c['total']}" for s, c in counts.items()))
    backbone, model_info = load_backbone(model_source, size=size, seed=seed)
    if protocol == "probe":
        result = linear_probe(backbone, cache, cfg=probe_cfg, seed=seed, device=dev, log=log)
    else:
        cfg = finetune_cfg or FinetuneConfig()
        if epochs is not None:
            cfg = FinetuneConfig(**{**cfg.__dict__, "epochs": int(epochs)})
        result = finetune(backbone, cache, cfg=cfg, seed=seed, device=dev, log=log)
    results = {
        "task": {"name": spec.name, "digest": cache.info["digest"], "definition": spec.to_dict(),
                 "cache": str(cache.path), "cache_hit": cache.hit, "class_names": names,
                 "channels": cache.channels, "window_s": spec.length_s,
                 "source": spec.source},
        "model": model_info,
        "protocol": protocol,
        "seed": seed,
        "device": str(dev),
        "hyperparameters": result["hyperparameters"],
        "metrics": result["metrics"],
        "n_windows": counts,
        "dropped": {k: v for k, v in cache.info["counts"].items() if k != "files"},
        "n_files": cache.info["counts"].get("files"),
        "notes": list(cache.info.get("notes", [])),
        "history": result.get("history", []),
        "wall_time_s": {"windows": round(t_windows, 3), **result["seconds"],
                        "total": round(time.perf_counter() - t0, 3)},
        "versions": package_versions(("streamdistill", "numpy", "scipy", "mne", "torch",
                                      "scikit-learn")),
    }
    out = Path(out)
    atomic_write_json(out / "results.json", results)
    if log:
        test = results["metrics"]["test"]
        log(f"test: balanced accuracy {test['balanced_accuracy']:.4f}, κ "
            f"{test['cohen_kappa']:.4f}, weighted F1 {test['f1_weighted']:.4f}, AUROC "
            f"{test['auroc'] if test['auroc'] is None else round(test['auroc'], 4)} → "
            f"{out / 'results.json'}")
    return results
