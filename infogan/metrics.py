"""Disentanglement metrics on ground-truth factors, after disentanglement_lib (Locatello et al.
2019, "Challenging common assumptions in the unsupervised learning of disentangled
representations"), with that library's defaults, re-implemented in numpy/scikit-learn.

Every metric takes `represent` (observations -> (N, D) codes; here Q's point estimates on
real images, as in published InfoGAN evaluations), a `GroundTruth` that samples factors and
renders observations, and a numpy Generator, so it works for any model and any dataset."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

Represent = Callable[[Any], np.ndarray]


@dataclass
class GroundTruth:
    """Factors of variation with a finite grid of values and a way to render them."""

    sizes: tuple[int, ...]
    render: Callable[[np.ndarray], Any]  # (N, F) factor indices -> observations
    names: tuple[str, ...] = ()

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, k, n) for k in self.sizes], 1)


def sample_codes(represent: Represent, truth: GroundTruth, n: int, rng: np.random.Generator,
                 batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """-> (codes (n, D), factors (n, F)), drawn in batches (disentanglement_lib: 16)."""
    codes, factors = [], []
    for start in range(0, n, batch):
        f = truth.sample_factors(min(batch, n - start), rng)
        codes.append(np.asarray(represent(truth.render(f)), dtype=np.float64))
        factors.append(f)
    return np.concatenate(codes), np.concatenate(factors)


def discretize(x: np.ndarray, bins: int = 20) -> np.ndarray:
    """Equal-width histogram bins per column (disentanglement_lib's `_histogram_discretize`)."""
    out = np.zeros(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):
        out[:, j] = np.digitize(x[:, j], np.histogram(x[:, j], bins)[1][:-1])
    return out


def mutual_info_matrix(codes_d: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Discrete MI in nats, codes x factors."""
    return np.array([[mutual_info_score(factors[:, j], codes_d[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes_d.shape[1])])


def factor_entropy(factors: np.ndarray) -> np.ndarray:
    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def mig(represent: Represent, truth: GroundTruth, rng: np.random.Generator, num_train: int = 10_000,
        bins: int = 20) -> dict[str, Any]:
    """Mutual Information Gap (Chen et al. 2018). Defaults: 10,000 points, 20 bins.

    For each factor, the gap between the two codes with the most MI about it, divided by
    the factor's entropy; averaged over factors. 1 = each factor in exactly one code."""
    codes, factors = sample_codes(represent, truth, num_train, rng)
    m = mutual_info_matrix(discretize(codes, bins), factors)
    h = factor_entropy(factors)
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if m.shape[0] > 1 else np.zeros_like(top[0])
    per_factor = (top[0] - second) / h
    return {"mig": float(per_factor.mean()), "mig_per_factor": per_factor.tolist(),
            "normalized_mi": (m / h).tolist()}


def factor_vae(represent: Represent, truth: GroundTruth, rng: np.random.Generator, batch_size: int = 64,
               num_train: int = 10_000, num_eval: int = 5_000, num_variance: int = 10_000) -> dict[str, Any]:
    """FactorVAE score (Kim & Mnih 2018). Defaults: variances from 10,000 points, votes from
    batches of 64 with one factor fixed, 10,000 train / 5,000 eval votes.

    Each vote: the code with the least variance (relative to its global variance) when one
    factor is held fixed; a majority-vote classifier maps codes to factors; the score is its
    accuracy on held-out votes. Collapsed codes (zero variance) are dropped."""
    codes, _ = sample_codes(represent, truth, num_variance, rng)
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) > 0.0
    if not active.any():
        return {"factor_vae": 0.0, "factor_vae_train": 0.0, "active_dims": 0}

    def votes(n: int) -> np.ndarray:  # (active codes x factors)
        v = np.zeros((int(active.sum()), len(truth.sizes)), dtype=np.int64)
        for _ in range(n):
            k = rng.integers(len(truth.sizes))
            f = truth.sample_factors(batch_size, rng)
            f[:, k] = f[0, k]
            local = np.var(np.asarray(represent(truth.render(f)), dtype=np.float64), axis=0, ddof=1)
            v[np.argmin(local[active] / global_var[active]), k] += 1
        return v

    train, test = votes(num_train), votes(num_eval)
    classifier = np.argmax(train, axis=1)
    rows = np.arange(len(classifier))
    return {"factor_vae_train": float(train[rows, classifier].sum() / train.sum()),
            "factor_vae": float(test[rows, classifier].sum() / max(test.sum(), 1)),
            "active_dims": int(active.sum())}


def _entropy_based(p: np.ndarray, base: int) -> np.ndarray:
    """1 - entropy of each row of p (normalised to sum 1), in log base `base`."""
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-11)
    logs = np.where(p > 0, np.log(np.where(p > 0, p, 1)), 0.0)
    return 1.0 - (-(p * logs).sum(axis=1) / np.log(base))


