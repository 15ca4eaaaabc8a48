"""Disentanglement metrics on ground-truth factors, after disentanglement_lib (Locatello et al.
2019, "Challenging common assumptions in the unsupervised learning of disentangled
representations"), with that library's defaults, re-implemented in numpy/scikit-learn.

Every metric reads its observations from `obs`: a `Fresh` source (disentanglement_lib's way,
new observations for every request) or a `Pool` (encoded once, shared by all metrics). Both
wrap `represent` (observations -> (N, D) codes; here Q's point estimates on real images, as in
published InfoGAN evaluations), a `GroundTruth` that samples factors and renders observations,
and a numpy Generator, so the metrics work for any model and any dataset."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import ESTIMATORS
from .runs import RunError

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


class Fresh:
    """disentanglement_lib's sampling: every request draws and encodes new observations."""

    def __init__(self, represent: Represent, truth: GroundTruth, rng: np.random.Generator):
        self.represent, self.truth, self.rng = represent, truth, rng

    def iid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n independent observations: (codes (n, D), factors (n, F))."""
        return sample_codes(self.represent, self.truth, n, self.rng)

    def fixed_factor(self, n: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """n batches, each with one random factor k held at one value: (k (n,), codes (n, batch, D))."""
        ks, codes = [], []
        for _ in range(n):
            k = self.rng.integers(len(self.truth.sizes))
            f = self.truth.sample_factors(batch_size, self.rng)
            f[:, k] = f[0, k]
            ks.append(k)
            codes.append(np.asarray(self.represent(self.truth.render(f)), dtype=np.float64))
        return np.array(ks, dtype=np.int64), np.stack(codes)


class Pool(Fresh):
    """One set of independent observations, encoded once in large batches and shared by every
    metric: the cost of an evaluation is then one pass of the encoder over `size` images.

    `iid` hands out consecutive rows from the start of the pool (call `rewind` before each
    metric), so a metric's training and test rows never overlap. `fixed_factor` draws each
    batch from the pool's rows that share one value of factor k (the value of a random row):
    the conditional distribution the reference draws from, resampled from the pool."""

    def __init__(self, represent: Represent, truth: GroundTruth, rng: np.random.Generator, size: int,
                 batch: int = 500):
        super().__init__(represent, truth, rng)
        self.codes, self.factors = sample_codes(represent, truth, size, rng, batch)
        self.pos = 0
        self._groups = [[np.flatnonzero(self.factors[:, k] == v) for v in range(n)]
                        for k, n in enumerate(truth.sizes)]

    def rewind(self) -> None:
        self.pos = 0

    def iid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.pos + n > len(self.codes):
            raise ValueError(f"the pool has {len(self.codes)} observations, {self.pos + n} were asked for")
        rows = slice(self.pos, self.pos + n)
        self.pos += n
        return self.codes[rows], self.factors[rows]

    def fixed_factor(self, n: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        ks = self.rng.integers(len(self.truth.sizes), size=n)
        anchors = self.rng.integers(len(self.codes), size=n)
        rows = np.empty((n, batch_size), dtype=np.int64)
        for i, (k, a) in enumerate(zip(ks, anchors)):
            group = self._groups[k][self.factors[a, k]]
            rows[i] = self.rng.choice(group, batch_size, replace=len(group) < batch_size)
        return ks, self.codes[rows]


def discretize(x: np.ndarray, bins: int = 20) -> np.ndarray:
    """Equal-width histogram bins per column (disentanglement_lib's `_histogram_discretize`)."""
    out = np.zeros(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):
        out[:, j] = np.digitize(x[:, j], np.histogram(x[:, j], bins)[1][:-1])
    return out


def mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete labelings: sklearn.metrics.mutual_info_score's formula, in
    numpy because importing sklearn.metrics adds ~140 MB to every training process that
    measures MIG and FactorVAE while it trains (docs/results.md, issue #39). The classifiers of
    DCI, SAP and modularity are imported where they are used, for the same reason."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    na, nb = int(ai.max()) + 1, int(bi.max()) + 1
    if na == 1 or nb == 1:
        return 0.0
    contingency = np.bincount(ai.ravel() * nb + bi.ravel(), minlength=na * nb).reshape(na, nb)
    nzx, nzy = np.nonzero(contingency)
    nz = contingency[nzx, nzy].astype(float)
    total, pi, pj = contingency.sum(), contingency.sum(axis=1), contingency.sum(axis=0)
    outer = pi.take(nzx).astype(np.int64) * pj.take(nzy).astype(np.int64)
    log_outer = -np.log(outer) + np.log(pi.sum()) + np.log(pj.sum())
    mi = nz / total * (np.log(nz) - np.log(total)) + nz / total * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


def mutual_info_matrix(codes_d: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Discrete MI in nats, codes x factors."""
    return np.array([[mutual_info(factors[:, j], codes_d[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes_d.shape[1])])


def factor_entropy(factors: np.ndarray) -> np.ndarray:
    return np.array([mutual_info(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def mig(obs: Fresh, num_train: int = 10_000, bins: int = 20) -> dict[str, Any]:
    """Mutual Information Gap (Chen et al. 2018). Defaults: 10,000 points, 20 bins.

    For each factor, the gap between the two codes with the most MI about it, divided by
    the factor's entropy; averaged over factors. 1 = each factor in exactly one code."""
    codes, factors = obs.iid(num_train)
    m = mutual_info_matrix(discretize(codes, bins), factors)
    h = factor_entropy(factors)
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if m.shape[0] > 1 else np.zeros_like(top[0])
    per_factor = (top[0] - second) / h
    return {"mig": float(per_factor.mean()), "mig_per_factor": per_factor.tolist(),
            "normalized_mi": (m / h).tolist()}


def factor_vae(obs: Fresh, batch_size: int = 64, num_train: int = 10_000, num_eval: int = 5_000,
               num_variance: int = 10_000) -> dict[str, Any]:
    """FactorVAE score (Kim & Mnih 2018). Defaults: variances from 10,000 points, votes from
    batches of 64 with one factor fixed, 10,000 train / 5,000 eval votes.

    Each vote: the code with the least variance (relative to its global variance) when one
    factor is held fixed; a majority-vote classifier maps codes to factors; the score is its
    accuracy on held-out votes. Collapsed codes (zero variance) are dropped."""
    codes, _ = obs.iid(num_variance)
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) > 0.0
    if not active.any():
        return {"factor_vae": 0.0, "factor_vae_train": 0.0, "active_dims": 0}

    def votes(n: int) -> np.ndarray:  # (active codes x factors)
        ks, batches = obs.fixed_factor(n, batch_size)
        local = np.var(batches[:, :, active], axis=1, ddof=1)
        v = np.zeros((int(active.sum()), len(obs.truth.sizes)), dtype=np.int64)
        np.add.at(v, (np.argmin(local / global_var[active], axis=1), ks), 1)
        return v

    train, test = votes(num_train), votes(num_eval)
    classifier = np.argmax(train, axis=1)
    rows = np.arange(len(classifier))
    return {"factor_vae_train": float(train[rows, classifier].sum() / train.sum()),
            "factor_vae": float(test[rows, classifier].sum() / max(test.sum(), 1)),
            "active_dims": int(active.sum())}


def dci_scores(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (codes x factors), as
    disentanglement_lib's dci.py computes them: per code 1 - H_F(R_i. + 1e-11), weighted by the
    code's share of all importance; per factor 1 - H_D(R_.j + 1e-11), weighted by the factor's
    share. So a code or factor with no importance at all scores 0 and weighs nothing (an
    all-zero matrix: every weight equal, every score 0). One code or one factor: 1."""
    from scipy.stats import entropy

    r = np.asarray(importance, dtype=float)
    n_codes, n_factors = r.shape
    weights = r if r.sum() > 0 else np.ones_like(r)
    per_code = 1.0 - entropy(r.T + 1e-11, base=n_factors) if n_factors > 1 else np.ones(n_codes)
    per_factor = 1.0 - entropy(r + 1e-11, base=n_codes) if n_codes > 1 else np.ones(n_factors)
    return (float((per_code * weights.sum(axis=1) / weights.sum()).sum()),
            float((per_factor * weights.sum(axis=0) / weights.sum()).sum()))


def gain_importances(model: Any) -> np.ndarray:
    """Each feature's share of the loss reduction over all of the model's splits: the histogram
    model's counterpart of GradientBoostingClassifier.feature_importances_ (which sums impurity
    reductions), read from its fitted trees (sklearn keeps them in `_predictors`)."""
    total = np.zeros(model.n_features_in_)
    for stage in model._predictors:
        for tree in stage:
            split = tree.nodes[tree.nodes["is_leaf"] == 0]
            np.add.at(total, split["feature_idx"], split["gain"])
    return total / max(total.sum(), 1e-11)


def _boosted_trees(trees: str, seed: int, x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """A fitted boosted-tree classifier and its feature importances. "gbt": disentanglement_lib's
    GradientBoostingClassifier() (100 depth-3 trees per class, learning rate 0.1); "hist": the
    same trees and rate on 255 quantile bins per code (HistGradientBoostingClassifier), minutes
    faster on a CPU; docs/results.md compares the two."""
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

    if trees == "gbt":
        model = GradientBoostingClassifier(random_state=seed).fit(x, y)
        return model, np.abs(model.feature_importances_)
    if trees == "hist":
        model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_depth=3, min_samples_leaf=1,
                                               early_stopping=False, random_state=seed).fit(x, y)
        return model, gain_importances(model)
    raise ValueError(f"trees must be 'gbt' or 'hist', not {trees!r}")


def dci(obs: Fresh, num_train: int = 10_000, num_test: int = 5_000, trees: str = "gbt") -> dict[str, Any]:
    """DCI (Eastwood & Williams 2018) with gradient-boosted trees, as disentanglement_lib.
    Defaults: 10,000 train / 5,000 test points, sklearn's GradientBoostingClassifier() ("gbt";
    "hist" is the faster histogram version of the same trees, see `_boosted_trees`).

    Importance matrix R (codes x factors) from the trees; disentanglement and completeness as
    `dci_scores` (importance-weighted over codes, and over factors);
    informativeness = mean test accuracy of the per-factor classifiers."""
    x_train, y_train = obs.iid(num_train)
    x_test, y_test = obs.iid(num_test)
    n_codes, n_factors = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((n_codes, n_factors))
    train_acc, test_acc = [], []
    for j in range(n_factors):
        model, importance[:, j] = _boosted_trees(trees, int(obs.rng.integers(2**31)), x_train, y_train[:, j])
        train_acc.append(model.score(x_train, y_train[:, j]))
        test_acc.append(model.score(x_test, y_test[:, j]))
    disentanglement, completeness = dci_scores(importance)
    return {"dci_disentanglement": disentanglement, "dci_completeness": completeness,
            "dci_informativeness_train": float(np.mean(train_acc)),
            "dci_informativeness": float(np.mean(test_acc)), "dci_importance": importance.tolist()}


def sap(obs: Fresh, num_train: int = 10_000, num_test: int = 5_000) -> dict[str, Any]:
    """SAP score (Kumar et al. 2018), factors treated as discrete (disentanglement_lib's default).
    Defaults: 10,000 train / 5,000 test points, LinearSVC(C=0.01, class_weight="balanced").

    For each (code, factor), the test accuracy of a linear classifier on that single code;
    per factor the gap between the two best codes; averaged over factors."""
    from sklearn.svm import LinearSVC

    x_train, y_train = obs.iid(num_train)
    x_test, y_test = obs.iid(num_test)
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


def modularity_explicitness(obs: Fresh, num_train: int = 10_000, num_test: int = 5_000, bins: int = 20
                            ) -> dict[str, Any]:
    """Modularity and explicitness (Ridgeway & Zemel 2018). Defaults: 10,000 train / 5,000 test
    points, 20 bins for MI, sklearn's LogisticRegression() for explicitness.

    Modularity: each code should carry MI about one factor only (1 - normalised deviation
    from an ideal one-factor template). Explicitness: mean one-vs-rest ROC AUC of a linear
    classifier predicting each factor's value from all codes, z-scored first with the training
    points' mean and standard deviation as disentanglement_lib does (`utils.normalize_data`), so
    the regulariser of LogisticRegression sees every code on one scale. A constant code (σ 0,
    where disentanglement_lib would divide by zero) is only centred."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer

    x_train, y_train = obs.iid(num_train)
    x_test, y_test = obs.iid(num_test)
    sq = mutual_info_matrix(discretize(x_train, bins), y_train) ** 2
    max_sq = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - max_sq) / (max_sq * (sq.shape[1] - 1))
    modularity = np.where(max_sq == 0, 0.0, 1.0 - delta)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    train_auc, test_auc = [], []
    for j in range(y_train.shape[1]):
        classes = np.unique(y_train[:, j])
        if classes.size < 2:
            continue
        clf = LogisticRegression(max_iter=1000).fit(x_train, y_train[:, j])
        mlb = MultiLabelBinarizer(classes=list(range(obs.truth.sizes[j])))
        for x, y, out in ((x_train, y_train, train_auc), (x_test, y_test, test_auc)):
            proba = clf.predict_proba(x)
            onehot = mlb.fit_transform([[v] for v in y[:, j]])
            aucs = [roc_auc_score(onehot[:, c], proba[:, ci]) for ci, c in enumerate(clf.classes_)
                    if 0 < onehot[:, c].sum() < len(y)]
            out.append(np.mean(aucs))
    return {"modularity": float(np.mean(modularity)), "explicitness_train": float(np.mean(train_auc)),
            "explicitness": float(np.mean(test_auc))}


ALL = (mig, factor_vae, dci, sap, modularity_explicitness)


# how far "fast" may fall from "reference" on the same representation (absolute): the largest
# gap measured on known answers and a trained dSprites run (docs/results.md) with a margin; the
# two estimators draw different observations, so these include each metric's sampling noise.
# Modularity's is wide because with uninformative codes it is a ratio of small biased MIs.
TOLERANCE = {"mig": 0.02, "factor_vae": 0.05, "dci_disentanglement": 0.03, "dci_completeness": 0.03,
             "dci_informativeness": 0.03, "sap": 0.02, "modularity": 0.1, "explicitness": 0.02}


def evaluate_all(represent: Represent, truth: GroundTruth, seed: int = 0, scale: float = 1.0,
                 on_metric: Callable[[str, int, int], None] | None = None, estimator: str = "fast"
                 ) -> dict[str, Any]:
    """Every metric with its defaults; `scale` < 1 shrinks all sample counts for a quick look.
    `on_metric(name, index, count)` is called as each stage starts.

    "reference": disentanglement_lib's procedure, each metric on observations of its own and DCI
    with GradientBoostingClassifier (556 s for a 64x64 dSprites encoder on 2 CPU cores, 358 s of
    it 960,000 encodings for FactorVAE's votes and 167 s DCI's trees). "fast": one
    `Pool` of observations (as many as the hungriest metric asks for, 15,000 at scale 1) encoded
    once and shared, and DCI with the histogram trees; docs/results.md has both side by side."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
    out: dict[str, Any] = {"seed": seed, "scale": scale, "estimator": estimator}
    counts = {"num_train", "num_test", "num_eval", "num_variance"}
    kwargs = {fn: {k: max(int(v.default * scale), 64) for k, v in inspect.signature(fn).parameters.items()
                   if k in counts} for fn in ALL}
    stages = len(ALL) + (estimator == "fast")
    pool = None
    if estimator == "fast":
        # independent observations each metric reads: FactorVAE's num_train counts votes, not images
        size = max(kw.get("num_variance") or kw.get("num_train", 0) + kw.get("num_test", 0) for kw in kwargs.values())
        if on_metric:
            on_metric(f"encoding {size:,} images", 0, stages)
        pool = Pool(represent, truth, np.random.default_rng(seed), size)
    for i, fn in enumerate(ALL, start=stages - len(ALL)):
        if on_metric:
            on_metric(fn.__name__, i, stages)
        if pool is None:
            obs: Fresh = Fresh(represent, truth, np.random.default_rng(seed))
        else:
            pool.rewind()
            obs = pool
        extra = {"trees": "hist" if pool is not None else "gbt"} if fn is dci else {}
        out.update(fn(obs, **kwargs[fn], **extra))
    return out


def factor_truth(data: Any) -> GroundTruth:
    """Ground truth over a complete factor grid (data.ImageData of dSprites: its images, factors
    and factor names): factors -> the matching images."""
    sizes = tuple(int(v) + 1 for v in data.factors.max(0).values)
    if int(np.prod(sizes)) != len(data):
        raise RunError("factor metrics need the complete factor grid (evaluate without a subset)")
    return GroundTruth(sizes, lambda f: data.images[torch.from_numpy(np.ravel_multi_index(f.T, sizes))],
                       data.factor_names)
