"""A minimal, independent finite-size simulation of THEORY.md §1–2 (plain scikit-learn Lasso).

Kept separate from ``solvers`` on purpose: the replica tests check the theory against code
that shares nothing with either package.
"""

import numpy as np
from sklearn.linear_model import Lasso


def weighted_lasso(X, y, lam, weights):
    """argmin ½||y − Xb||² + lam Σ w_i |b_i| by column rescaling; w = ∞ drops the feature."""
    b = np.zeros(X.shape[1])
    keep = np.isfinite(weights)
    if keep.any():
        Xs = X[:, keep] / weights[keep]
        fit = Lasso(alpha=lam / X.shape[0], fit_intercept=False, tol=1e-10, max_iter=200000).fit(Xs, y)
        b[keep] = fit.coef_ / weights[keep]
    return b


def run(setting, hp, n, seed):
    """One draw of the data and both stages; returns eps1, eps2, support1, support2."""
    rng = np.random.default_rng(seed)
    comp = rng.choice(setting.n_components, size=n, p=setting.weights)
    R = np.zeros((n, setting.K))
    for c in range(setting.n_components):
        idx = comp == c
        vals, vecs = np.linalg.eigh(setting.covs[c])
        R[idx] = (
            setting.means[c] + rng.standard_normal((idx.sum(), setting.K)) @ (vecs * np.sqrt(np.maximum(vals, 0))).T
        )
    X, y = [], []
    for k in range(setting.K):
        A = rng.standard_normal((int(round(setting.alphas[k] * n)), n)) / np.sqrt(n)
        X.append(A)
        y.append(A @ R[:, k] + setting.sigmas[k] * rng.standard_normal(A.shape[0]))
    P = [k for k in range(setting.K) if setting.pretrain[k] and setting.alphas[k] > 0]
    x1 = weighted_lasso(np.vstack([X[k] for k in P]), np.concatenate([y[k] for k in P]), hp.lam1, np.ones(n))
    w2 = np.where(x1 != 0, hp.lam2, hp.lam2 + hp.delta_lam)
    scale = max(hp.lam2, 1e-300)
    x2 = weighted_lasso(X[0], y[0] - hp.kappa * X[0] @ x1, scale, w2 / scale)
    r, s2 = R[:, 0], setting.sigmas[0] ** 2
    return {
        "eps1": s2 + np.sum((r - x1) ** 2) / n,
        "eps2": s2 + np.sum((r - hp.kappa * x1 - x2) ** 2) / n,
        "support1": np.mean(x1 != 0),
        "support2": np.mean(x2 != 0),
    }
