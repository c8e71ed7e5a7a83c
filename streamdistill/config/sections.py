"""The configuration sections, one dataclass per stage, with their defaults and validation.

The dataclass defaults are the single source of truth; ``configs/default.yaml`` mirrors them (a
test keeps the two equal). Loading, overrides and writing live in :mod:`.loading`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    """On-disk layout of the segment store (Zarr v3 sharded arrays; DESIGN.md).

    float16 EEG compresses little: the low mantissa bits are noise, only the sign/exponent bits
    and the top of the mantissa repeat, and bit-shuffle puts those side by side. The default,
    blosc-lz4 with **bit**-shuffle at level 9, is as small as zstd level 1 (eegmmidb: 91.9% of
    the raw bytes against 92.2%), encodes about as fast and decodes ≈ 2.6× as fast (64 × 800
    segments, one core: 113 vs 120 µs to encode, 43 vs 112 µs to decode; docs/benchmarks.md,
    "codec"). Decoding bounds the pretraining loader, so the store is written for reading.
    ``shuffle`` applies to the blosc codecs only. ``clevel: null`` takes the codec's own default
    (zstd 1, blosc 9); blosc levels are 0–9, zstd 0–22.
    """

    dtype: str = "float16"
    compressor: str = "blosc-lz4"
    shuffle: str = "bitshuffle"
    clevel: int | None = None
    shard_mb: float = 4.0

    def validate(self) -> None:
        if self.dtype not in ("float16", "float32"):
            raise ConfigError("shard.store.dtype", "must be float16 or float32")
        if self.compressor not in COMPRESSORS:
            raise ConfigError("shard.store.compressor", f"must be one of {', '.join(COMPRESSORS)}")
        if self.shuffle not in SHUFFLES:
            raise ConfigError("shard.store.shuffle", f"must be one of {', '.join(SHUFFLES)}")
        if self.clevel is not None:
            low, high = (0, 22) if self.compressor == "zstd" else (0, 9)
            if not low <= self.clevel <= high:
                raise ConfigError(
                    "shard.store.clevel", f"must be in [{low}, {high}] for {self.compressor}"
                )
        if not 0.1 <= self.shard_mb <= 1024:
            raise ConfigError("shard.store.shard_mb", "must be in [0.1, 1024] MB")

    def level(self) -> int:
        """The compression level in effect (``clevel``, or the codec's default)."""
        if self.clevel is not None:
            return self.clevel
        return 1 if self.compressor == "zstd" else 9

    def in_effect(self) -> dict:
        """These settings as applied to the arrays: ``clevel`` resolved by :meth:`level`,
        ``shuffle`` None for codecs that have none (all but blosc)."""
        out = asdict(self)
        out["clevel"] = self.level()
        if not self.compressor.startswith("blosc-"):
            out["shuffle"] = None
        return out


#: Store codecs (``shard.store.compressor``) and blosc shuffles (``shard.store.shuffle``).
COMPRESSORS = ("blosc-lz4", "zstd", "blosc-zstd", "none")
SHUFFLES = ("bitshuffle", "shuffle", "noshuffle")


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
    #: fsync every file a commit depends on (staged windows, Zarr shards, segment-table parts,
    #: the ledger line) before the recording counts as committed, so that a *power loss* cannot
    #: leave a committed recording with bytes missing. Off by default: the guarantee tested and
    #: promised is kill -9 of the process at any point, which needs no fsync (the page cache
    #: outlives the process; writes are temp + rename and an append-only ledger), while the
    #: fsyncs cost 0–10% more wall time on this machine's SSD, more on network file systems
    #: (docs/benchmarks.md, shard). LaBraM's scripts never fsync either.
    durable: bool = False
    #: With ``--workers 1`` (in-process), a recording's windows stay in memory up to this many MB
    #: and go straight to the store, skipping the staging file (write, sync, read back); longer
    #: recordings spill to staging as with worker processes. Memory: at most this much more
    #: (16 MB holds 10 min of 64-channel EEG; 64 MB raised the lowest memcap a 4-h
    #: recording shards under from 320 to 384 MB, measured).
    spool_mb: float = 16.0

    def validate(self) -> None:
        self.preprocess.validate()
        self.store.validate()
        if not 0 <= self.spool_mb <= 65536:
            raise ConfigError("shard.spool_mb", "must be in [0, 65536] MB")
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
class CompressorConfig:
    """Architecture of EEG-DLite's multi-view compressor (defaults: the released model).

    ``decoder: bypass`` reproduces the released code, whose reconstruction heads read the encoder
    tokens (its 2-layer decoder is computed and discarded); ``transformer`` (default) uses the
    decoder as the paper describes.
    """

    dim: int = 64
    depth: int = 6
    decoder_depth: int = 2
    heads: int = 8
    head_dim: int = 64
    mlp_dim: int = 64
    stem_base: int = 8
    dropout: float = 0.2
    emb_dropout: float = 0.1
    decoder: str = "transformer"

    def validate(self) -> None:
        for key in ("dim", "depth", "heads", "head_dim", "mlp_dim", "stem_base"):
            if not 1 <= getattr(self, key) <= 4096:
                raise ConfigError(f"encode.model.{key}", "must be an integer in [1, 4096]")
        if not 0 <= self.decoder_depth <= 64:
            raise ConfigError("encode.model.decoder_depth", "must be in [0, 64]")
        for key in ("dropout", "emb_dropout"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"encode.model.{key}", "must be in [0, 1)")
        if self.decoder not in ("transformer", "bypass"):
            raise ConfigError("encode.model.decoder", "must be transformer or bypass")


@dataclass
class EncodeConfig:
    """``streamdistill encode``: training of one compressor per montage group, then encoding.

    Training defaults are EEG-DLite's (Adam lr 1e-3, no weight decay, StepLR(10, 0.5) per epoch,
    50 epochs, clip-norm 5.0, batch 512, drop_last). ``idc``: ``inter`` (default) is the
    instance-discrimination loss as the paper describes it (between samples of a batch);
    ``intra`` is the released code's within-sample variant (see ``encode/losses.py``).
    ``train_fraction`` trains on a seeded random fraction of each group and encodes all of it.
    """

    model: CompressorConfig = field(default_factory=CompressorConfig)
    epochs: int = 50
    batch_size: int = 512
    lr: float = 1e-3
    lr_step_epochs: int = 10
    lr_gamma: float = 0.5
    clip_norm: float = 5.0
    beta: float = 1e-4
    idc: str = "inter"
    train_fraction: float = 1.0
    seed: int = 0
    shuffle_buffer: int = 2048
    prefetch: int = 2
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    encode_batch: int = 1024
    groups: list[str] = field(default_factory=list)

    def validate(self) -> None:
        self.model.validate()
        if not 1 <= self.epochs <= 10_000:
            raise ConfigError("encode.epochs", "must be in [1, 10000]")
        if not 2 <= self.batch_size <= 65_536:
            raise ConfigError("encode.batch_size", "must be in [2, 65536]")
        if not 0 < self.lr <= 1:
            raise ConfigError("encode.lr", "must be in (0, 1]")
        if not 1 <= self.lr_step_epochs <= 10_000:
            raise ConfigError("encode.lr_step_epochs", "must be in [1, 10000]")
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError("encode.lr_gamma", "must be in (0, 1]")
        if not 0 < self.clip_norm <= 1e6:
            raise ConfigError("encode.clip_norm", "must be in (0, 1e6]")
        if not 0 <= self.beta <= 1e3:
            raise ConfigError("encode.beta", "must be in [0, 1000]")
        if self.idc not in ("inter", "intra", "none"):
            raise ConfigError("encode.idc", "must be inter, intra or none")
        if not 0 < self.train_fraction <= 1:
            raise ConfigError("encode.train_fraction", "must be in (0, 1]")
        if not 0 <= self.shuffle_buffer <= 10_000_000:
            raise ConfigError("encode.shuffle_buffer", "must be in [0, 10000000]")
        if not 0 <= self.prefetch <= 64:
            raise ConfigError("encode.prefetch", "must be in [0, 64]")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError("encode.device", "must be auto, cpu, cuda or cuda:N")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise ConfigError("encode.threads", "must be in [1, 1024]")
        if not 1 <= self.encode_batch <= 1_000_000:
            raise ConfigError("encode.encode_batch", "must be in [1, 1000000]")


@dataclass
class SelectConfig:
    """``streamdistill select``: HBOS outlier removal, then k-center greedy (EEG-DLite §3.3).

    Defaults are the paper's: τ = 1% outliers removed by HBOS (``n_bins='auto'``, α = 0.1,
    tol = 0.5, on standardised latents as the released code does), then farthest-first k-center
    on the raw latents, η a percentage of each scope's segments *before* outlier removal.
    Deliberate deviations, each a named option: ``init: medoid`` (default; the released code
    starts at row 0, ``init: first``), because the first row of a store is an arbitrary recording
    start and the medoid makes the first pick representative; ``scope: group`` (default; the
    released code selects per input file, ``scope: recording``), because diversity is a property
    of the corpus, not of one file. ``scope: subject`` runs k-center per group with each subject's
    share of every prefix of the picks capped at ``subject_cap`` (default 1 / number of
    subjects in the group): the subject-aware sampling the paper lists as future work.
    ``method``: ``dlite`` (compressor latents), ``random`` (seeded random order after the same
    τ filter) or ``pca-kcenter`` (k-center on a streamed incremental PCA of the raw segments,
    the paper's ablation). ``tau`` applies to every method (pass 0 for a bare baseline).
    """

    method: str = "dlite"
    tau: float = 1.0
    eta: list[float] = field(default_factory=lambda: [5.0, 10.0, 25.0])
    scope: str = "group"
    subject_cap: float | None = None
    init: str = "medoid"
    seed: int = 0
    n_bins: int | str = "auto"
    hbos_alpha: float = 0.1
    hbos_tol: float = 0.5
    standardize: bool = True
    device: str = "cpu"
    precision: str = "fp32"
    pruning: str = "auto"
    block_rows: int = 65536
    threads: int | None = None
    checkpoint_every: int = 1000
    pca_dim: int = 64
    pca_batch: int = 512

    def validate(self) -> None:
        if self.method not in ("dlite", "random", "pca-kcenter"):
            raise ConfigError("select.method", "must be dlite, random or pca-kcenter")
        if not 0 <= self.tau < 50:
            raise ConfigError("select.tau", f"must be in [0, 50) percent (got {self.tau})")
        if not self.eta:
            raise ConfigError("select.eta", "give at least one η in (0, 100] percent")
        for eta in self.eta:
            if not 0 < eta <= 100:
                raise ConfigError("select.eta", f"every η must be in (0, 100] percent (got {eta})")
        if self.scope not in ("group", "recording", "subject"):
            raise ConfigError("select.scope", "must be group, recording or subject")
        if self.subject_cap is not None and not 0 < self.subject_cap <= 1:
            raise ConfigError("select.subject_cap", "must be in (0, 1]")
        if self.init not in ("medoid", "first", "random"):
            raise ConfigError("select.init", "must be medoid, first or random")
        if isinstance(self.n_bins, str) and self.n_bins != "auto":
            raise ConfigError("select.n_bins", "must be 'auto' or an integer in [1, 100000]")
        if isinstance(self.n_bins, int) and not 1 <= self.n_bins <= 100_000:
            raise ConfigError("select.n_bins", "must be 'auto' or an integer in [1, 100000]")
        if not 0 < self.hbos_alpha <= 1e3:
            raise ConfigError("select.hbos_alpha", "must be in (0, 1000]")
        if not 0 <= self.hbos_tol <= 1e3:
            raise ConfigError("select.hbos_tol", "must be in [0, 1000]")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError("select.device", "must be auto, cpu, cuda or cuda:N")
        if self.precision not in ("fp32", "fp16"):
            raise ConfigError("select.precision", "must be fp32 or fp16")
        if self.pruning not in ("auto", "on", "off"):
            raise ConfigError("select.pruning", "must be auto, on or off")
        if not 64 <= self.block_rows <= 100_000_000:
            raise ConfigError("select.block_rows", "must be in [64, 100000000]")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise ConfigError("select.threads", "must be in [1, 1024]")
        if not 1 <= self.checkpoint_every <= 10_000_000:
            raise ConfigError("select.checkpoint_every", "must be in [1, 10000000]")
        if not 1 <= self.pca_dim <= 4096:
            raise ConfigError("select.pca_dim", "must be in [1, 4096]")
        if not 2 <= self.pca_batch <= 1_000_000:
            raise ConfigError("select.pca_batch", "must be in [2, 1000000]")


@dataclass
class OptimConfig:
    """One pretraining stage's optimiser: AdamW, linear warm-up then cosine decay to ``min_lr``
    (per step), gradient clipping at ``clip_norm`` (0 = off)."""

    epochs: int = 50
    lr: float = 5e-4
    min_lr: float = 1e-5
    warmup_epochs: float = 5.0
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.98
    clip_norm: float = 3.0

    def validate(self, key: str) -> None:
        if not 1 <= self.epochs <= 100_000:
            raise ConfigError(f"{key}.epochs", "must be in [1, 100000]")
        if not 0 < self.lr <= 1:
            raise ConfigError(f"{key}.lr", "must be in (0, 1]")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"{key}.min_lr", f"must be in [0, lr = {self.lr}]")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ConfigError(f"{key}.warmup_epochs", f"must be in [0, epochs = {self.epochs}]")
        if not 0 <= self.weight_decay <= 10:
            raise ConfigError(f"{key}.weight_decay", "must be in [0, 10]")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{key}.{name}", "must be in [0, 1)")
        if not 0 <= self.clip_norm <= 1e6:
            raise ConfigError(f"{key}.clip_norm", "must be in [0, 1e6] (0 = no clipping)")


