"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update
Rule Converge to a Local Nash Equilibrium"; TTUR reference code, as torch-fidelity and
pytorch-fid compute it).

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

on the pool3 features of two image sets. Choices made on purpose:

- Statistics in float64. A set is summarised by mergeable sufficient
  statistics (n, sum x, sum x x^T) so chunks computed on different machines
  combine exactly (:class:`FeatureStats`); the covariance is the unbiased one
  (``np.cov``'s, divided by n - 1).
- The trace term comes from eigenvalues, in the symmetric form: with
  S1 = A A^T (pivoted Cholesky, rank-revealing when S1 is singular), the eigenvalues
  of S1 S2 are those of the symmetric matrix A^T S2 A, so
  tr((S1 S2)^(1/2)) = sum sqrt(eigvalsh(A^T S2 A)). No ``scipy.linalg.sqrtm``:
  tens of times slower at 2048-d and numerically fragile. Eigenvalues below
  zero (rounding) are clipped to 0.
- With n <= d the covariance is singular (rank n - 1) and FID is unreliable;
  we refuse unless ``force=True``. The TTUR authors recommend at least 5,000 images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

from metrics.engine.provenance import provenance
from metrics.engine.result import MetricResult


class TooFewSamplesError(ValueError):
    """A set has too few samples for a full-rank covariance (FID would be unreliable)."""


@dataclass
class FeatureStats:
    """Sufficient statistics of a feature set, in float64: count, sum, sum of outer products."""

    n: int
    sum: np.ndarray  # [d]
    outer: np.ndarray  # [d, d], sum over samples of x x^T

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStats:
        """Statistics of ``features`` ``[n, d]`` (any float dtype; accumulated in float64)."""
        x = _as_2d(features, "features").astype(np.float64, copy=False)
        return cls(n=x.shape[0], sum=x.sum(axis=0), outer=x.T @ x)

    @classmethod
    def empty(cls, dim: int) -> FeatureStats:
        """Statistics of no samples (the identity of :meth:`merge`)."""
        return cls(n=0, sum=np.zeros(dim), outer=np.zeros((dim, dim)))

    @property
    def dim(self) -> int:
        return int(self.sum.shape[0])

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Statistics of the union of both sets."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dimension {self.dim} and {other.dim}")
        return FeatureStats(self.n + other.n, self.sum + other.sum, self.outer + other.outer)

    __add__ = merge

    @property
    def mean(self) -> np.ndarray:
        if self.n < 1:
            raise ValueError("no samples: the mean is undefined")
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance (divides by n - 1, as ``np.cov``)."""
        if self.n < 2:
            raise TooFewSamplesError(f"a covariance needs at least 2 samples, got {self.n}")
        mu = self.mean
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return (cov + cov.T) / 2  # exact symmetry for eigh

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` with ``n``, ``sum``, ``outer`` and pytorch-fid's ``mu``/``sigma``."""
        np.savez(path, n=self.n, sum=self.sum, outer=self.outer, mu=self.mean, sigma=self.cov)


@dataclass
class GaussianStats:
    """Mean and covariance of a set (what pytorch-fid's ``.npz`` files hold), with its count."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None = None

    @classmethod
    def of(cls, stats: FeatureStats | GaussianStats) -> GaussianStats:
        if isinstance(stats, GaussianStats):
            return stats
        return cls(stats.mean, stats.cov, stats.n)


def load_stats(path: str | Path) -> FeatureStats | GaussianStats:
    """Read statistics from an ``.npz``: ours (n, sum, outer) or pytorch-fid's (mu, sigma)."""
    try:
        with np.load(path) as data:
            keys = set(data.files)
            if {"n", "sum", "outer"} <= keys:
                return FeatureStats(
                    int(data["n"]), data["sum"].astype(np.float64), data["outer"].astype(np.float64)
                )
            if {"mu", "sigma"} <= keys:
                n = int(data["n"]) if "n" in keys else None
                return GaussianStats(
                    data["mu"].astype(np.float64), data["sigma"].astype(np.float64), n
                )
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npz statistics file ({exc})") from None
    raise ValueError(
        f"{path}: an .npz statistics file needs arrays mu and sigma (or n, sum, outer)"
    )


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, d], got shape {x.shape}")
    return x


