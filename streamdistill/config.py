"""Typed configuration: dataclass defaults, YAML files in ``configs/``, CLI overrides.

Every stage reads one section of :class:`Config`. Keys are dotted paths (``shard.preprocess.l_freq``);
a YAML file sets any subset of them, and every CLI flag overrides exactly one key. The resolved
config is written next to every output (:func:`write_resolved`), so a store or a run always says how
it was made. The dataclass defaults are the single source of truth; ``configs/default.yaml`` mirrors
them (a test keeps the two equal).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config value is out of range; ``key`` is the dotted key, the message names the flag."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass
class PreprocessConfig:
    """Signal preprocessing of ``shard`` (LaBraM-compatible defaults; DESIGN.md).

    ``resample_method`` is ``polyphase`` (scipy ``resample_poly``, Kaiser window) rather than
    LaBraM's FFT resampling of the whole recording: FFT resampling needs the whole recording in
    memory, polyphase is an FIR filter that streams exactly in blocks. The two agree to within the
    transition band of the anti-alias filter (measured in docs/benchmarks.md).

    ``block_s`` (seconds of input per processing block) sets the per-worker memory:
    about ``C × block_s × sfreq_in × 8`` bytes plus the FFT work space.

    ``dsp_dtype`` is the arithmetic of filtering and resampling. ``float32`` (default) is about 3×
    faster than ``float64``; each channel's offset (its mean over the first block) is removed
    before the float32 convolution and its filtered value added back, so large DC offsets cost no
    precision. The difference to float64 is far below the float16 storage step (measured in
    tests); ``float64`` is there for data stored as ``float32``.
    """

    l_freq: float = 0.1
    h_freq: float = 75.0
    notch_freq: float | None = 50.0
    sfreq: float = 200.0
    map_old_names: bool = False
    drop_references: bool = True
    channel_map: dict[str, str] = field(default_factory=dict)
    window_s: float | None = None
    stride_s: float | None = None
    block_s: float = 300.0
    dsp_dtype: str = "float32"

    def validate(self) -> None:
        if not 0 <= self.l_freq < self.h_freq:
            raise ConfigError("shard.preprocess.l_freq", "must satisfy 0 <= l_freq < h_freq")
        if self.h_freq > self.sfreq / 2:
            raise ConfigError(
                "shard.preprocess.h_freq",
                f"must be at most half the target sampling rate ({self.sfreq / 2:g} Hz)",
            )
        if self.notch_freq is not None and not 0 < self.notch_freq < self.sfreq / 2:
            raise ConfigError("shard.preprocess.notch_freq", "must be in (0, sfreq/2) or null")
        if not 1 <= self.sfreq <= 10_000:
            raise ConfigError("shard.preprocess.sfreq", "must be in [1, 10000] Hz")
        if self.window_s is not None and not 0 < self.window_s <= 16:
            raise ConfigError(
                "shard.preprocess.window_s",
                "must be in (0, 16] s (LaBraM's time embedding has 16 rows) or null for the rule",
            )
        if self.stride_s is not None and self.stride_s <= 0:
            raise ConfigError("shard.preprocess.stride_s", "must be > 0 s or null (= window)")
        if self.dsp_dtype not in ("float32", "float64"):
            raise ConfigError("shard.preprocess.dsp_dtype", "must be float32 or float64")
        if not 30 <= self.block_s <= 86_400:
            raise ConfigError("shard.preprocess.block_s", "must be in [30, 86400] s")


@dataclass
class StoreFormatConfig:
    """On-disk layout of the segment store (Zarr v3 sharded arrays; DESIGN.md)."""

    dtype: str = "float16"
    compressor: str = "zstd"
    clevel: int = 3
    shard_mb: float = 4.0

    def validate(self) -> None:
        if self.dtype not in ("float16", "float32"):
            raise ConfigError("shard.store.dtype", "must be float16 or float32")
        if self.compressor not in ("zstd", "blosc-zstd", "blosc-lz4", "none"):
            raise ConfigError(
                "shard.store.compressor", "must be one of zstd, blosc-zstd, blosc-lz4, none"
            )
        if not 0 <= self.clevel <= 22:
            raise ConfigError("shard.store.clevel", "must be in [0, 22]")
        if not 0.1 <= self.shard_mb <= 1024:
            raise ConfigError("shard.store.shard_mb", "must be in [0.1, 1024] MB")


@dataclass
class ShardConfig:
    """``streamdistill shard``: reading, scheduling, outputs."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    store: StoreFormatConfig = field(default_factory=StoreFormatConfig)
    workers: int | None = None
    scheduler: str | None = None
    wds: str | None = None
    wds_shard_segments: int = 1000
    dataset: str | None = None
    path_pattern: str | None = None
    retry_failed: bool = False

    def validate(self) -> None:
        self.preprocess.validate()
        self.store.validate()
        if self.workers is not None and not 1 <= self.workers <= 1024:
            raise ConfigError("shard.workers", "must be an integer in [1, 1024]")
        if not 1 <= self.wds_shard_segments <= 1_000_000:
            raise ConfigError("shard.wds_shard_segments", "must be in [1, 1000000]")
        if self.path_pattern is not None:
            import re

            try:
                pattern = re.compile(self.path_pattern)
            except re.error as exc:
                raise ConfigError("shard.path_pattern", f"is not a valid regex ({exc})") from exc
            unknown = set(pattern.groupindex) - {"dataset", "subject", "session"}
            if unknown:
                raise ConfigError(
                    "shard.path_pattern",
                    f"may only name groups dataset, subject, session (found {sorted(unknown)})",
                )


@dataclass
class Config:
    """The whole pipeline's configuration; one section per stage."""

    shard: ShardConfig = field(default_factory=ShardConfig)

    def validate(self) -> None:
        self.shard.validate()


# ----------------------------------------------------------------------------------------------
# loading, overriding, writing


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
        return _coerce(value, inner[0], key)
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


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the YAML file at ``path`` (if any), then ``overrides`` (dotted keys).

    The result is validated; a bad value raises :class:`ConfigError` naming its key.
    """
    cfg = Config()
    if path is not None:
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