def _tokenizer_optim() -> OptimConfig:
    # LaBraM's VQ-NSP recipe: 100 epochs, AdamW (0.9, 0.99), wd 1e-4, lr 5e-5, 10 warm-up epochs
    return OptimConfig(epochs=100, lr=5e-5, min_lr=1e-5, warmup_epochs=10.0, weight_decay=1e-4,
                       beta1=0.9, beta2=0.99, clip_norm=3.0)


@dataclass
class PretrainConfig:
    """``streamdistill pretrain``: LaBraM's VQ-NSP tokenizer, then masked EEG modeling.

    Defaults are LaBraM's recipe (Jiang et al., ICLR 2024, and the released scripts): tokenizer =
    base-size encoder, codebook 8192 × 64, 3-layer decoder, 100 epochs at lr 5e-5; MEM = the
    ``model`` size, 50% mask plus its complement, AdamW (0.9, 0.98), lr 5e-4, wd 0.05, 5 warm-up
    epochs, cosine to 1e-5, clip 3.0, 50 epochs, batch 64 per process, bf16 autocast on CUDA.
    ``eta``: the selection prefix (percent; default = the largest η of the selection).
    """

    model: str = "base"
    tokenizer_encoder: str = "base"
    n_codes: int = 8192
    code_dim: int = 64
    stage: str = "all"
    eta: float | None = None
    batch_size: int = 64
    mask_ratio: float = 0.5
    drop_path: float = 0.0
    tokenizer: OptimConfig = field(default_factory=_tokenizer_optim)
    mem: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    shuffle_buffer: int = 2048
    num_workers: int = 2
    prefetch_factor: int = 4
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    checkpoint_every: int = 500
    log_every: int = 10

    def validate(self) -> None:
        sizes = ("tiny", "base", "large", "huge")
        if self.model not in sizes:
            raise ConfigError("pretrain.model", f"must be one of {', '.join(sizes)}")
        if self.tokenizer_encoder not in sizes:
            raise ConfigError("pretrain.tokenizer_encoder", f"must be one of {', '.join(sizes)}")
        if not 2 <= self.n_codes <= 65_536:
            raise ConfigError("pretrain.n_codes", "must be in [2, 65536]")
        if not 2 <= self.code_dim <= 1024:
            raise ConfigError("pretrain.code_dim", "must be in [2, 1024]")
        if self.stage not in ("tokenizer", "mem", "all"):
            raise ConfigError("pretrain.stage", "must be tokenizer, mem or all")
        if self.eta is not None and not 0 < self.eta <= 100:
            raise ConfigError("pretrain.eta", "must be in (0, 100] percent")
        if not 1 <= self.batch_size <= 65_536:
            raise ConfigError("pretrain.batch_size", "must be in [1, 65536]")
        if not 0 < self.mask_ratio < 1:
            raise ConfigError("pretrain.mask_ratio", "must be in (0, 1)")
        if not 0 <= self.drop_path < 1:
            raise ConfigError("pretrain.drop_path", "must be in [0, 1)")
        self.tokenizer.validate("pretrain.tokenizer")
        self.mem.validate("pretrain.mem")
        if not 0 <= self.shuffle_buffer <= 10_000_000:
            raise ConfigError("pretrain.shuffle_buffer", "must be in [0, 10000000]")
        if not 0 <= self.num_workers <= 64:
            raise ConfigError("pretrain.num_workers", "must be in [0, 64]")
        if not 1 <= self.prefetch_factor <= 64:
            raise ConfigError("pretrain.prefetch_factor", "must be in [1, 64]")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError("pretrain.device", "must be auto, cpu, cuda or cuda:N")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise ConfigError("pretrain.threads", "must be in [1, 1024]")
        if not 1 <= self.checkpoint_every <= 10_000_000:
            raise ConfigError("pretrain.checkpoint_every", "must be in [1, 10000000]")
        if not 1 <= self.log_every <= 10_000_000:
            raise ConfigError("pretrain.log_every", "must be in [1, 10000000]")


