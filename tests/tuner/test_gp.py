"""The tuner's hand-written GP against independent implementations and known functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import gamma, multivariate_normal
from sklearn.gaussian_process.kernels import Matern

from tuner.gp import LENGTHSCALE_PRIOR, NOISE_FLOOR, OUTPUTSCALE_PRIOR, ExactGP, matern52


def test_kernel_equals_sklearns_matern_five_halves():
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 3)), rng.random((4, 3))
    lengthscale = np.array([0.3, 1.0, 2.5])
    ours = matern52(torch.as_tensor(a), torch.as_tensor(b), torch.as_tensor(lengthscale))
    theirs = Matern(length_scale=lengthscale, nu=2.5)(a, b)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=1e-9)


def test_loss_is_the_negative_log_posterior():
    """Marginal likelihood by scipy's multivariate normal, priors by scipy's gamma."""
    rng = np.random.default_rng(1)
    x, y = rng.random((6, 2)), rng.normal(size=6)
    gp = ExactGP(x, y, seed=0, hyper=np.zeros(5))
    log_l, log_s, log_noise, mean = np.log([0.4, 0.7]), math.log(1.3), math.log(0.01), 0.2
    theta = torch.as_tensor([*log_l, log_s, log_noise, mean], dtype=torch.float64)
    lengthscale, outputscale, noise = np.exp(log_l), math.exp(log_s), NOISE_FLOOR + 0.01
    cov = outputscale * Matern(length_scale=lengthscale, nu=2.5)(x) + noise * np.eye(6)
    standardised = (y - y.mean()) / y.std()
    expected = -multivariate_normal(np.full(6, mean), cov).logpdf(standardised)
    for value, (shape, rate) in [
        (lengthscale[0], LENGTHSCALE_PRIOR),
        (lengthscale[1], LENGTHSCALE_PRIOR),
        (outputscale, OUTPUTSCALE_PRIOR),
    ]:
        expected -= gamma(shape, scale=1 / rate).logpdf(value)
    assert float(gp._loss(theta)) == pytest.approx(expected, rel=1e-9)


def test_fit_recovers_a_smooth_function_and_is_unsure_far_from_data():
    x = np.linspace(0, 0.6, 9).reshape(-1, 1)
    y = np.sin(6 * x[:, 0])
    gp = ExactGP(x, y, seed=0, restarts=3)
    mean, std = gp.predict(x)
    np.testing.assert_allclose(mean, y, atol=1e-3)
    assert std.max() < 0.05
    inside, _ = gp.predict(np.array([[0.325]]))
    assert inside[0] == pytest.approx(math.sin(6 * 0.325), abs=0.02)
    _, far = gp.predict(np.array([[1.0]]))
    assert far[0] > 10 * std.max()


def test_reused_hyperparameters_give_the_fits_predictions_and_fits_are_seeded():
    rng = np.random.default_rng(2)
    x, y = rng.random((10, 3)), rng.normal(size=10)
    fitted = ExactGP(x, y, seed=5, restarts=3)
    again = ExactGP(x, y, seed=5, restarts=3)
    np.testing.assert_array_equal(fitted.hyper, again.hyper)
    reused = ExactGP(x, y, seed=99, hyper=fitted.hyper)
    probe = rng.random((7, 3))
    for a, b in zip(fitted.predict(probe), reused.predict(probe), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_repeated_points_with_reused_hyperparameters_still_condition():
    """A point evaluated twice (a resumed history) must not break the Cholesky."""
    x = np.array([[0.1, 0.2], [0.1, 0.2], [0.8, 0.5]])
    gp = ExactGP(x, np.array([1.0, 1.0, 3.0]), seed=0, hyper=np.array([0, 0, 0, -40.0, 0]))
    mean, std = gp.predict(x)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