def dci(represent: Represent, truth: GroundTruth, rng: np.random.Generator, num_train: int = 10_000,
        num_test: int = 5_000) -> dict[str, Any]:
    """DCI (Eastwood & Williams 2018) with gradient-boosted trees, as disentanglement_lib.
    Defaults: 10,000 train / 5,000 test points, sklearn's GradientBoostingClassifier().

    Importance matrix R (codes x factors) from the trees; disentanglement = importance-weighted
    mean over codes of 1 - H_F(R_i.); completeness = mean over factors of 1 - H_D(R_.j);
    informativeness = mean test accuracy of the per-factor classifiers."""
    x_train, y_train = sample_codes(represent, truth, num_train, rng)
    x_test, y_test = sample_codes(represent, truth, num_test, rng)
    n_codes, n_factors = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((n_codes, n_factors))
    train_acc, test_acc = [], []
    for j in range(n_factors):
        model = GradientBoostingClassifier(random_state=int(rng.integers(2**31)))
        model.fit(x_train, y_train[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_acc.append(model.score(x_train, y_train[:, j]))
        test_acc.append(model.score(x_test, y_test[:, j]))
    per_code = _entropy_based(importance, n_factors) if n_factors > 1 else np.ones(n_codes)
    weights = importance.sum(axis=1) / max(importance.sum(), 1e-11)
    completeness = _entropy_based(importance.T, n_codes) if n_codes > 1 else np.ones(n_factors)
    return {"dci_disentanglement": float((per_code * weights).sum()),
            "dci_completeness": float(completeness.mean()),
            "dci_informativeness_train": float(np.mean(train_acc)),
            "dci_informativeness": float(np.mean(test_acc)), "dci_importance": importance.tolist()}


def sap(represent: Represent, truth: GroundTruth, rng: np.random.Generator, num_train: int = 10_000,
        num_test: int = 5_000) -> dict[str, Any]:
    """SAP score (Kumar et al. 2018), factors treated as discrete (disentanglement_lib's default).
    Defaults: 10,000 train / 5,000 test points, LinearSVC(C=0.01, class_weight="balanced").

    For each (code, factor), the test accuracy of a linear classifier on that single code;
    per factor the gap between the two best codes; averaged over factors."""
    x_train, y_train = sample_codes(represent, truth, num_train, rng)
    x_test, y_test = sample_codes(represent, truth, num_test, rng)
    scores = np.zeros((x_train.shape[1], y_train.shape[1]))
    for i in range(x_train.shape[1]):
        for j in range(y_train.shape[1]):
            if np.unique(y_train[:, j]).size < 2:
                continue
            svm = LinearSVC(C=0.01, class_weight="balanced").fit(x_train[:, [i]], y_train[:, j])
            scores[i, j] = np.mean(svm.predict(x_test[:, [i]]) == y_test[:, j])
    top = np.sort(scores, axis=0)[::-1]
    second = top[1] if scores.shape[0] > 1 else np.zeros_like(top[0])
    return {"sap": float(np.mean(top[0] - second)), "sap_matrix": scores.tolist()}


def modularity_explicitness(represent: Represent, truth: GroundTruth, rng: np.random.Generator,
                            num_train: int = 10_000, num_test: int = 5_000, bins: int = 20) -> dict[str, Any]:
    """Modularity and explicitness (Ridgeway & Zemel 2018). Defaults: 10,000 train / 5,000 test
    points, 20 bins for MI, sklearn's LogisticRegression() for explicitness.

    Modularity: each code should carry MI about one factor only (1 - normalised deviation
    from an ideal one-factor template). Explicitness: mean one-vs-rest ROC AUC of a linear
    classifier predicting each factor's value from all codes."""
    x_train, y_train = sample_codes(represent, truth, num_train, rng)
    x_test, y_test = sample_codes(represent, truth, num_test, rng)
    sq = mutual_info_matrix(discretize(x_train, bins), y_train) ** 2
    max_sq = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - max_sq) / (max_sq * (sq.shape[1] - 1))
    modularity = np.where(max_sq == 0, 0.0, 1.0 - delta)
    train_auc, test_auc = [], []
    for j in range(y_train.shape[1]):
        classes = np.unique(y_train[:, j])
        if classes.size < 2:
            continue
        clf = LogisticRegression(max_iter=1000).fit(x_train, y_train[:, j])
        mlb = MultiLabelBinarizer(classes=list(range(truth.sizes[j])))
        for x, y, out in ((x_train, y_train, train_auc), (x_test, y_test, test_auc)):
            proba = clf.predict_proba(x)
            onehot = mlb.fit_transform([[v] for v in y[:, j]])
            aucs = [roc_auc_score(onehot[:, c], proba[:, ci]) for ci, c in enumerate(clf.classes_)
                    if 0 < onehot[:, c].sum() < len(y)]
            out.append(np.mean(aucs))
    return {"modularity": float(np.mean(modularity)), "explicitness_train": float(np.mean(train_auc)),
            "explicitness": float(np.mean(test_auc))}


ALL = (mig, factor_vae, dci, sap, modularity_explicitness)


def evaluate_all(represent: Represent, truth: GroundTruth, seed: int = 0, scale: float = 1.0,
                 on_metric: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Every metric with its defaults; `scale` < 1 shrinks all sample counts for a quick look.
    `on_metric(name, index, count)` is called as each metric starts."""
    out: dict[str, Any] = {"seed": seed, "scale": scale}
    counts = {"num_train", "num_test", "num_eval", "num_variance"}
    for i, fn in enumerate(ALL):
        if on_metric:
            on_metric(fn.__name__, i, len(ALL))
        rng = np.random.default_rng(seed)
        params = inspect.signature(fn).parameters
        kwargs = {k: max(int(v.default * scale), 64) for k, v in params.items() if k in counts}
        out.update(fn(represent, truth, rng, **kwargs))
    return out
