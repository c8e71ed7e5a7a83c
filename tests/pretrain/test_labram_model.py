"""LaBraM backbone: shapes, units, channel/time embeddings, input checks, sizes, optimiser groups,
and equality with braindecode's ``Labram`` after export."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from streamdistill.pretrain.channels import LABRAM_CHANNELS, input_chans
from streamdistill.pretrain.export import braindecode_kwargs, export_braindecode
from streamdistill.pretrain.mem import MEMModel
from streamdistill.pretrain.model import (
    CONFIGS, Backbone, LabramConfig, TemporalConv, count_parameters, get_config, layer_id,
    param_groups, patchify,
)

CH = ["FP1", "CZ", "O2", "T7"]


def eeg(batch: int, channels: int, seconds: int, seed: int = 0) -> torch.Tensor:
    """Random EEG in µV, ~50 µV rms."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, seconds * 200, generator=g) * 50.0


@pytest.fixture(scope="module")
def tiny() -> Backbone:
    torch.manual_seed(0)
    return Backbone("tiny").eval()


# ----------------------------------------------------------------------------------- configs
def test_registry_and_config_checks():
    assert set(CONFIGS) == {"tiny", "base", "large", "huge"}
    for cfg in CONFIGS.values():
        assert cfg.embed_dim == 25 * cfg.conv_channels
    assert get_config("base").num_heads == 10 and get_config("large").conv_channels == 16
    with pytest.raises(ValueError, match="unknown LaBraM size"):
        get_config("giant")
    with pytest.raises(ValueError, match="25"):
        LabramConfig("bad", embed_dim=64, depth=2, num_heads=4, conv_channels=4)


@pytest.mark.parametrize("size, paper", [("base", 5.82e6), ("large", 46.3e6), ("huge", 369e6)])
def test_parameter_counts_match_the_paper(size, paper):
    with torch.device("meta"):  # no memory, no init cost, even for huge
        n = count_parameters(Backbone(size))
    assert abs(n - paper) / paper < 0.002, n


def test_base_parameter_count_exact():
    # 12 × 482,480 (blocks) + 29,200 (cls, 129-row pos, 16-row time) + 576 (TemporalConv) + 400
    with torch.device("meta"):
        assert count_parameters(Backbone("base")) == 5_819_936


# ------------------------------------------------------------------------------------ shapes
def test_patchify_divides_by_100():
    x = eeg(2, 3, 4)
    p = patchify(x)
    assert p.shape == (2, 3, 4, 200)
    torch.testing.assert_close(p[1, 2, 3], x[1, 2, 600:800] / 100)


def test_temporal_conv_shape_and_sample_independence():
    conv = TemporalConv(8).eval()
    p = torch.randn(2, 3, 4, 200)
    out = conv(p)
    assert out.shape == (2, 3, 4, 200) and out.dtype == torch.float32
    q = p.clone()
    q[1, 2, 3] += 1.0
    delta = (conv(q) - out).abs().amax(-1)
    # convolutions act per patch, but GroupNorm's statistics span all patches of a sample (as the
    # reference): the change stays inside sample 1 and is largest on the patch itself
    assert delta[0].max() == 0
    assert delta[1].argmax() == 2 * 4 + 3


def test_backbone_output_shape(tiny):
    out = tiny(eeg(2, 4, 3), CH)
    assert out.shape == (2, 1 + 4 * 3, 100) and out.dtype == torch.float32
    # final LayerNorm: every token is normalised (weight 1, bias 0 at init)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 13), atol=1e-5, rtol=0)


def test_backbone_over_code_vectors():
    dec = Backbone("tiny", qkv_bias=True, layer_scale=None, in_features=64)
    assert dec(torch.randn(2, 4, 3, 64), CH).shape == (2, 13, 100)
    with pytest.raises(ValueError, match="per-patch features"):
        dec(torch.randn(2, 4, 600), CH)


