"""Synthetic EEG corpora for the demo and the tests.

Realistic resting-state EEG (1/f background, posterior alpha, central beta, line noise, spatially
correlated channels) with labelled artifacts, rendered blockwise and deterministically from a seed,
written to EDF / BDF / FIF / BrainVision / EEGLAB through MNE, or streamed to EDF/BDF when long.

- :mod:`~streamdistill.synth.montages` — 19/32/64-channel montages and on-disk name styles
- :mod:`~streamdistill.synth.signals` — subject parameters and the blockwise clean-signal renderer
- :mod:`~streamdistill.synth.artifacts` — artifact placement and rendering
- :mod:`~streamdistill.synth.writers` — file writers (MNE and streaming EDF/BDF)
- :mod:`~streamdistill.synth.corpus` — recordings, :func:`generate_corpus`, segment labels
- :mod:`~streamdistill.synth.bad_inputs` — malformed files for the ``shard`` stage's tests
"""

from streamdistill.synth.artifacts import (
    ARTIFACT_KINDS,
    ArtifactEvent,
    place_artifacts,
    render_artifacts,
)
from streamdistill.synth.bad_inputs import BAD_INPUTS, write_bad_inputs
from streamdistill.synth.corpus import (
    SyntheticRecording,
    generate_corpus,
    make_recording,
    segment_artifact_labels,
)
from streamdistill.synth.montages import (
    EXTRA_CHANNELS,
    MONTAGES,
    NAME_STYLES,
    get_montage,
    style_name,
    style_names,
)
from streamdistill.synth.signals import SignalSpec, SubjectParams, draw_subject, render_block
from streamdistill.synth.writers import (
    FORMAT_EXTENSIONS,
    ArraySource,
    BlockSource,
    to_raw,
    write_edf_streaming,
    write_recording,
)

__all__ = [
    "ARTIFACT_KINDS",
    "ArraySource",
    "ArtifactEvent",
    "BAD_INPUTS",
    "BlockSource",
    "EXTRA_CHANNELS",
    "FORMAT_EXTENSIONS",
    "MONTAGES",
    "NAME_STYLES",
    "SignalSpec",
    "SubjectParams",
    "SyntheticRecording",
    "draw_subject",
    "generate_corpus",
    "get_montage",
    "make_recording",
    "place_artifacts",
    "render_artifacts",
    "render_block",
    "segment_artifact_labels",
    "style_name",
    "style_names",
    "to_raw",
    "write_bad_inputs",
    "write_edf_streaming",
    "write_recording",
]
