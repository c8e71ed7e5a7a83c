"""`streamdistill report`: one HTML page gathering a workspace's outputs."""

from __future__ import annotations

import json
import shutil

import numpy as np

from streamdistill.cli import main


def test_report_gathers_store_selection_and_results(small_store, tmp_path, capsys):
    from streamdistill.config import SelectConfig
    from streamdistill.select.run import run_select
    from streamdistill.store import open_store

    ws = tmp_path / "ws"
    shutil.copytree(small_store, ws / "store")
    n = open_store(ws / "store").n_segments
    lat = ws / "latents.npy"
    np.save(lat, np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32))
    run_select(lat, ws / "selection", SelectConfig(eta=[50.0], tau=5.0), store=ws / "store",
               progress=False)
    (ws / "eval").mkdir()
    (ws / "eval" / "results.json").write_text(json.dumps({
        "model": {"kind": "random", "size": "tiny"}, "task": {"name": "toy"},
        "protocol": "probe", "seed": 3,
        "metrics": {"test": {"n": 10, "balanced_accuracy": 0.625, "cohen_kappa": 0.25,
                             "f1_weighted": 0.6, "auroc": 0.7}}}))
    assert main(["report", str(ws)]) == 0
    page = (ws / "report" / "index.html").read_text()
    assert "Segment store" in page and "Selection" in page and "Evaluation" in page
    assert page.count("data:image/png;base64,") >= 5  # store hours + 4 selection plots
    assert "0.625" in page and "toy" in page
    assert "report:" in capsys.readouterr().out


def test_report_of_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no streamdistill outputs" in capsys.readouterr().err
