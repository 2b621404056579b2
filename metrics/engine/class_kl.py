"""KL divergence between the Inception class distributions of a generated set and its reference set.

Each set is summarised by its mean predicted class distribution over the FID
Inception's 1008 classes, p(y) = mean_x softmax(logits_unbiased(x)) (the
marginal of the Inception Score, Salimans et al. 2016), softmax in float64.

Direction: KL(p_ref || p_gen) = sum_y p_ref(y) log(p_ref(y) / p_gen(y)), i.e. the
reference is the true distribution. It grows when the generator under-produces
classes the reference has (mode dropping), which is the usual question; the
reverse direction and the symmetric Jensen-Shannon divergence are in ``extra``.
Natural logarithm (nats). Both marginals are clipped below at ``EPSILON`` = 1e-12
and renormalised, so a class that one set never predicts gives a large but
finite value instead of infinity.
"""

from __future__ import annotations

import numpy as np

from metrics.engine.inception_score import log_softmax
from metrics.engine.provenance import provenance
from metrics.engine.result import MetricResult

EPSILON = 1e-12


def class_marginal(logits: np.ndarray) -> np.ndarray:
    """Mean softmax class distribution of ``logits`` ``[n, classes]`` (float64)."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] < 1:
        raise ValueError(
            f"logits must be a non-empty 2-D array [n, classes], got shape {logits.shape}"
        )
    return np.exp(log_softmax(logits)).mean(axis=0)


def _clip(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, None)
    return p / p.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats for two distributions over the same classes (clipped at EPSILON)."""
    p, q = _clip(np.asarray(p, np.float64)), _clip(np.asarray(q, np.float64))
    return float(np.sum(p * (np.log(p) - np.log(q))))


def class_kl_from_logits(
    generated_logits: np.ndarray, reference_logits: np.ndarray, *, params: dict | None = None
) -> MetricResult:
    """KL(p_ref || p_gen) between the mean Inception class distributions of two sets."""
    p_gen = class_marginal(generated_logits)
    p_ref = class_marginal(reference_logits)
    if p_gen.shape != p_ref.shape:
        raise ValueError(f"class counts differ: {p_gen.shape[0]} vs {p_ref.shape[0]}")
    mixture = (p_gen + p_ref) / 2
    js = 0.5 * kl_divergence(p_ref, mixture) + 0.5 * kl_divergence(p_gen, mixture)
    return MetricResult(
        metric="class_kl",
        value=kl_divergence(p_ref, p_gen),
        n={
            "generated": int(np.shape(generated_logits)[0]),
            "reference": int(np.shape(reference_logits)[0]),
        },
        extra={"kl_generated_to_reference": kl_divergence(p_gen, p_ref), "js_divergence": js},
        provenance=provenance(
            metric="class_kl",
            direction="KL(p_reference || p_generated)",
            epsilon=EPSILON,
            log_base="e",
            logits="unbiased (pool3 @ fc.weight.T, no bias)",
            **(params or {}),
        ),
    )
