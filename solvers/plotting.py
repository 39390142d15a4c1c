"""The picture of a tuned :class:`solvers.TransLassoCV`: CV error against λ2, the theory beside it.

:func:`plot_cv` draws, from the model's public fitted attributes only:

* the CV error against λ2 for each κ rung (each cell of the tuned strategy at the chosen λ1),
  with a band of ± one standard error over folds (ALO: the per-sample SE);
* the theory's predicted test error along the chosen rung, at the fold's training size (dashed);
* the target alone's level (the best CV error of its own Lasso path, the guard);
* the chosen point;
* with ``source_scores_``, a second panel: each source's similarity, support overlap and predicted
  gain alone, the sources used filled.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from replica import ConvergenceError, Hyperparameters, predict

__all__ = ["plot_cv"]


def _folds(results: dict) -> int:
    return sum(1 for key in results if key.startswith("split") and key.endswith("_test_mse"))


def _se(results: dict) -> np.ndarray:
    """Standard error of each row's mean CV error: over folds, or ALO's per-sample SE (its std column)."""
    k = _folds(results)
    if k == 0:
        return np.asarray(results["std_test_mse"], dtype=float)
    splits = np.column_stack([results[f"split{f}_test_mse"] for f in range(k)])
    return splits.std(axis=1, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(splits.shape[0])


def _theory_curve(model, lam2, kappa, delta_ratio, lam1, folds):
    """The theory's test MSE (data units) at each λ2 of the chosen rung, at the CV's training size;
    κ is the theory's own (the calibrated κ divided by ``kappa_calibration_``). None if unavailable."""
    setting, v = getattr(model, "setting_", None), getattr(model, "response_scale_", None)
    if setting is None or v is None:
        return None
    if folds > 1:
        alphas = np.array(setting.alphas)
        alphas[0] *= (folds - 1) / folds
        setting = setting.with_alphas(alphas)
    kappa_theory = kappa / model.kappa_calibration_ if model.kappa_calibration_ else kappa
    root = math.sqrt(v)
    out, warm = [], None
    for lam in lam2:
        h = Hyperparameters(lam1 / root, lam / root, kappa_theory, delta_ratio * lam / root)
        try:
            warm = predict(setting, h, warm_start=warm)
        except ConvergenceError:
            return None
        out.append(v * warm.eps2)
    return np.array(out)