def _eigvalsh(m: np.ndarray) -> np.ndarray:
    # LAPACK's divide-and-conquer driver: at 2048-d several times faster here than
    # numpy's eigvalsh, with the same accuracy.
    return scipy.linalg.eigh((m + m.T) / 2, eigvals_only=True, driver="evd", check_finite=False)


def _sqrt_factor(sigma: np.ndarray) -> np.ndarray:
    """A (d x rank) with sigma = A A^T, by LAPACK's pivoted Cholesky (``dpstrf``).

    Rank-revealing: a singular covariance (forced FID on few samples) gives a thin
    factor, so no spurious near-zero eigenvalues enter the trace, and it costs
    O(d^2 rank) instead of a full eigendecomposition.
    """
    c, piv, rank, info = scipy.linalg.lapack.dpstrf(sigma, lower=1)
    if info < 0:
        raise ValueError(f"pivoted Cholesky failed (LAPACK info {info})")
    factor = np.tril(c)[:, :rank]
    out = np.empty_like(factor)
    out[piv - 1] = factor  # undo the pivoting: P^T S P = L L^T  ->  S = (P L)(P L)^T
    return out


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric positive semi-definite S1, S2 (float64, eigenvalues).

    With S1 = A A^T, S1 S2 = A A^T S2 has the eigenvalues of the symmetric A^T S2 A.
    """
    a = _sqrt_factor(np.asarray(sigma1, np.float64))
    eig = _eigvalsh(a.T @ np.asarray(sigma2, np.float64) @ a)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size,) * 2:
        raise ValueError(
            f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    value = (
        diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    )
    return float(value)


def check_enough_samples(n: int | None, dim: int, label: str) -> None:
    """Raise TooFewSamplesError when ``n <= dim`` (singular covariance)."""
    if n is not None and n <= dim:
        raise TooFewSamplesError(
            f"{label} has {n} images, too few for FID on {dim}-d features: its covariance is "
            f"singular (needs at least {dim + 1}; at least 5,000 are recommended, papers use "
            f"10,000 or 50,000). Add images, or force the computation (force=True, --force) "
            f"knowing the value is biased upwards and unstable."
        )


def fid_from_stats(
    stats1: FeatureStats | GaussianStats,
    stats2: FeatureStats | GaussianStats,
    *,
    force: bool = False,
    params: dict | None = None,
) -> MetricResult:
    """FID between two sets' statistics; refuses singular covariances unless ``force``."""
    g1, g2 = GaussianStats.of(stats1), GaussianStats.of(stats2)
    dim = g1.mu.shape[0]
    notes = []
    for g, label in ((g1, "set A"), (g2, "set B")):
        if force:
            if g.n is not None and g.n <= dim:
                notes.append(f"{label} has {g.n} <= {dim} samples: singular covariance, FID forced")
        else:
            check_enough_samples(g.n, dim, label)
    value = frechet_distance(g1.mu, g1.sigma, g2.mu, g2.sigma)
    # A pytorch-fid .npz carries no sample count: leave it out rather than invent one.
    n = {k: g.n for k, g in (("a", g1), ("b", g2)) if g.n is not None}
    return MetricResult(
        metric="fid",
        value=value,
        n=n,
        extra={"notes": notes} if notes else {},
        provenance=provenance(metric="fid", dim=dim, forced=force or None, **(params or {})),
    )


def fid_from_features(
    features1: np.ndarray, features2: np.ndarray, *, force: bool = False, params: dict | None = None
) -> MetricResult:
    """FID between two feature arrays ``[n, d]`` (e.g. pool3)."""
    f1, f2 = _as_2d(features1, "features1"), _as_2d(features2, "features2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature dimensions differ: {f1.shape[1]} vs {f2.shape[1]}")
    return fid_from_stats(
        FeatureStats.from_features(f1), FeatureStats.from_features(f2), force=force, params=params
    )
