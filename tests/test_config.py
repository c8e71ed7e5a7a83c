"""Config defaults, YAML mirror, overrides and validation; CLI surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streamdistill.cli import PIPELINE, main
from streamdistill.config import Config, ConfigError, load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_mirrors_dataclasses():
    on_disk = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    assert on_disk == to_dict(Config())
    assert to_dict(load_config(ROOT / "configs" / "default.yaml")) == to_dict(Config())


def test_overrides_and_coercion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("shard:\n  preprocess:\n    l_freq: 0.5\n  workers: 3\n")
    cfg = load_config(path, {"shard.preprocess.notch_freq": None, "shard.workers": "4"})
    assert cfg.shard.preprocess.l_freq == 0.5
    assert cfg.shard.preprocess.notch_freq is None
    assert cfg.shard.workers == 4


@pytest.mark.parametrize(
    "key,value",
    [
        ("shard.workers", 0),
        ("shard.preprocess.l_freq", 80.0),
        ("shard.preprocess.h_freq", 150.0),
        ("shard.preprocess.window_s", 17),
        ("shard.preprocess.block_s", 1),
        ("shard.store.dtype", "int8"),
        ("shard.path_pattern", "(?P<patient>x)"),
        ("shard.nonexistent", 1),
    ],
)
def test_bad_values_name_their_key(key, value):
    with pytest.raises(ConfigError) as info:
        load_config(None, {key: value})
    assert info.value.key == key


def test_cli_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name in PIPELINE:
        assert name in text
    for name in PIPELINE:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0


@pytest.mark.parametrize(
    "flag,value,needle",
    [
        ("--workers", "0", "--workers"),
        ("--l-freq", "100", "--l-freq"),
        ("--window-s", "40", "--window-s"),
        ("--block-s", "5", "--block-s"),
        ("--shard-mb", "0", "--shard-mb"),
    ],
)
def test_bad_flag_rejected_before_work(tmp_path, flag, value, needle, capsys):
    out = tmp_path / "store"
    code = main(["shard", str(tmp_path), "--out", str(out), flag, value, "--no-progress"])
    assert code == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "streamdistill.cli", "--version"],
                          capture_output=True, text=True, check=True)
    assert "streamdistill" in proc.stdout


def test_presets_mirror_yaml():
    from streamdistill.config import PRESETS

    for name, preset in PRESETS.items():
        assert yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text()) == preset
        cfg = load_config(name)
        assert to_dict(cfg) == to_dict(load_config(ROOT / "configs" / f"{name}.yaml"))


def test_unknown_config_file_named():
    with pytest.raises(ConfigError, match="no such file"):
        load_config("/nonexistent/cfg.yaml")
