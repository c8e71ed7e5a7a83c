"""A synthetic labelled event task for the demo's downstream evaluation (motor-imagery-like).

Each subject gets one EDF+ recording (19 channels, 10-20) of background EEG from
:func:`~streamdistill.synth.corpus.make_recording` plus a 10-Hz sensorimotor *mu* rhythm over C3
and C4, with annotated trials every ``trial_s`` seconds: ``left`` and ``right`` (imagery) and
``rest``. During a ``left`` trial the mu rhythm over the contralateral C4 desynchronises (its
amplitude drops to ``1 - erd``), during ``right`` the one over C3 does — the event-related
desynchronisation that motor-imagery decoders learn (Pfurtscheller & Lopes da Silva, 1999).
``rest`` leaves both. A task YAML (the format of :mod:`streamdistill.evaluate.tasks`) is written
beside the data: left vs right, subject-wise splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

CLASSES = ("left", "right", "rest")


def _mu(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 9–11 Hz mu rhythm with slowly drifting phase, unit amplitude, shape of ``t``."""
    freq = 10.0 + rng.uniform(-1.0, 1.0)
    drift = np.cumsum(rng.normal(0.0, 0.02, t.size))
    return np.sin(2 * np.pi * freq * t + drift)


def write_event_subject(path: Path, *, seed: int, sfreq: float, n_trials: int, trial_s: float,
                        mu_uv: float, erd: float) -> list[tuple[float, str]]:
    """Write one subject's EDF+ with annotated trials; returns ``[(onset_s, class), ...]``."""
    import mne

    from streamdistill.synth.corpus import make_recording
    from streamdistill.synth.writers import PHYSICAL_RANGE_UV, ArraySource, to_raw

    duration = 2.0 + n_trials * trial_s
    rec = make_recording(19, sfreq, duration, seed=[seed, 7], artifact_rate_per_min=1.0)
    x = rec.block(0, rec.n_samples).astype(np.float64)
    rng = np.random.default_rng([seed, 11])
    t = np.arange(rec.n_samples) / sfreq
    gain = {ch: np.ones(rec.n_samples) for ch in ("C3", "C4")}
    events = []
    for i in range(n_trials):
        onset = 1.0 + i * trial_s
        cls = CLASSES[int(rng.integers(len(CLASSES)))]
        events.append((round(onset, 3), cls))
        sel = (t >= onset + 0.5) & (t < onset + trial_s - 0.5)
        if cls == "left":
            gain["C4"][sel] = 1.0 - erd
        elif cls == "right":
            gain["C3"][sel] = 1.0 - erd
    names = [n.upper() for n in rec.ch_names]
    for ch in ("C3", "C4"):
        x[names.index(ch)] += mu_uv * gain[ch] * _mu(t, rng)
    raw = to_raw(ArraySource(x.astype(np.float32), rec.ch_names, sfreq, rec.ch_types))
    raw.set_annotations(mne.Annotations([e[0] for e in events], [trial_s - 0.5] * len(events),
                                        [e[1] for e in events]))
    path.parent.mkdir(parents=True, exist_ok=True)
    mne.export.export_raw(path, raw, fmt="edf", physical_range=PHYSICAL_RANGE_UV,
                          overwrite=True, verbose="error")
    return events


def generate_event_task(out_dir: str | Path, *, n_subjects: int = 8, n_trials: int = 40,
                        trial_s: float = 5.0, sfreq: float = 250.0, mu_uv: float = 12.0,
                        erd: float = 0.6, seed: int = 0) -> Path:
    """Write ``n_subjects`` EDF+ files and ``task.yaml`` (left vs right imagery, 4-s windows from
    0.5 s after each onset; the last 2 subjects are the test split, 1 more validation).

    Returns the task YAML's path (``streamdistill evaluate RUN --task PATH``).
    """
    if n_subjects < 4:
        raise ValueError(f"n_subjects must be at least 4 (train, validation, test); got "
                         f"{n_subjects}")
    out = Path(out_dir)
    for s in range(1, n_subjects + 1):
        path = out / "data" / f"sub-{s:02d}" / f"sub-{s:02d}_task-imagery_eeg.edf"
        if not path.is_file():
            write_event_subject(path, seed=seed * 1000 + s, sfreq=sfreq, n_trials=n_trials,
                                trial_s=trial_s, mu_uv=mu_uv, erd=erd)
    test = [f"sub-{s:02d}" for s in (n_subjects - 1, n_subjects)]
    doc = {
        "name": "synthetic_lr_imagery",
        "root": "data",
        "files": ["sub-*/*_eeg.edf"],
        "subject_regex": r"(?P<subject>sub-\d+)/",
        "classes": {"left": "left", "right": "right"},
        "window": {"offset_s": 0.5, "length_s": 4},
        "splits": {"test": test, "val": {"n": 1}, "seed": seed},
    }
    task = out / "task.yaml"
    task.write_text(yaml.safe_dump(doc, sort_keys=False))
    return task
