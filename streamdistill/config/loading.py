"""Loading a :class:`~streamdistill.config.sections.Config`: YAML files or presets, dotted-key
overrides with type coercion, and writing the resolved config beside an output."""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

import yaml

from streamdistill.config.sections import Config, ConfigError


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Coerce a YAML/CLI value to the annotated type of ``key`` (raises ConfigError)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(
            None
        ) in args:
            return None
        raise ConfigError(key, "may not be null")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        for candidate in inner[:-1]:  # e.g. ``int | str``: "10" -> 10, "auto" -> "auto"
            try:
                return _coerce(value, candidate, key)
            except ConfigError:
                continue
        return _coerce(value, inner[-1], key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(key, f"must be true or false (got {value!r})")
    if hint in (int, float, str):
        try:
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return hint(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"must be a {hint.__name__} (got {value!r})") from None
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, "must be a mapping")
        return {str(k): str(v) for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, args[0], key) for v in value] if args else list(value)
    return value


def _apply_mapping(obj: Any, mapping: dict[str, Any], prefix: str) -> None:
    hints = _hints(type(obj))
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        if name not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(key, f"unknown config key (known here: {known})")
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(key, "must be a mapping")
            _apply_mapping(current, value, key + ".")
        else:
            setattr(obj, name, _coerce(value, hints[name], key))


def set_key(cfg: Config, key: str, value: Any) -> None:
    """Set one dotted key (``shard.preprocess.l_freq``) with type coercion."""
    *parents, leaf = key.split(".")
    nested: dict[str, Any] = {leaf: value}
    for part in reversed(parents):
        nested = {part: nested}
    _apply_mapping(cfg, nested, "")


#: Ready-made configs by name (``--config tiny``); ``configs/<name>.yaml`` mirrors each.
PRESETS: dict[str, dict[str, Any]] = {
    # Small enough for CPU tests and the demo: a 2-layer compressor trained for 3 epochs.
    "tiny": {
        "encode": {
            "model": {"depth": 2, "decoder_depth": 1, "heads": 2, "head_dim": 16},
            "epochs": 3,
            "batch_size": 64,
            "lr_step_epochs": 2,
            "shuffle_buffer": 256,
            "encode_batch": 256,
        },
        "pretrain": {
            "model": "tiny",
            "tokenizer_encoder": "tiny",
            "n_codes": 1024,
            "batch_size": 16,
            "tokenizer": {"epochs": 2, "lr": 1e-3, "warmup_epochs": 0.5},
            "mem": {"epochs": 2, "lr": 1e-3, "warmup_epochs": 0.5},
            "shuffle_buffer": 256,
            "num_workers": 0,
            "checkpoint_every": 50,
            "log_every": 5,
        },
    },
}


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the YAML file at ``path`` or the preset of that name (:data:`PRESETS`),
    then ``overrides`` (dotted keys).

    The result is validated; a bad value raises :class:`ConfigError` naming its key.
    """
    cfg = Config()
    if path is not None and str(path) in PRESETS:
        _apply_mapping(cfg, PRESETS[str(path)], "")
    elif path is not None:
        if not Path(path).is_file():
            raise ConfigError("--config", f"--config {path}: no such file (presets: "
                              f"{', '.join(PRESETS)})")
        text = Path(path).read_text()
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError("<file>", f"{path}: the top level must be a mapping")
        _apply_mapping(cfg, data, "")
    for key, value in (overrides or {}).items():
        set_key(cfg, key, value)
    cfg.validate()
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain Python data (YAML/JSON-safe)."""
    return dataclasses.asdict(cfg)


def write_resolved(cfg: Config, directory: str | os.PathLike, name: str = "config.resolved.yaml") -> Path:
    """Write the resolved config beside an output, atomically; returns its path."""
    from streamdistill.io_utils import atomic_write_text

    path = Path(directory) / name
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path
