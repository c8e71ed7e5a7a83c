"""Named EEG montages, electrode positions and on-disk channel-name styles.

A montage is a tuple of canonical channel names: upper-case 10-20/10-10 spellings, each one of
:data:`streamdistill.shard.channels.LABRAM_CHANNELS`. Files are written with the same channels
spelled in one of several *styles* seen in public corpora, so that the ``shard`` stage's channel
harmonisation (:func:`streamdistill.shard.channels.harmonise_channels`) is exercised:

========  ===================  =========================================================
style     example              seen in
========  ===================  =========================================================
plain     ``Fp1``, ``AFz``     MNE / BIDS / most amplifier software
tuh       ``EEG FP1-REF``      Temple University Hospital EEG corpus (referential EDF)
dots      ``Fp1.``, ``Cz..``   PhysioNet eegmmidb (names padded with dots to 4 characters)
========  ===================  =========================================================

Recordings may also carry non-EEG channels (:data:`EXTRA_CHANNELS`): an EOG channel typed
``'eog'`` and an ECG channel typed ``'ecg'`` (formats that store no channel types, such as EDF, lose
the type; the name still marks them as non-EEG).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Classic 19-channel 10-20 montage (10-10 temporal names T7/T8/P7/P8).
MONTAGE_19: tuple[str, ...] = (
    "FP1", "FP2", "F7", "F3", "FZ", "F4", "F8",
    "T7", "C3", "CZ", "C4", "T8",
    "P7", "P3", "PZ", "P4", "P8", "O1", "O2",
)

#: 32-channel 10-20 cap (the Brain Products actiCAP / easycap M1 32-channel layout).
MONTAGE_32: tuple[str, ...] = (
    "FP1", "FP2", "F7", "F3", "FZ", "F4", "F8",
    "FC5", "FC1", "FC2", "FC6",
    "T7", "C3", "CZ", "C4", "T8",
    "TP9", "CP5", "CP1", "CP2", "CP6", "TP10",
    "P7", "P3", "PZ", "P4", "P8",
    "PO9", "O1", "OZ", "O2", "PO10",
)

#: PhysioNet EEG Motor Movement/Imagery (eegmmidb) 64-channel 10-10 set, in its file order.
MONTAGE_64: tuple[str, ...] = (
    "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6",
    "C5", "C3", "C1", "CZ", "C2", "C4", "C6",
    "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4", "CP6",
    "FP1", "FPZ", "FP2", "AF7", "AF3", "AFZ", "AF4", "AF8",
    "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8",
    "FT7", "FT8", "T7", "T8", "T9", "T10", "TP7", "TP8",
    "P7", "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8",
    "PO7", "PO3", "POZ", "PO4", "PO8", "O1", "OZ", "O2", "IZ",
)

#: Montages by channel count.
MONTAGES: dict[int, tuple[str, ...]] = {19: MONTAGE_19, 32: MONTAGE_32, 64: MONTAGE_64}

#: On-disk channel-name styles, see the module docstring.
NAME_STYLES: tuple[str, ...] = ("plain", "tuh", "dots")

#: Optional non-EEG channels: canonical name → MNE channel type.
EXTRA_CHANNELS: dict[str, str] = {"EOG": "eog", "ECG": "ecg"}

#: Spelling of each extra channel in each style (TUH's own spellings for its EKG / eye channels).
_EXTRA_NAMES: dict[str, dict[str, str]] = {
    "plain": {"EOG": "VEOG", "ECG": "ECG"},
    "tuh": {"EOG": "EEG LOC-REF", "ECG": "EEG EKG1-REF"},
    "dots": {"EOG": "Eog.", "ECG": "Ecg."},
}


def get_montage(montage: int | str | tuple[str, ...]) -> tuple[str, ...]:
    """Return the canonical channel names of a montage.

    Parameters
    ----------
    montage
        A channel count in :data:`MONTAGES` (19, 32, 64), its string form (``'64'``), or a tuple of
        canonical names, returned unchanged after validation.

    Returns
    -------
    tuple of str
        Upper-case canonical names, each one of LaBraM's 128 channel names.
    """
    from streamdistill.shard.channels import LABRAM_INDEX

    if isinstance(montage, tuple):
        names = montage
    else:
        try:
            names = MONTAGES[int(montage)]
        except (KeyError, ValueError):
            raise ValueError(
                f"unknown montage {montage!r}; use one of {sorted(MONTAGES)} or a tuple of names"
            ) from None
    unknown = [n for n in names if n not in LABRAM_INDEX]
    if unknown:
        raise ValueError(f"montage names not in LaBraM's channel list: {unknown}")
    if len(set(names)) != len(names):
        raise ValueError("montage has duplicate channel names")
    return names


def mne_spelling(name: str) -> str:
    """Return MNE's ``standard_1005`` spelling of a canonical name (``'FPZ'`` → ``'Fpz'``).

    Prefix letters stay upper case except ``Fp``; a midline ``Z`` becomes ``z``
    (``'AFZ'`` → ``'AFz'``, ``'IZ'`` → ``'Iz'``, ``'T10'`` → ``'T10'``).
    """
    out = name.upper()
    if out.endswith("Z"):
        out = out[:-1] + "z"
    if out.startswith("FP"):
        out = "Fp" + out[2:]
    return out


def style_name(name: str, style: str) -> str:
    """Spell one canonical channel name (EEG or one of :data:`EXTRA_CHANNELS`) in a style.

    Parameters
    ----------
    name
        Canonical upper-case name, e.g. ``'FC5'`` or ``'EOG'``.
    style
        One of :data:`NAME_STYLES`.

    Returns
    -------
    str
        ``plain``: ``'FC5'``, ``'Fp1'``, ``'AFz'``; ``tuh``: ``'EEG FC5-REF'``; ``dots``:
        ``'Fc5.'``, ``'Cz..'``, ``'T10.'`` (first letter upper, the rest lower, right-padded with
        dots to 4 characters, as eegmmidb). All fit EDF's 16-character label field.
    """
    if style not in NAME_STYLES:
        raise ValueError(f"unknown channel-name style {style!r}; use one of {NAME_STYLES}")
    if name in EXTRA_CHANNELS:
        return _EXTRA_NAMES[style][name]
    if style == "plain":
        return mne_spelling(name)
    if style == "tuh":
        return f"EEG {name.upper()}-REF"
    dotted = name[:1].upper() + name[1:].lower()
    return dotted.ljust(4, ".")


def style_names(names: tuple[str, ...] | list[str], style: str) -> list[str]:
    """Spell several canonical names in one style (see :func:`style_name`)."""
    return [style_name(n, style) for n in names]


@lru_cache(maxsize=1)
def _template_positions() -> dict[str, np.ndarray]:
    """Head-frame positions (m) of the 10-05 template, keyed by canonical upper-case name."""
    import mne

    builtin = set(mne.channels.get_builtin_montages())
    # 'standard_1005' is deprecated from MNE 1.13 in favour of 'colin27_1005' (same positions).
    kind = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    pos = mne.channels.make_standard_montage(kind).get_positions()["ch_pos"]
    return {k.upper(): np.asarray(v, dtype=np.float64) for k, v in pos.items()}


def unit_positions(names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Electrode directions on the unit sphere for canonical EEG names.

    Parameters
    ----------
    names
        C canonical names (EEG only).

    Returns
    -------
    numpy.ndarray
        ``(C, 3)`` float64, unit vectors from the head-frame origin (x right, y nasion, z up).
    """
    template = _template_positions()
    missing = [n for n in names if n not in template]
    if missing:
        raise ValueError(f"no template position for channels {missing}")
    xyz = np.stack([template[n] for n in names])
    return xyz / np.linalg.norm(xyz, axis=1, keepdims=True)


def reference_direction(name: str) -> np.ndarray:
    """Unit direction ``(3,)`` of one template electrode (e.g. ``'POZ'`` for the alpha centre)."""
    return unit_positions([name])[0]
