"""Linear probe: separable data, agreement with scikit-learn, lambda selection, errors."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from simclr.evaluate.linear import fit_logistic_regression, linear_probe


def blobs(n_per_class: int, num_classes: int, dim: int, seed: int, spread: float = 6.0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=g) * spread
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    x = centres[y] + torch.randn(len(y), dim, generator=g)
    return x, y


def test_probe_reaches_near_100_percent_on_separable_blobs():
    tr, va, te = blobs(40, 5, 16, 0), blobs(10, 5, 16, 0), blobs(20, 5, 16, 0)
    # same centres (same seed), fresh noise: regenerate noise with another generator
    te = (te[0] + 0.1 * torch.randn_like(te[0]), te[1])
    res = linear_probe(tr, va, te, 5, l2_grid=(1e-4, 1e-2, 1.0), progress=False, max_iter=200)
    assert res.test["top1"] >= 0.99
    assert res.test["macro_f1"] >= 0.99
    assert res.test["top5"] == 1.0
    assert set(res.val_scores) == {1e-4, 1e-2, 1.0}
    assert res.best_l2 in res.val_scores
    p = res.protocol
    assert p["l2_selected"] == res.best_l2 and p["refit_on_train_val"] is True
    assert (p["train_size"], p["val_size"], p["test_size"]) == (200, 50, 100)


def test_sgd_solver_also_separates_blobs():
    x, y = blobs(30, 3, 8, 1)
    clf = fit_logistic_regression(x, y, 3, l2=1e-4, solver="sgd", sgd_epochs=30, sgd_batch_size=32)
    assert (clf.predict(x).argmax(1) == y).float().mean() >= 0.99


def test_lbfgs_matches_sklearn_multinomial_logistic_regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(150, 10, generator=g, dtype=torch.float64).float()
    y = torch.randint(0, 4, (150,), generator=g)
    x[:, :4] += 1.5 * torch.nn.functional.one_hot(y, 4)
    lam = 1e-2
    ours = fit_logistic_regression(x, y, 4, lam, standardize=False, max_iter=1000, tol=1e-10)
    # sklearn minimises 1/2 ||W||^2 + C * sum CE  <=>  ours with C = 1 / (lam * N)
    ref = LogisticRegression(C=1 / (lam * len(y)), tol=1e-10, max_iter=10000).fit(x, y)
    torch.testing.assert_close(ours.weight, torch.tensor(ref.coef_).float(), atol=2e-3, rtol=0)
    sk_b = torch.tensor(ref.intercept_).float()
    torch.testing.assert_close(ours.bias - ours.bias.mean(), sk_b - sk_b.mean(), atol=2e-3, rtol=0)
    np.testing.assert_array_equal(ours.predict(x).argmax(1).numpy(), ref.predict(x.numpy()))


def test_strong_regularisation_is_not_chosen_when_it_hurts():
    tr, va, te = blobs(30, 4, 6, 2, spread=1.5), blobs(10, 4, 6, 2, 1.5), blobs(10, 4, 6, 2, 1.5)
    res = linear_probe(tr, va, te, 4, l2_grid=(1e-4, 1e4), progress=False, max_iter=100)
    assert res.best_l2 == 1e-4
    assert res.val_scores[1e-4] > res.val_scores[1e4]


def test_bad_inputs():
    x, y = blobs(5, 2, 3, 0)
    with pytest.raises(ValueError, match="l2 must be"):
        fit_logistic_regression(x, y, 2, l2=-1.0)
    with pytest.raises(ValueError, match="solver must be one of"):
        fit_logistic_regression(x, y, 2, l2=0.0, solver="newton")
    with pytest.raises(ValueError, match="labels must lie in"):
        fit_logistic_regression(x, y + 5, 2, l2=0.0)
    with pytest.raises(ValueError, match="l2_grid is empty"):
        linear_probe((x, y), (x, y), (x, y), 2, l2_grid=())
    with pytest.raises(ValueError, match="test features have dimension 2"):
        linear_probe((x, y), (x, y), (x[:, :2], y), 2, l2_grid=(1.0,), progress=False)