def plot_cv(model, ax=None, *, sources_ax=None):
    """Draw a fitted :class:`solvers.TransLassoCV`'s CV curves, the theory's, and the choice.

    Parameters
    ----------
    model : solvers.TransLassoCV
        Fitted with a CV (``tuning`` "theory+cv" or "cv", any ``cv``).
    ax : matplotlib Axes, optional
        Where to draw the curves (a new figure if None).
    sources_ax : matplotlib Axes, optional
        Where to draw the per-source scores when the model has several sources (a second panel of
        the same figure if None and ``ax`` is None; skipped if None and ``ax`` is given).

    Returns
    -------
    matplotlib Axes
        ``ax`` with the curves. Its title names the chosen strategy.

    Raises
    ------
    ValueError
        If the model was fitted with ``tuning="theory"`` (no CV to draw).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from replica import Setting
    >>> from solvers import TransLassoCV, draw_problem
    >>> p = draw_problem(Setting.similarity(0.5, 2.0, 0.3, 0.3, 0.1, 0.9), 200, np.random.default_rng(1))
    >>> model = TransLassoCV(random_state=0).fit(*p.data[0], sources=[p.data[1]])
    >>> ax = plot_cv(model)
    >>> ax.get_xscale(), ax.get_title().startswith("chosen:")
    ('log', True)
    """
    import matplotlib.pyplot as plt

    check_is_fitted(model, "cv_results_")
    res = model.cv_results_
    if res is None:
        raise ValueError("this model was fitted with tuning='theory': there is no CV to plot")
    scores = getattr(model, "source_scores_", None)
    if ax is None:
        two = scores is not None and len(scores["similarity"]) > 0
        fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10 if two else 6, 4), squeeze=False)
        ax = axes[0, 0]
        sources_ax = axes[0, 1] if two else None
    hyper = model.hyperparameters_
    params = res["params"]
    lam1 = np.asarray(res["param_lam1"], dtype=float)
    lam2 = np.asarray(res["param_lam2"], dtype=float)
    mean, se = np.asarray(res["mean_test_mse"], dtype=float), _se(res)
    sources = res.get("sources", [None] * len(params))
    alone = np.array([s == () for s in sources])
    chosen = int(model.best_index_)
    lam1_star = lam1[chosen]
    # the curves of the chosen point's source set (the target alone's own path if it was chosen)
    same_set = np.array([s == sources[chosen] for s in sources])
    rungs = {}
    for row, p in enumerate(params):
        if same_set[row] and lam1[row] == lam1_star:
            ratio = p["delta_lam"] / p["lam2"] if math.isfinite(p["delta_lam"]) else math.inf
            rungs.setdefault((p["kappa"], ratio), []).append(row)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, ((kap, ratio), rows) in enumerate(sorted(rungs.items(), reverse=True)):
        rows = sorted(rows, key=lambda r: lam2[r])
        c = colors[n % len(colors)]
        label = (
            "target alone" if alone[rows[0]] else f"κ = {kap:.3g}" + ("" if ratio == 0 else f", Δλ/λ2 = {ratio:.3g}")
        )
        ax.plot(lam2[rows], mean[rows], "o-", color=c, label=label, ms=3)
        ax.fill_between(lam2[rows], mean[rows] - se[rows], mean[rows] + se[rows], color=c, alpha=0.2)
        if chosen in rows and not alone[chosen]:
            folds = _folds(res)
            theory = _theory_curve(
                model, lam2[rows], kap, ratio if math.isfinite(ratio) else math.inf, lam1_star, folds
            )
            if theory is not None:
                ax.plot(lam2[rows], theory, "--", color=c, label="theory (same κ)")
    if np.any(alone) and not alone[chosen]:
        ax.axhline(mean[alone].min(), color="0.4", lw=1, ls=":", label="target alone (best)")
    ax.plot([lam2[chosen]], [mean[chosen]], "k*", ms=12, label="chosen", zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel("λ2 (tuned design's units)")
    ax.set_ylabel("CV mean squared error")
    used = "target alone" if not model.sources_used_ else "sources " + ", ".join(map(str, model.sources_used_))
    ax.set_title(f"chosen: {model.strategy_}, {used} (κ = {hyper.kappa:.3g}, λ2 = {hyper.lam2:.3g})")
    ax.legend(fontsize="small")
    if sources_ax is not None and scores is not None:
        _plot_sources(sources_ax, scores, getattr(model, "sources_used_", ()))
    return ax


def _plot_sources(ax, scores: dict, used) -> None:
    """Per source: its similarity and support overlap (bars) and its predicted gain alone (dots); the
    sources used filled."""
    k = np.arange(len(scores["similarity"]))
    filled = np.isin(k, list(used))
    width = 0.38
    sim, overlap = np.nan_to_num(scores["similarity"]), np.nan_to_num(scores["support_overlap"])
    ax.bar(k - width / 2, sim, width, color=np.where(filled, "C0", "white"), edgecolor="C0", label="similarity")
    ax.bar(
        k + width / 2, overlap, width, color=np.where(filled, "C2", "white"), edgecolor="C2", label="support overlap"
    )
    ax.plot(k, scores["gain_alone"], "kD", ms=5, label="predicted gain alone")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xticks(k)
    ax.set_xlabel("source (filled: used)")
    ax.set_ylim(min(-0.1, float(np.nanmin(np.r_[scores["gain_alone"], 0.0])) - 0.05), 1.05)
    ax.legend(fontsize="small")
