"""The two models of the tuner: a GP for the objective and a classifier for unknown constraints.

The GP follows BaCO (`tuner/gp.py`): one Matérn-5/2 kernel with a lengthscale per feature (ARD)
over the encoded configuration, a Gamma(2, 1) lengthscale prior that favours smooth fits
from few points, the objective modelled in log space (cycle counts vary multiplicatively), and
the hyperparameters fitted from several starts because with a handful of points the likelihood
has many poor local optima. It is fitted on the feasible evaluations only.

Configurations that could not be run (over a hardware budget, deadlock, timeout) teach a random
forest classifier P(feasible), trained on every evaluation once one has failed (BaCO's
settings: 50 trees, 75 % of features per split, feasible points weighted 0.8). Each leaf's
P(feasible) is its evaluations' frequency under a Jeffreys prior, not the raw frequency: see
``LEAF_PRIOR``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier

from tuner.gp import ExactGP

# Exploration margin of expected improvement, in the modelled (log) units (BaCO's default).
_XI = 1e-4
# Pseudo-counts of feasible and of failed evaluations in every leaf of the feasibility forest
# (a Beta(1/2, 1/2), Jeffreys, prior on the leaf's P(feasible)). Trees grown to purity on a
# dozen evaluations have leaves of one to three, and the raw frequency made one failure a
# certainty: P(feasible) 0 for everything on its side of a split, EI x P 0, never tried. On
# DAE embedding the best configuration (rows 2, never evaluated, between feasible rows 1 and
# failed rows >= 3) sat on the failed side in 5 of 20 seeds, which then never left the second
# best; under the prior one failure leaves 1/4 and three leave 1/8. Tuner bench at budget 20
# (vs random / TPE / Optuna GP), seeds 0-9: 1.287 / 1.155 / 1.161 -> 1.307 / 1.173 / 1.179;
# seeds 10-19: 1.464 / 1.278 / 1.272 -> 1.489 / 1.300 / 1.294 (Laplace's 1 / 1 gained more on
# DAE and SwiGLU but sent SpGEMM, half of whose configurations fail, into failures twice as
# often: 360 -> 395 cycles).
LEAF_PRIOR = 0.5


class ObjectiveModel:
    """A GP over encoded configurations predicting (log) objective values."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        seed: int,
        restarts: int = 2,
        hyper: np.ndarray | None = None,
    ) -> None:
        """Fit the hyperparameters, or with ``hyper`` (an earlier fit's ``hyper``) reuse them
        and only condition on the data: most of a step's cost is the fit, and the
        lengthscales move little from one point to the next."""
        self.gp = ExactGP(x, y, seed, restarts, hyper)
        self.hyper = self.gp.hyper

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the modelled objective (no noise)."""
        return self.gp.predict(x)

    def expected_improvement(self, x: np.ndarray, best: float) -> np.ndarray:
        """Expected decrease below ``best`` (we minimise), from the GP posterior."""
        mean, std = self.predict(x)
        z = (best - mean - _XI) / std
        normal = torch.distributions.Normal(0.0, 1.0)
        zt = torch.as_tensor(z)
        cdf, pdf = normal.cdf(zt).numpy(), normal.log_prob(zt).exp().numpy()
        return np.maximum(std * (z * cdf + pdf), 0.0)


class FeasibilityModel:
    """P(feasible) of a configuration, learnt from which evaluations could be run."""

    def __init__(self, x: np.ndarray, feasible: np.ndarray, seed: int) -> None:
        labels = feasible.astype(int)
        self.constant = float(labels[0]) if labels.min() == labels.max() else None
        if self.constant is None:
            weights = {1: 0.8, 0: 0.2}
            self.forest = RandomForestClassifier(
                n_estimators=50,
                max_features=0.75,
                bootstrap=False,
                class_weight=weights,
                random_state=seed,
            ).fit(x, labels)
            # Per tree, every node's P(feasible) under the prior, from its evaluation counts
            # (the tree stores class-weighted fractions: unweighted, then scaled to counts).
            column = list(self.forest.classes_).index(1)
            w = np.asarray([weights[c] for c in self.forest.classes_], dtype=np.float64)
            self._node_p = []
            for tree in self.forest.estimators_:
                t = tree.tree_
                share = t.value[:, 0, :] / w
                total = t.n_node_samples.astype(np.float64)
                good = share[:, column] / share.sum(axis=1) * total
                self._node_p.append((good + LEAF_PRIOR) / (total + 2 * LEAF_PRIOR))

    def probability(self, x: np.ndarray) -> np.ndarray:
        if self.constant is not None:
            return np.full(len(x), self.constant)
        # The trees' own arrays, averaged here: sklearn's predict_proba dispatches every tree
        # through joblib, which costs more than the prediction on the pools the search scores.
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        total = np.zeros(len(x))
        for tree, node_p in zip(self.forest.estimators_, self._node_p, strict=True):
            total += node_p[tree.tree_.apply(x32)]
        return total / len(self.forest.estimators_)
