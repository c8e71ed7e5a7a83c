"""``SEL/report/``: PNG plots of a selection (matplotlib, Agg backend).

- ``hbos_hist.png`` — each montage group's HBOS score histogram with the τ cut;
- ``radius_vs_eta.png`` — coverage radius (max distance of a kept latent to its nearest pick)
  against η, per scope, with the η values asked for marked;
- ``subject_share.png`` — each subject's share of the selection (largest η) vs of the corpus;
- ``latents_2d.png`` — a 2-D PCA projection of a sample of the largest group's latents, with the
  picks at the smallest η and the HBOS outliers marked.

Memory: at most ``max_points`` latent rows are read for the projection; everything else uses the
selection files (O(N) scalars at most).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamdistill.select.inputs import LatentSource, SegmentTable, group_rows
from streamdistill.select.selection import open_selection


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(sel_dir: str | Path, source: LatentSource, table: SegmentTable,
                 max_points: int = 20_000) -> list[Path]:
    """Write the four plots into ``sel_dir/report``; returns their paths."""
    sel = open_selection(sel_dir)
    out = Path(sel_dir) / "report"
    out.mkdir(exist_ok=True)
    paths = [
        _hbos_hist(sel, table, out / "hbos_hist.png"),
        _radius_vs_eta(sel, out / "radius_vs_eta.png"),
        _subject_share(sel, table, out / "subject_share.png"),
        _latents_2d(sel, source, table, out / "latents_2d.png", max_points),
    ]
    return [p for p in paths if p is not None]


def _hbos_hist(sel, table: SegmentTable, path: Path) -> Path:
    plt = _plt()
    groups = group_rows(table)
    names = sorted(groups, key=lambda g: -len(groups[g]))[:6]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
    tau = float(sel.meta["tau"])
    hbos = sel.hbos
    for ax, g in zip(axes[0], names):
        s = np.asarray(hbos[groups[g]])
        s = s[np.isfinite(s)]
        ax.hist(s, bins=80, color="#4c72b0")
        ax.set_yscale("log")
        if tau > 0 and s.size:
            cut = np.percentile(s, 100 - tau)
            ax.axvline(cut, color="#c44e52", ls="--", label=f"τ = {tau:g}% cut")
            ax.legend(fontsize=8)
        ax.set_title(f"{g} (N = {len(groups[g])})", fontsize=9)
        ax.set_xlabel("HBOS score (higher = more anomalous)")
    axes[0][0].set_ylabel("segments")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _radius_vs_eta(sel, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    radius = sel.radius
    scopes = sel.scopes.sort_values("n_scope", ascending=False).head(8)
    plotted = False
    for row in scopes.itertuples(index=False):
        r = np.asarray(radius[row.start:row.end])
        if not np.isfinite(r).any():
            continue
        eta = 100.0 * np.arange(1, len(r) + 1) / row.n_scope
        ax.plot(eta, r, lw=1.2, label=str(row.scope))
        plotted = True
    for e in sel.meta["eta"]:
        ax.axvline(e, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("η (% of the scope's segments)")
    ax.set_ylabel("coverage radius (latent units)")
    ax.set_yscale("log")
    if plotted:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, f"method {sel.meta['method']}: no coverage radius", ha="center",
                transform=ax.transAxes)
    ax.set_title("k-center coverage radius vs η")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _subject_share(sel, table: SegmentTable, path: Path) -> Path:
    plt = _plt()
    eta = max(sel.meta["eta"])
    picked = sel.subset(eta)
    n_subj = len(table.subject_names)
    corpus = np.bincount(table.subject, minlength=n_subj) / max(table.n_rows, 1)
    chosen = np.bincount(table.subject[picked], minlength=n_subj) / max(len(picked), 1)
    order = np.argsort(-corpus, kind="stable")[:40]
    x = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(max(6.4, 0.25 * len(order) + 2), 3.8))
    ax.bar(x - 0.2, 100 * corpus[order], width=0.4, label="corpus", color="#8c8c8c")
    ax.bar(x + 0.2, 100 * chosen[order], width=0.4, label=f"selection (η = {eta:g}%)",
           color="#4c72b0")
    ax.set_xticks(x, [table.subject_names[i] or "(none)" for i in order], rotation=90,
                  fontsize=7)
    ax.set_ylabel("share of segments (%)")
    ax.set_title("subject shares" + (" (40 largest)" if n_subj > 40 else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _latents_2d(sel, source: LatentSource, table: SegmentTable, path: Path,
                max_points: int) -> Path | None:
    plt = _plt()
    groups = group_rows(table)
    g = max(groups, key=lambda name: len(groups[name]))
    rows = groups[g]
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(rows, size=min(max_points, len(rows)), replace=False))
    arr = source.open()
    x = np.asarray(arr[sample], np.float64)
    if x.shape[0] < 3:
        return None
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    proj = vt[:2].T

    def to2d(ids: np.ndarray) -> np.ndarray:
        return (np.asarray(arr[ids], np.float64) - mean) @ proj

    xy = (x - mean) @ proj
    eta = min(sel.meta["eta"])
    picks = np.intersect1d(sel.subset(eta), rows)
    picks = picks[:5000]
    hb = np.asarray(sel.hbos[rows])
    tau = float(sel.meta["tau"])
    fig, ax = plt.subplots(figsize=(6, 5.2))
    ax.scatter(xy[:, 0], xy[:, 1], s=2, c="#b0b0b0", label=f"segments (sample of {len(sample)})",
               rasterized=True)
    if tau > 0 and np.isfinite(hb).any():
        cut = np.percentile(hb[np.isfinite(hb)], 100 - tau)
        out_ids = rows[hb > cut][:5000]
        if out_ids.size:
            o = to2d(out_ids)
            ax.scatter(o[:, 0], o[:, 1], s=10, marker="x", c="#c44e52",
                       label=f"HBOS outliers (τ = {tau:g}%)")
    if picks.size:
        p = to2d(picks)
        ax.scatter(p[:, 0], p[:, 1], s=8, c="#1f4e9c", label=f"picks at η = {eta:g}%")
    ax.set_title(f"latents of {g}, 2-D PCA")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