@dataclass
class ProbeConfig:
    """Linear probe: ``Cs`` = inverse L2 strengths tried (chosen on validation balanced
    accuracy); ``batch_size`` of feature extraction."""

    Cs: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0])
    max_iter: int = 2000
    batch_size: int = 64

    def validate(self) -> None:
        if not self.Cs or any(not 0 < c <= 1e9 for c in self.Cs):
            raise ConfigError("evaluate.probe.Cs", "give one or more values in (0, 1e9]")
        if not 10 <= self.max_iter <= 1_000_000:
            raise ConfigError("evaluate.probe.max_iter", "must be in [10, 1000000]")
        if not 1 <= self.batch_size <= 65_536:
            raise ConfigError("evaluate.probe.batch_size", "must be in [1, 65536]")


@dataclass
class FinetuneConfig:
    """Full fine-tuning, LaBraM's recipe (AdamW, layer-wise lr decay 0.65, drop-path 0.1,
    label smoothing 0.1, warm-up then cosine, mean pooling), with few epochs by default so that a
    CPU finishes (LaBraM fine-tunes for 30–50 epochs)."""

    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    layer_decay: float = 0.65
    drop_path: float = 0.1
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    clip_grad: float | None = None
    head_init_scale: float = 1e-3

    def validate(self) -> None:
        checks = {"epochs": (1 <= self.epochs <= 10_000, "[1, 10000]"),
                  "batch_size": (1 <= self.batch_size <= 4096, "[1, 4096]"),
                  "lr": (0 < self.lr <= 1, "(0, 1]"),
                  "min_lr": (0 <= self.min_lr <= self.lr, "[0, lr]"),
                  "weight_decay": (0 <= self.weight_decay <= 10, "[0, 10]"),
                  "layer_decay": (0 < self.layer_decay <= 1, "(0, 1]"),
                  "drop_path": (0 <= self.drop_path < 1, "[0, 1)"),
                  "warmup_epochs": (0 <= self.warmup_epochs <= self.epochs, "[0, epochs]"),
                  "label_smoothing": (0 <= self.label_smoothing < 1, "[0, 1)"),
                  "clip_grad": (self.clip_grad is None or self.clip_grad > 0, "> 0 or null"),
                  "head_init_scale": (0 < self.head_init_scale <= 10, "(0, 10]")}
        for key, (ok, allowed) in checks.items():
            if not ok:
                raise ConfigError(f"evaluate.finetune.{key}", f"must be in {allowed}")


