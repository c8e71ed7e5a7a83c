"""Channel-name harmonisation to LaBraM's 10-20/10-10 list.

LaBraM (Jiang et al., ICLR 2024) indexes its channel position embedding (128 + 1 rows) by a
channel's place in ``standard_1020`` (LaBraM ``utils.py``); only the first 128 of its 136 names fit the
table (the last 8 bipolar names overflow it, and braindecode drops them too). A recording
can be pretrained on only if every channel it keeps has a place in that list, so ``shard`` keeps
exactly those channels, in this order, which also makes the montage group of two recordings with
the same channel set identical whatever their on-disk channel order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: LaBraM's ``standard_1020`` names that fit its 128-row channel embedding, upper-cased, in order.
LABRAM_CHANNELS: tuple[str, ...] = (
    "FP1", "FPZ", "FP2",
    "AF9", "AF7", "AF5", "AF3", "AF1", "AFZ", "AF2", "AF4", "AF6", "AF8", "AF10",
    "F9", "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8", "F10",
    "FT9", "FT7", "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6", "FT8", "FT10",
    "T9", "T7", "C5", "C3", "C1", "CZ", "C2", "C4", "C6", "T8", "T10",
    "TP9", "TP7", "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4", "CP6", "TP8", "TP10",
    "P9", "P7", "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8", "P10",
    "PO9", "PO7", "PO5", "PO3", "PO1", "POZ", "PO2", "PO4", "PO6", "PO8", "PO10",
    "O1", "OZ", "O2", "O9", "CB1", "CB2",
    "IZ", "O10", "T3", "T5", "T4", "T6", "M1", "M2", "A1", "A2",
    "CFC1", "CFC2", "CFC3", "CFC4", "CFC5", "CFC6", "CFC7", "CFC8",
    "CCP1", "CCP2", "CCP3", "CCP4", "CCP5", "CCP6", "CCP7", "CCP8",
    "T1", "T2", "FTT9H", "TTP7H", "TPP9H", "FTT10H", "TPP8H", "TPP10H",
    "FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP2-F8", "F8-T8", "T8-P8", "P8-O2",
)
assert len(LABRAM_CHANNELS) == 128

#: Position of each name in :data:`LABRAM_CHANNELS` (LaBraM's ``input_chans`` is this + 1).
LABRAM_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABRAM_CHANNELS)}

#: Old 10-20 temporal names and their 10-10 equivalents; applied only when configured.
OLD_TO_NEW_1020: dict[str, str] = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

#: Mastoid / ear references; LaBraM's preparation drops M1 and M2.
REFERENCE_CHANNELS: frozenset[str] = frozenset({"M1", "M2", "A1", "A2"})

#: MNE channel types that are never EEG.
NON_EEG_TYPES: frozenset[str] = frozenset({
    "eog", "ecg", "emg", "stim", "misc", "resp", "bio", "syst", "exci", "ias", "chpi",
    "dipole", "gof", "temperature", "gsr", "fnirs_cw_amplitude", "ref_meg", "mag", "grad",
})

#: Name fragments that mark a non-EEG channel even when the file types it as EEG (EDF files
#: carry no channel types, so MNE reads every signal of an EDF as EEG).
_NON_EEG_NAME = re.compile(
    r"(EOG|ECG|EKG|EMG|VEOG|HEOG|^VEO$|^HEO$|RESP|PHOTIC|PULSE|SPO2|STATUS|TRIGGER|^STI|"
    r"EVENT|ANNOT|BURSTS|SUPPR|IBI|LOC$|ROC$|^X\d+$|^DC\d+$)",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^(EEG)[\s_:-]*", re.IGNORECASE)
_SUFFIX = re.compile(r"[-_\s]+(REF|LE|AR|AVG|AVERAGE|CAR|M1|M2|A1|A2|A1A2|M1M2)$", re.IGNORECASE)


def clean_channel_name(name: str) -> str:
    """Return the upper-case 10-20/10-10 spelling of one raw channel name.

    Strips an ``EEG`` prefix, a reference suffix (``-REF``, ``-LE``, ``-AR``, ...), dots, spaces and
    underscores: ``'EEG Fp1-REF'`` → ``'FP1'``, ``'Fc5.'`` → ``'FC5'``, ``'Cz..'`` → ``'CZ'``.
    Bipolar names such as ``'FP1-F7'`` keep their hyphen (the last 8 of LaBraM's 128 names are
    bipolar TUH-style pairs like it; the 8 that overflow the embedding, ``'FP1-F3'``…, are not kept).
    """
    out = name.strip()
    out = _PREFIX.sub("", out)
    out = out.replace(".", "").strip()
    out = _SUFFIX.sub("", out)
    out = out.replace(" ", "").replace("_", "")
    return out.upper()


@dataclass(frozen=True)
class ChannelReport:
    """What harmonisation did to one recording's channels.

    ``kept`` are the raw names kept, in LaBraM order; ``harmonised`` their new names (same order);
    ``renamed`` maps raw → new name where they differ; ``dropped`` maps raw name → reason.
    """

    kept: tuple[str, ...]
    harmonised: tuple[str, ...]
    renamed: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)


def harmonise_channels(
    names: list[str],
    types: list[str],
    *,
    map_old_names: bool = False,
    drop_references: bool = True,
    extra_map: dict[str, str] | None = None,
) -> ChannelReport:
    """Decide which channels of one recording to keep and under which names.

    Parameters
    ----------
    names, types
        The recording's channel names and MNE channel types, in file order.
    map_old_names
        Map T3/T4/T5/T6 to T7/T8/P7/P8 (:data:`OLD_TO_NEW_1020`). Off by default: LaBraM's list
        holds both spellings as distinct positions.
    drop_references
        Drop M1/M2/A1/A2 (LaBraM's preparation drops M1 and M2).
    extra_map
        User mapping applied after cleaning (upper-case keys and values), e.g. ``{"FP1'": "FP1"}``.

    Returns
    -------
    ChannelReport
        Kept channels sorted by their position in :data:`LABRAM_CHANNELS`. A name that appears
        twice after cleaning is kept once (first occurrence) and the others are dropped.
    """
    if len(names) != len(types):
        raise ValueError("names and types must have the same length")
    candidates: dict[str, str] = {}
    renamed: dict[str, str] = {}
    dropped: dict[str, str] = {}
    mapping = {k.upper(): v.upper() for k, v in (extra_map or {}).items()}
    for raw, ch_type in zip(names, types):
        if ch_type in NON_EEG_TYPES:
            dropped[raw] = f"non-EEG channel type '{ch_type}'"
            continue
        new = clean_channel_name(raw)
        if _NON_EEG_NAME.search(raw.replace(".", "")) or _NON_EEG_NAME.search(new):
            dropped[raw] = "non-EEG channel (by name)"
            continue
        new = mapping.get(new, new)
        if map_old_names:
            new = OLD_TO_NEW_1020.get(new, new)
        if drop_references and new in REFERENCE_CHANNELS:
            dropped[raw] = "reference channel (drop_references)"
            continue
        if new not in LABRAM_INDEX:
            dropped[raw] = f"unknown channel name '{new}' (not in LaBraM's 10-20/10-10 list)"
            continue
        if new in candidates.values():
            dropped[raw] = f"duplicate of channel '{new}'"
            continue
        candidates[raw] = new
        if new != raw:
            renamed[raw] = new
    order = sorted(candidates, key=lambda raw: LABRAM_INDEX[candidates[raw]])
    return ChannelReport(
        kept=tuple(order),
        harmonised=tuple(candidates[r] for r in order),
        renamed=renamed,
        dropped=dropped,
    )
