"""Downstream metrics of LaBraM's evaluation (Jiang et al., ICLR 2024, Sec. 3; REFERENCE.md).

All are scikit-learn's, computed from true labels ``y: (N,) int`` in ``0..K-1`` and class
probabilities ``proba: (N, K) float`` (rows sum to 1); the predicted class is ``argmax proba``:

* ``balanced_accuracy`` — mean per-class recall (:func:`sklearn.metrics.balanced_accuracy_score`);
* ``cohen_kappa`` — agreement beyond chance, ``(p_o − p_e) / (1 − p_e)``;
* ``f1_weighted`` — per-class F1 weighted by class support;
* ``auroc`` — binary: ROC AUC of ``proba[:, 1]``; K > 2: macro one-vs-rest ROC AUC;
* ``auc_pr`` — binary: average precision of ``proba[:, 1]``; K > 2: macro one-vs-rest;
* ``accuracy``, ``n`` and the confusion matrix (rows true, columns predicted).

A score that is undefined on the given labels (AUROC with one class present) is ``None`` and its
reason is listed under ``notes``, never silently replaced by a number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

#: Metric names in report order (the first is the model-selection criterion).
METRICS: tuple[str, ...] = ("balanced_accuracy", "cohen_kappa", "f1_weighted", "auroc", "auc_pr",
                            "accuracy")


def classification_metrics(y: np.ndarray, proba: np.ndarray,
                           n_classes: int | None = None) -> dict[str, Any]:
    """Metrics of predicted probabilities ``proba (N, K)`` against labels ``y (N,)``.

    ``n_classes`` (default ``proba.shape[1]``) fixes the label set ``0..K-1``, so a class that is
    absent from ``y`` still counts in the confusion matrix. Returns a JSON-ready dict of floats
    (or None), ``n``, ``confusion`` and ``notes``.
    """
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(y):
        raise ValueError(f"proba must be (N, K) with N = len(y) = {len(y)}, got {proba.shape}")
    k = int(n_classes or proba.shape[1])
    if proba.shape[1] != k:
        raise ValueError(f"proba has {proba.shape[1]} columns for {k} classes")
    if len(y) == 0:
        raise ValueError("no samples to score")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must be in 0..{k - 1}, got {sorted(set(y.tolist()))}")
    labels = np.arange(k)
    pred = proba.argmax(axis=1)
    notes: list[str] = []
    present = np.unique(y)
    confusion = skm.confusion_matrix(y, pred, labels=labels)
    if len(present) < k:
        notes.append(f"balanced accuracy over the classes present: {present.tolist()}")
    out: dict[str, Any] = {
        "n": len(y),
        # mean recall over the classes present in y (sklearn's balanced_accuracy_score, which
        # warns when a prediction names a class absent from y; here that goes to the notes)
        "balanced_accuracy": _f(np.mean(confusion[present, present] /
                                        confusion[present].sum(axis=1))),
        "cohen_kappa": _f(skm.cohen_kappa_score(y, pred, labels=labels)),
        "f1_weighted": _f(skm.f1_score(y, pred, labels=labels, average="weighted",
                                       zero_division=0)),
        "accuracy": _f(skm.accuracy_score(y, pred)),
    }
    if len(present) < 2:
        out["auroc"] = out["auc_pr"] = None
        notes.append(f"AUROC/AUC-PR undefined: only class {present.tolist()} present")
    elif k == 2:
        out["auroc"] = _f(skm.roc_auc_score(y, proba[:, 1]))
        out["auc_pr"] = _f(skm.average_precision_score(y, proba[:, 1]))
    else:
        onehot = label_binarize(y, classes=labels)
        cols = [c for c in labels if 0 < onehot[:, c].sum() < len(y)]
        if len(cols) < k:
            notes.append(f"AUROC/AUC-PR macro over the {len(cols)} of {k} classes present")
        out["auroc"] = _f(np.mean([skm.roc_auc_score(onehot[:, c], proba[:, c]) for c in cols]))
        out["auc_pr"] = _f(np.mean([skm.average_precision_score(onehot[:, c], proba[:, c])
                                    for c in cols]))
    out["confusion"] = confusion.tolist()
    out["notes"] = notes
    return {key: out[key] for key in ("n", *METRICS, "confusion", "notes")}


def _f(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
