"""`streamdistill demo` end to end (the README's main command), on a small generated corpus."""

from __future__ import annotations

import json

from streamdistill.cli import main


def test_demo_runs_every_stage_and_writes_the_report(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["demo", "--workspace", str(ws), "--subjects", "2", "--minutes", "1.5",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "The report is" in out
    for path in ("store/store.json", "latents/latents.npy", "selection/selection.json",
                 "pretrain/run.json", "pretrain/mem/braindecode.pt", "task/task.yaml",
                 "evaluate/pretrained/results.json", "evaluate/random/results.json",
                 "report/index.html"):
        assert (ws / path).is_file(), path
    res = json.loads((ws / "evaluate" / "pretrained" / "results.json").read_text())
    assert res["model"]["kind"] != "random" and 0 <= res["metrics"]["test"]["balanced_accuracy"] <= 1
    page = (ws / "report" / "index.html").read_text()
    assert "Evaluation (test split)" in page and page.count("data:image/png") >= 6
    # a rerun resumes / skips every finished stage and succeeds
    assert main(["demo", "--workspace", str(ws), "--subjects", "2", "--minutes", "1.5",
                 "--no-progress"]) == 0


def test_event_task_is_learnable_from_mu_power(tmp_path):
    """The synthetic task carries its label in C3/C4 mu power (what the demo's probe can learn)."""
    import numpy as np
    from scipy.signal import welch
    from sklearn.linear_model import LogisticRegression

    from streamdistill.evaluate.tasks import load_task
    from streamdistill.evaluate.windows import build_cache
    from streamdistill.synth.events import generate_event_task

    task = load_task(generate_event_task(tmp_path, n_subjects=4, n_trials=24, seed=1))
    cache = build_cache(task, tmp_path / "cache")
    c3, c4 = cache.channels.index("C3"), cache.channels.index("C4")
    f, p = welch(np.asarray(cache.x[:, [c3, c4]]), fs=200, nperseg=200)
    mu = np.log(p[..., (f >= 8) & (f <= 12)].mean(-1))
    y, test = cache.index["label"].to_numpy(), (cache.index["split"] == "test").to_numpy()
    clf = LogisticRegression().fit(mu[~test], y[~test])
    assert clf.score(mu[test], y[test]) > 0.8
