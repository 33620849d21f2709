"""The two models of the tuner: a GP for the objective and a classifier for unknown constraints.

The GP follows BaCO: one Matérn-5/2 kernel with a lengthscale per feature (ARD) over the
encoded configuration, a Gamma(1.3, 0.1) lengthscale prior that favours smooth fits from few
points, the objective modelled in log space (cycle counts vary multiplicatively), and the
marginal likelihood maximised from several random starts because with a handful of points it
has many poor local optima. It is fitted on the feasible evaluations only.

Configurations that could not be run (over a hardware budget, deadlock, timeout) teach a random
forest classifier P(feasible), trained on every evaluation once one has failed (BaCO's
settings: 50 trees, 75 % of features per split, feasible points weighted 0.8).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from botorch.exceptions import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from sklearn.ensemble import RandomForestClassifier

# Kernel timings are nearly deterministic; a small noise floor keeps the Cholesky stable.
_NOISE_FLOOR = 1e-6
# Exploration margin of expected improvement, in standardised log units (BaCO's default).
_XI = 1e-4
# L-BFGS iterations per start of the likelihood fit: enough to converge on tens of points.
_FIT_ITERATIONS = 50


class ObjectiveModel:
    """A GP over encoded configurations predicting (log) objective values."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        seed: int,
        restarts: int = 2,
        hyper: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Fit the hyperparameters, or with ``hyper`` (an earlier fit's ``hyper``) reuse them
        and only condition on the data: most of a step's cost is the fit, and the
        lengthscales move little from one point to the next."""
        torch.manual_seed(seed)
        self.train_x = torch.as_tensor(x, dtype=torch.float64)
        self.train_y = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
        if hyper is not None:
            self.model = self._build()
            self.model.load_state_dict(hyper, strict=False)
            self.model.eval()
            self.hyper = hyper
            return
        generator = torch.Generator().manual_seed(seed)
        best_loss, best_state = math.inf, None
        for attempt in range(max(restarts, 1)):
            model = self._build()
            if attempt:  # the first start keeps the prior's defaults; others start at random
                d = self.train_x.shape[1]
                lengthscale = 10 ** (
                    2 * torch.rand(1, d, generator=generator, dtype=torch.float64) - 1
                )
                model.covar_module.base_kernel.lengthscale = lengthscale
                model.covar_module.outputscale = 10 ** (2 * torch.rand((), generator=generator) - 1)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit_gpytorch_mll(
                        mll, optimizer_kwargs={"options": {"maxiter": _FIT_ITERATIONS}}
                    )
            except ModelFittingError:
                continue
            model.train()
            loss = self._loss(mll)
            if loss < best_loss:
                best_loss, best_state = loss, model.state_dict()
        self.model = self._build()
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        # The kernel, mean and noise only: the outcome transform's statistics follow the data.
        self.hyper = {
            k: v.clone()
            for k, v in self.model.state_dict().items()
            if not k.startswith("outcome_transform")
        }

    def _build(self) -> SingleTaskGP:
        d = self.train_x.shape[1]
        kernel = ScaleKernel(
            MaternKernel(nu=2.5, ard_num_dims=d, lengthscale_prior=GammaPrior(1.3, 0.1)),
            outputscale_prior=GammaPrior(2.0, 0.15),
        )
        likelihood = GaussianLikelihood(noise_constraint=GreaterThan(_NOISE_FLOOR))
        return SingleTaskGP(
            self.train_x,
            self.train_y,
            covar_module=kernel,
            likelihood=likelihood,
            outcome_transform=Standardize(m=1),
        )

    def _loss(self, mll: ExactMarginalLogLikelihood) -> float:
        with torch.no_grad():
            output = mll.model(*mll.model.train_inputs)
            target = mll.model.train_targets
            return float(-mll(output, target).sum())

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the modelled objective (no noise)."""
        with torch.no_grad():
            posterior = self.model.posterior(torch.as_tensor(x, dtype=torch.float64))
            mean = posterior.mean.reshape(-1).numpy()
            std = posterior.variance.clamp_min(1e-18).sqrt().reshape(-1).numpy()
        return mean, std

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
            self.forest = RandomForestClassifier(
                n_estimators=50,
                max_features=0.75,
                bootstrap=False,
                class_weight={1: 0.8, 0: 0.2},
                random_state=seed,
            ).fit(x, labels)

    def probability(self, x: np.ndarray) -> np.ndarray:
        if self.constant is not None:
            return np.full(len(x), self.constant)
        # The trees' own arrays, averaged here: sklearn's predict_proba dispatches every tree
        # through joblib, which costs more than the prediction on the pools the search scores.
        column = list(self.forest.classes_).index(1)
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        total = np.zeros(len(x))
        for tree in self.forest.estimators_:
            counts = tree.tree_.predict(x32).reshape(len(x), -1)
            total += counts[:, column] / np.maximum(counts.sum(axis=1), 1e-300)
        return total / len(self.forest.estimators_)