def test_channel_embedding_follows_names(tiny):
    """Permuting channels together with their names permutes the patch tokens, CLS unchanged."""
    x = eeg(2, 4, 2)
    perm = [2, 0, 3, 1]
    out = tiny(x, CH)
    out_p = tiny(x[:, perm], [CH[i] for i in perm])
    torch.testing.assert_close(out_p[:, 0], out[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_p[:, 1:].unflatten(1, (4, 2)),
                               out[:, 1:].unflatten(1, (4, 2))[:, perm], atol=1e-5, rtol=1e-5)
    # the name, not the row, picks the embedding: renaming a channel changes the output
    assert not torch.allclose(tiny(x, ["FP1", "CZ", "O2", "T8"]), out)
    torch.testing.assert_close(tiny(x, [c.lower() for c in CH]), out)


def test_input_chans_is_labram_convention():
    assert input_chans(["FP1", "FPZ", "P8-O2"]) == [0, 1, 2, 128]


# ------------------------------------------------------------------------------ input checks
def test_unknown_channels_named(tiny):
    with pytest.raises(ValueError, match=r"\['XYZ', 'EOG1'\]"):
        tiny(eeg(1, 4, 1), ["FP1", "XYZ", "CZ", "EOG1"])


def test_too_long_rejected(tiny):
    with pytest.raises(ValueError, match="16"):
        tiny(eeg(1, 4, 17), CH)
    assert tiny(eeg(1, 1, 16), ["CZ"]).shape == (1, 17, 100)


def test_too_many_channels_rejected(tiny):
    names = list(LABRAM_CHANNELS) + ["CZ"]
    with pytest.raises(ValueError, match="129 channels"):
        tiny(eeg(1, 129, 1), names)


@pytest.mark.parametrize("x, names, match", [
    (torch.zeros(1, 4, 300), CH, "whole number of 1-s patches"),
    (torch.zeros(4, 600), CH, "shape"),
    (torch.zeros(1, 4, 200), CH[:3], "3 channel names for 4"),
    (torch.zeros(1, 2, 200), ["CZ", "cz"], "more than once"),
])
def test_bad_inputs_rejected(tiny, x, names, match):
    with pytest.raises(ValueError, match=match):
        tiny(x, names)


# ------------------------------------------------------------------------- optimiser helpers
def test_weight_decay_groups():
    model = MEMModel("tiny", vocab_size=32)
    groups = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert decay | no_decay == set(names.values()) and not decay & no_decay
    for n in ("backbone.cls_token", "backbone.pos_embed", "backbone.time_embed", "mask_token",
              "backbone.norm.weight", "backbone.blocks.0.norm1.weight",
              "backbone.blocks.1.attn.q_norm.weight", "backbone.blocks.0.gamma_1",
              "backbone.patch_embed.norm1.weight", "backbone.patch_embed.conv1.bias",
              "backbone.blocks.0.mlp.fc1.bias", "lm_head.bias"):
        assert n in no_decay, n
    for n in ("backbone.blocks.0.attn.qkv.weight", "backbone.blocks.1.attn.proj.weight",
              "backbone.blocks.0.mlp.fc2.weight", "backbone.patch_embed.conv2.weight",
              "lm_head.weight"):
        assert n in decay, n
    assert all(n.endswith(".weight") for n in decay)


def test_layer_ids_and_layer_decay():
    depth = 2
    assert layer_id("backbone.cls_token", depth) == 0
    assert layer_id("backbone.time_embed", depth) == 0
    assert layer_id("backbone.patch_embed.conv1.weight", depth) == 0
    assert layer_id("backbone.blocks.0.attn.qkv.weight", depth) == 1
    assert layer_id("blocks.1.mlp.fc1.bias", depth) == 2
    assert layer_id("backbone.norm.weight", depth) == 3
    assert layer_id("head.weight", depth) == 3
    model = MEMModel("tiny", vocab_size=32)
    groups = param_groups(model, 0.05, layer_decay=0.65, depth=depth)
    scales = {g["group"]: g["lr_scale"] for g in groups}
    assert scales["decay_layer3"] == 1.0
    assert scales["decay_layer1"] == pytest.approx(0.65 ** 2)
    assert scales["no_decay_layer0"] == pytest.approx(0.65 ** 3)
    torch.optim.AdamW(groups, lr=1e-3)  # AdamW takes the groups as they are


# ------------------------------------------------------------------------- braindecode export
def _braindecode_labram():
    """braindecode's ``Labram`` class, or skip.

    ``import braindecode.models`` needs torchaudio (``braindecode/modules/filter.py`` imports it at
    module level), and no torchaudio wheel loads with a CPU torch 2.13. In that case braindecode's
    own ``models/labram.py`` is imported without running the three package ``__init__`` files that
    re-export unrelated models: every class used is braindecode's unmodified code.
    """
    try:
        from braindecode.models import Labram
        return Labram
    except ImportError as exc:
        spec = importlib.util.find_spec("braindecode")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip(f"braindecode is not installed ({exc})")
        reason = str(exc)
    root = Path(list(spec.submodule_search_locations)[0])
    saved = {k: v for k, v in sys.modules.items() if k == "braindecode" or
             k.startswith("braindecode.")}
    for k in saved:
        del sys.modules[k]
    try:
        for name, sub in (("braindecode", ""), ("braindecode.models", "models"),
                          ("braindecode.modules", "modules")):
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(root / sub)]
            sys.modules[name] = pkg
        blocks = importlib.import_module("braindecode.modules.blocks")
        layers = importlib.import_module("braindecode.modules.layers")
        sys.modules["braindecode.modules"].MLP = blocks.MLP
        sys.modules["braindecode.modules"].DropPath = layers.DropPath
        return importlib.import_module("braindecode.models.labram").Labram
    except ImportError as exc2:
        pytest.skip(f"braindecode's Labram cannot be imported: {reason}; {exc2}")
    finally:
        for k in [k for k in sys.modules if k == "braindecode" or k.startswith("braindecode.")]:
            del sys.modules[k]
        sys.modules.update(saved)


