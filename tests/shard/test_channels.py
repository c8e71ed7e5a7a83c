"""Channel-name harmonisation to LaBraM's list."""

from __future__ import annotations

from streamdistill.shard.channels import (
    LABRAM_CHANNELS,
    clean_channel_name,
    harmonise_channels,
)


def test_labram_list_shape():
    assert len(LABRAM_CHANNELS) == 128 == len(set(LABRAM_CHANNELS))
    assert LABRAM_CHANNELS[0] == "FP1" and LABRAM_CHANNELS[-1] == "P8-O2"


def test_clean_names():
    assert clean_channel_name("EEG Fp1-REF") == "FP1"
    assert clean_channel_name("Fc5.") == "FC5"
    assert clean_channel_name("Cz..") == "CZ"
    assert clean_channel_name("EEG T3-LE") == "T3"
    assert clean_channel_name("FP1-F7") == "FP1-F7"
    assert clean_channel_name("A1") == "A1"


def test_harmonise_orders_renames_and_drops():
    names = ["EEG LOC-REF", "O1", "EEG Fp1-REF", "Fc5.", "EOG left", "ECG", "XYZ", "A1", "fp1", "EEG T3-REF"]
    types = ["eeg", "eeg", "eeg", "eeg", "eeg", "ecg", "eeg", "eeg", "eeg", "eeg"]
    rep = harmonise_channels(names, types)
    assert rep.harmonised == ("FP1", "FC5", "O1", "T3")  # LaBraM order, not file order
    assert rep.kept == ("EEG Fp1-REF", "Fc5.", "O1", "EEG T3-REF")
    assert rep.renamed["EEG Fp1-REF"] == "FP1"
    assert "O1" not in rep.renamed
    assert "non-EEG" in rep.dropped["EOG left"]
    assert "non-EEG" in rep.dropped["EEG LOC-REF"]
    assert "non-EEG channel type 'ecg'" in rep.dropped["ECG"]
    assert "unknown channel name 'XYZ'" in rep.dropped["XYZ"]
    assert "reference" in rep.dropped["A1"]
    assert "duplicate" in rep.dropped["fp1"]
    assert set(rep.kept) | set(rep.dropped) == set(names)


def test_optional_mappings():
    rep = harmonise_channels(["T3", "T5", "A2"], ["eeg"] * 3, map_old_names=True,
                             drop_references=False)
    assert rep.harmonised == ("T7", "P7", "A2")
    rep = harmonise_channels(["Fp1'"], ["eeg"], extra_map={"FP1'": "FP1"})
    assert rep.harmonised == ("FP1",)