@dataclass
class EvaluateConfig:
    """``streamdistill evaluate``: ``protocol`` probe (frozen features + logistic regression) or
    finetune; ``size`` is the backbone size of the ``random`` (no pretraining) arm."""

    protocol: str = "probe"
    seed: int = 0
    size: str = "base"
    device: str = "auto"
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def validate(self) -> None:
        if self.protocol not in ("probe", "finetune"):
            raise ConfigError("evaluate.protocol", "must be probe or finetune")
        if not 0 <= self.seed <= 2**32 - 1:
            raise ConfigError("evaluate.seed", "must be in [0, 4294967295]")
        if self.size not in ("tiny", "base", "large", "huge"):
            raise ConfigError("evaluate.size", "must be tiny, base, large or huge")
        if self.device not in ("auto", "cpu", "mps", "cuda") and not self.device.startswith(
                "cuda:"):
            raise ConfigError("evaluate.device", "must be auto, cpu, mps, cuda or cuda:N")
        self.probe.validate()
        self.finetune.validate()


@dataclass
class Config:
    """The whole pipeline's configuration; one section per stage."""

    shard: ShardConfig = field(default_factory=ShardConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def validate(self) -> None:
        self.shard.validate()
        self.encode.validate()
        self.select.validate()
        self.pretrain.validate()
        self.evaluate.validate()
