"""A small Gaussian-process surrogate with expected improvement, in numpy.

It ranks candidate configurations (for the `agent` proposer) from the finished trials: every
parameter is mapped into [0, 1] (log scale where the parameter is; one-hot for unordered choices),
targets are standardised, and the RBF length scale is picked from a short grid by marginal
likelihood. Good enough to say which of a handful of candidates looks most promising.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from agenthpo.space import CategoricalParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.trial import Objective, TrialRecord

LENGTH_SCALES = (0.1, 0.2, 0.35, 0.6, 1.0)
NOISE = 1e-3
MIN_TRIALS = 3


def encode(space: SearchSpace, config: Mapping[str, Scalar]) -> np.ndarray:
    parts: list[float] = []
    for param in space:
        value = config[param.name]
        if isinstance(param, CategoricalParam) and not isinstance(param, OrdinalParam):
            parts.extend(1.0 if i == param.index(value) else 0.0 for i in range(len(param.choices)))
        else:
            parts.append(float(param.to_unit(value)))
    return np.array(parts)


def _kernel(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.exp(-0.5 * d2 / scale**2)


class GaussianProcess:
    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.mean, self.std = float(y.mean()), float(y.std()) or 1.0
        self.x, z = x, (y - self.mean) / self.std
        best = None
        for scale in LENGTH_SCALES:
            k = _kernel(x, x, scale * math.sqrt(x.shape[1])) + NOISE * np.eye(len(x))
            chol = np.linalg.cholesky(k)
            alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, z))
            log_likelihood = -0.5 * z @ alpha - np.log(np.diag(chol)).sum()
            if best is None or log_likelihood > best[0]:
                best = (log_likelihood, scale * math.sqrt(x.shape[1]), chol, alpha)
        _, self.scale, self.chol, self.alpha = best

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = _kernel(x, self.x, self.scale)
        mean = k @ self.alpha
        v = np.linalg.solve(self.chol, k.T)
        var = np.clip(1.0 + NOISE - (v**2).sum(0), 1e-12, None)
        return mean * self.std + self.mean, np.sqrt(var) * self.std


def expected_improvement(space: SearchSpace, history: Sequence[TrialRecord], objective: Objective,
                         candidates: Sequence[Mapping[str, Scalar]]) -> list[float] | None:
    """EI of each candidate (in the objective's direction), or None with too few finished trials."""
    done = [t for t in history if t.finished]
    rows = []
    for t in done:
        try:
            rows.append((encode(space, space.validate(t.params)), t.value))
        except ValueError:
            continue
    if len(rows) < MIN_TRIALS:
        return None
    sign = 1.0 if objective.maximize else -1.0
    x = np.stack([r[0] for r in rows])
    y = sign * np.array([r[1] for r in rows], dtype=float)
    gp = GaussianProcess(x, y)
    mean, sd = gp.predict(np.stack([encode(space, c) for c in candidates]))
    best = y.max()
    z = (mean - best) / sd
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return list((mean - best) * cdf + sd * pdf)
