"""Typed configuration: dataclass defaults, YAML files in ``configs/``, CLI overrides.

Every stage reads one section of :class:`Config`. Keys are dotted paths (``shard.preprocess.l_freq``);
a YAML file sets any subset of them, and every CLI flag overrides exactly one key. The resolved
config is written next to every output (:func:`write_resolved`), so a store or a run always says how
it was made. The dataclass defaults are the single source of truth; ``configs/default.yaml`` mirrors
them (a test keeps the two equal).
"""

from streamdistill.config.loading import (
    PRESETS,
    load_config,
    set_key,
    to_dict,
    write_resolved,
)
from streamdistill.config.sections import (
    COMPRESSORS,
    SHUFFLES,
    CompressorConfig,
    Config,
    ConfigError,
    EncodeConfig,
    EvaluateConfig,
    FinetuneConfig,
    OptimConfig,
    PreprocessConfig,
    PretrainConfig,
    ProbeConfig,
    SelectConfig,
    ShardConfig,
    StoreFormatConfig,
)

__all__ = [
    "COMPRESSORS", "PRESETS", "SHUFFLES", "CompressorConfig", "Config", "ConfigError",
    "EncodeConfig", "EvaluateConfig", "FinetuneConfig", "OptimConfig", "PreprocessConfig",
    "PretrainConfig", "ProbeConfig", "SelectConfig", "ShardConfig", "StoreFormatConfig",
    "load_config", "set_key", "to_dict", "write_resolved",
]