@pytest.mark.parametrize("size, student, seconds", [
    ("tiny", True, 3), ("tiny", False, 16), ("base", True, 2), ("base", False, 2)])
def test_braindecode_export_equal(size, student, seconds):
    Labram = _braindecode_labram()
    torch.manual_seed(1)
    bb = (Backbone(size) if student else Backbone(size, qkv_bias=True, layer_scale=None)).eval()
    with torch.no_grad():  # make every parameter matter (biases and norms are 0/1 at init)
        for p in bb.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    x, n_times = eeg(2, len(CH), seconds, seed=3), seconds * 200
    kw = dict(n_chans=len(CH), n_times=n_times, **braindecode_kwargs(bb))
    ref = Labram(n_outputs=0, **kw).eval()
    ref.load_state_dict(export_braindecode(bb, n_times=n_times), strict=True)
    head = torch.nn.Linear(bb.embed_dim, 3)
    ref_head = Labram(n_outputs=3, **kw).eval()
    ref_head.load_state_dict(export_braindecode(bb, n_times=n_times, head=head), strict=True)
    with torch.no_grad():
        ours = bb(x, CH)
        theirs = ref(x / 100, ch_names=CH, return_all_tokens=True)
        torch.testing.assert_close(theirs, ours, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(ref_head(x / 100, ch_names=CH), head(ours[:, 0]),
                                   atol=2e-5, rtol=1e-4)


def test_export_rejects_decoder_and_bad_length():
    with pytest.raises(ValueError, match="code vectors"):
        export_braindecode(Backbone("tiny", in_features=64), n_times=400)
    with pytest.raises(ValueError, match="16 s"):
        export_braindecode(Backbone("tiny"), n_times=17 * 200)
