"""Export a pretrained LaBraM backbone to ``braindecode.models.Labram`` weights.

braindecode's ``Labram`` (checked against braindecode 1.8.1) is the same network under other
names: ``patch_embed.temporal_conv.*`` for our ``patch_embed.*``, ``position_embedding`` for
``pos_embed``, ``temporal_embedding`` for ``time_embed``, ``blocks.i.mlp.0`` / ``.2`` for
``mlp.fc1`` / ``fc2`` and ``final_layer`` for a classification head; its final ``norm``
(``use_mean_pooling=False``) is ours. Two differences matter when using the export:

* **Units.** braindecode's ``Labram`` takes ``x / 100`` (units of 100 µV) of shape
  ``(B, C, A·200)``; our backbone takes µV and divides by 100 itself
  (:func:`streamdistill.pretrain.model.patchify`). ``labram(x_uv / 100, ch_names=channels)``
  equals our ``backbone(x_uv, channels)`` passed through the same head.
* **Time embedding size.** braindecode sizes ``temporal_embedding`` to ``n_times // 200 + 1`` rows
  (using the first ``A``), ours has 16; the export takes our first rows and pads with zeros when
  ``A + 1 > 16`` (the padded row is never read).

``Labram(**braindecode_kwargs(backbone), n_chans=C, n_times=T, n_outputs=N)`` then loads
``export_braindecode(backbone, n_times=T, head=head)`` with ``strict=True`` (``head=None`` with
``n_outputs=0``: braindecode's ``final_layer`` is then an identity without weights).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from streamdistill.pretrain.model import MAX_PATCHES, PATCH_SIZE, Backbone

_RENAMES = (
    (re.compile(r"^patch_embed\."), "patch_embed.temporal_conv."),
    (re.compile(r"^pos_embed$"), "position_embedding"),
    (re.compile(r"\.mlp\.fc1\."), ".mlp.0."),
    (re.compile(r"\.mlp\.fc2\."), ".mlp.2."),
)


def braindecode_kwargs(backbone: Backbone) -> dict:
    """Constructor arguments of ``braindecode.models.Labram`` for this backbone's architecture.

    Add ``n_chans``, ``n_times`` and ``n_outputs``. braindecode derives the width from
    ``conv_out_channels`` (``25 · k``), which our configs satisfy by construction.
    """
    if backbone.in_features is not None:
        raise ValueError("a backbone over code vectors (tokenizer decoder) has no braindecode "
                         "counterpart; export the MEM student's or the encoder's backbone")
    cfg = backbone.config
    return {
        "patch_size": PATCH_SIZE,
        "embed_dim": cfg.embed_dim,
        "conv_out_channels": cfg.conv_channels,
        "num_layers": cfg.depth,
        "num_heads": cfg.num_heads,
        "mlp_ratio": cfg.mlp_ratio,
        "qkv_bias": backbone.qkv_bias,
        "init_values": backbone.layer_scale or None,
        "use_mean_pooling": False,
        "neural_tokenizer": True,
        "learned_patcher": False,
    }


def export_braindecode(backbone: Backbone, *, n_times: int,
                       head: nn.Linear | None = None) -> dict[str, Tensor]:
    """State dict for ``braindecode.models.Labram(n_times=n_times, ...)`` (strict loading).

    ``n_times``: samples per input window at 200 Hz (whole seconds, ≤ 16 s), which fixes
    braindecode's ``temporal_embedding`` size. ``head``: optional ``Linear(D, n_outputs)`` that
    braindecode applies to the normalised [CLS] token, exported as ``final_layer``. Tensors are
    detached CPU copies.
    """
    kwargs = braindecode_kwargs(backbone)  # also rejects decoder backbones
    if n_times <= 0 or n_times % PATCH_SIZE or n_times // PATCH_SIZE > MAX_PATCHES:
        raise ValueError(f"n_times={n_times}: need whole seconds at 200 Hz, at most "
                         f"{MAX_PATCHES} s ({MAX_PATCHES * PATCH_SIZE} samples)")
    out: dict[str, Tensor] = {}
    for name, value in backbone.state_dict().items():
        if name == "time_embed":
            rows = n_times // PATCH_SIZE + 1
            value = torch.cat((value[:, :rows], value.new_zeros(1, max(0, rows - MAX_PATCHES),
                                                                value.shape[-1])), dim=1)
            name = "temporal_embedding"
        for pattern, new in _RENAMES:
            name = pattern.sub(new, name)
        out[name] = value.detach().cpu().clone()
    if head is not None:
        if head.in_features != kwargs["embed_dim"]:
            raise ValueError(f"head takes {head.in_features} features, backbone gives "
                             f"{kwargs['embed_dim']}")
        out["final_layer.weight"] = head.weight.detach().cpu().clone()
        if head.bias is not None:
            out["final_layer.bias"] = head.bias.detach().cpu().clone()
    return out
