"""``streamdistill report WORKSPACE``: one self-contained HTML page of a workspace's outputs.

The workspace is searched (recursively, any layout) for what the stages write:

- segment stores (``store.json``): hours of EEG and segments per montage group (a bar plot made
  here) and the per-file status counts;
- latent arrays (``latents.json``): the compressors' training curves (``train_log/loss.png``);
- selections (``selection.json``): parameters, counts per η and the four plots of ``report/``;
- pretraining runs (``run.json``): per-stage steps, throughput, data wait and the loss curves;
- evaluations (``results.json`` of ``evaluate``): one table row per result — model, task,
  protocol, seed and the test metrics.

Images are embedded (base64), so the page can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from streamdistill.io_utils import atomic_write_text

SKIP_DIRS = {".work", "staging", "parts", "segments.zarr", "__pycache__", ".git"}


def _find(root: Path, name: str) -> list[Path]:
    """Files called ``name`` under ``root``, skipping private bookkeeping folders, sorted."""
    out = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(d.iterdir())
        except OSError:
            continue
        for e in entries:
            if e.is_dir() and e.name not in SKIP_DIRS and not e.is_symlink():
                stack.append(e)
            elif e.name == name and e.is_file():
                out.append(e)
    return sorted(out)


def _img_file(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _img_fig(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    data = base64.b64encode(buf.getvalue()).decode()
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------ sections
def store_section(store_json: Path, root: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    info = json.loads(store_json.read_text())
    groups = info.get("groups", {})
    names = sorted(groups)
    hours = [groups[g].get("n_segments", 0) * groups[g].get("window_s", 0) / 3600 for g in names]
    parts = [f"<h3>Segment store <code>{html.escape(_rel(store_json.parent, root))}</code></h3>"]
    rows = [[g, len(groups[g].get("channels", [])), groups[g].get("window_s"),
             groups[g].get("n_segments", 0), h] for g, h in zip(names, hours)]
    parts.append(_table(["group", "channels", "window s", "segments", "hours"], rows))
    rec_path = store_json.parent / "recordings.parquet"
    if rec_path.is_file():
        status = pd.read_parquet(rec_path, columns=["status"])["status"].value_counts()
        parts.append("<p>Input files: " + ", ".join(f"{k}: {v}" for k, v in status.items())
                     + "</p>")
    if names:
        fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(names) + 2), 3.2))
        ax.bar(range(len(names)), hours, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("hours of EEG")
        ax.set_title("store: hours per montage group")
        fig.tight_layout()
        parts.append(_img_fig(fig, "hours of EEG per montage group"))
        plt.close(fig)
    return "\n".join(parts)


def latents_section(latents_json: Path, root: Path) -> str:
    meta = json.loads(latents_json.read_text())
    folder = latents_json.parent
    parts = [f"<h3>Latents <code>{html.escape(_rel(folder, root))}</code></h3>",
             f"<p>{meta.get('n_segments')} segments, dim {meta.get('dim')}, complete: "
             f"{meta.get('complete')}</p>",
             _img_file(folder / "train_log" / "loss.png", "compressor training loss")]
    return "\n".join(parts)


def selection_section(sel_json: Path, root: Path) -> str:
    meta = json.loads(sel_json.read_text())
    folder = sel_json.parent
    keys = ["method", "tau", "eta", "scope", "init", "n_outliers", "n_selected"]
    parts = [f"<h3>Selection <code>{html.escape(_rel(folder, root))}</code></h3>",
             _table(keys, [[json.dumps(meta.get(k)) if isinstance(meta.get(k), (dict, list))
                            else meta.get(k) for k in keys]])]
    for name, alt in (("hbos_hist", "HBOS scores with the τ cut"),
                      ("radius_vs_eta", "k-center coverage radius vs η"),
                      ("subject_share", "subject shares: selection vs corpus"),
                      ("latents_2d", "latents (2-D PCA) with picks and outliers")):
        parts.append(_img_file(folder / "report" / f"{name}.png", alt))
    return "\n".join(parts)


def run_section(run_json: Path, root: Path) -> str:
    meta = json.loads(run_json.read_text())
    folder = run_json.parent
    rows = [[s["stage"], s["steps"], s["epochs"], s["seconds"], s["tokens_per_s"],
             100 * s["data_wait"], s["final_loss"]] for s in meta.get("stages", [])]
    parts = [f"<h3>Pretraining run <code>{html.escape(_rel(folder, root))}</code></h3>",
             f"<p>η = {meta.get('eta')}%, {meta.get('n_segments')} segments, "
             f"{meta.get('world_size')} process(es) on {html.escape(str(meta.get('device')))}"
             "</p>",
             _table(["stage", "steps", "epochs", "seconds", "tokens/s", "data wait %",
                     "final loss"], rows)]
    for stage in ("tokenizer", "mem"):
        parts.append(_img_file(folder / stage / "loss.png", f"{stage} loss"))
    return "\n".join(parts)


def evaluation_rows(results: list[Path], root: Path) -> list[list[Any]]:
    rows = []
    for path in results:
        try:
            r = json.loads(path.read_text())
            test = r["metrics"]["test"]
        except (KeyError, json.JSONDecodeError):
            continue
        model = r.get("model", {})
        rows.append([_rel(path.parent, root), model.get("kind"), model.get("size"),
                     r.get("task", {}).get("name"), r.get("protocol"), r.get("seed"),
                     test.get("n"), test.get("balanced_accuracy"), test.get("cohen_kappa"),
                     test.get("f1_weighted"), test.get("auroc")])
    return rows


def write_report(workspace: str | Path, out: str | Path | None = None) -> Path:
    """Write ``out`` (default ``WORKSPACE/report/index.html``); returns its path."""
    root = Path(workspace)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such workspace folder")
    out = Path(out) if out else root / "report" / "index.html"
    sections = []
    stores = _find(root, "store.json")
    latents = _find(root, "latents.json")
    selections = _find(root, "selection.json")
    runs = _find(root, "run.json")
    results = _find(root, "results.json")
    if not (stores or latents or selections or runs or results):
        raise FileNotFoundError(f"{root}: no streamdistill outputs found (store.json, "
                                "latents.json, selection.json, run.json or results.json)")
    for title, found, fn in (("Segment stores", stores, store_section),
                             ("Latents", latents, latents_section),
                             ("Selections", selections, selection_section),
                             ("Pretraining", runs, run_section)):
        if found:
            sections.append(f"<h2>{title}</h2>" + "\n".join(fn(p, root) for p in found))
    rows = evaluation_rows(results, root)
    if rows:
        sections.append("<h2>Evaluation (test split)</h2>" + _table(
            ["result", "model", "size", "task", "protocol", "seed", "n", "balanced acc",
             "Cohen κ", "weighted F1", "AUROC"], rows))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>streamdistill report — {html.escape(root.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th {{ background: #f0f0f0; }} td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 100%; }}
figcaption {{ font-size: 0.85em; color: #555; }} code {{ background: #f4f4f4; }}
</style></head><body>
<h1>streamdistill report: {html.escape(str(root))}</h1>
<p>EEG-DLite distillation (shard → encode → select) and LaBraM pretraining / evaluation outputs
found under this folder.</p>
{"".join(sections)}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out
