"""Known-answer tests of the disentanglement metrics on synthetic ground truth."""

import zlib

import numpy as np
import pytest

from infogan import metrics
from infogan.metrics import Fresh, GroundTruth, Pool
from infogan.scores import GROUND_TRUTH

SIZES = (4, 6, 10, 8)
TRUTH = GroundTruth(SIZES, render=lambda f: f.astype(float), names=("a", "b", "c", "d"))
N = dict(num_train=2000)
PERM, SCALE = [2, 0, 3, 1], np.array([0.3, -2.0, 5.0, 0.01])


def identity(obs):
    return obs


def permuted_rescaled(obs):
    return obs[:, PERM] * SCALE + 7.0


def random_codes(obs):
    """Noise that is the same for the same observations in every process (crc32, not the salted hash)."""
    return np.random.default_rng(zlib.crc32(obs.tobytes())).normal(size=(len(obs), 4))


def mixed(obs):  # factors a and b summed into one code (b also has its own); c and d untouched
    return np.stack([obs[:, 0] + obs[:, 1], obs[:, 1], obs[:, 2], obs[:, 3]], 1)


def rng():
    return np.random.default_rng(0)


def fresh(rep):
    return Fresh(rep, TRUTH, rng())


def pooled(rep):  # as many observations as the hungriest call below reads (2,000 + 1,000)
    return Pool(rep, TRUTH, rng(), 3000)


@pytest.mark.parametrize("source,trees", [(fresh, "gbt"), (pooled, "hist")])
@pytest.mark.parametrize("rep", [identity, permuted_rescaled])
def test_factor_aligned_codes_score_about_one(rep, source, trees):
    assert metrics.mig(source(rep), **N)["mig"] > 0.95
    fv = metrics.factor_vae(source(rep), num_train=300, num_eval=200, num_variance=2000)
    assert fv["factor_vae"] == pytest.approx(1.0) and fv["active_dims"] == 4
    d = metrics.dci(source(rep), num_train=1000, num_test=500, trees=trees)
    assert d["dci_disentanglement"] > 0.9 and d["dci_completeness"] > 0.9 and d["dci_informativeness"] > 0.95
    me = metrics.modularity_explicitness(source(rep), num_train=2000, num_test=1000)
    assert me["modularity"] > 0.95 and me["explicitness"] > 0.85
    # SAP is the gap in raw single-code accuracy: with 4-10 classes and an L2-regularised linear
    # SVM (C=0.01) even perfect codes stay well below 1, so it is checked against random codes
    assert metrics.sap(source(rep), num_train=2000, num_test=1000)["sap"] > 0.15


def test_sap_of_binary_factors_is_the_gap_to_chance():
    binary = GroundTruth((2, 2, 2), render=lambda f: f.astype(float))
    # a perfect code classifies its factor (accuracy 1), the next best is at chance (0.5)
    sap = metrics.sap(Fresh(identity, binary, rng()), num_train=2000, num_test=1000)["sap"]
    assert sap == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("source,trees", [(fresh, "gbt"), (pooled, "hist")])
def test_random_codes_score_about_zero(source, trees):
    assert metrics.mig(source(random_codes), **N)["mig"] < 0.05
    fv = metrics.factor_vae(source(random_codes), num_train=300, num_eval=300, num_variance=2000)
    assert fv["factor_vae"] < 0.45  # chance is 1/4 for four factors
    d = metrics.dci(source(random_codes), num_train=1000, num_test=500, trees=trees)
    assert d["dci_disentanglement"] < 0.2 and d["dci_completeness"] < 0.2
    assert metrics.sap(source(random_codes), num_train=2000, num_test=1000)["sap"] < 0.05
    assert metrics.modularity_explicitness(source(random_codes), **N, num_test=1000)["explicitness"] < 0.6


def test_mixing_two_factors_into_one_code_lowers_mig():
    clean = metrics.mig(Fresh(identity, TRUTH, rng()), **N)
    mix = metrics.mig(Fresh(mixed, TRUTH, rng()), **N)
    assert mix["mig"] < clean["mig"] - 0.2
    per = mix["mig_per_factor"]
    assert per[2] > 0.95 and per[3] > 0.95  # untouched factors still perfect
    assert np.asarray(mix["normalized_mi"]).shape == (4, 4)


def test_evaluate_all_is_seeded_and_scaled():
    a = metrics.evaluate_all(identity, TRUTH, seed=3, scale=0.02)
    b = metrics.evaluate_all(identity, TRUTH, seed=3, scale=0.02)
    assert a == b
    for key in ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap",
                "modularity", "explicitness"):
        assert 0.0 <= a[key] <= 1.0, key


def test_the_pool_hands_out_disjoint_rows_and_batches_with_one_factor_fixed():
    pool = Pool(identity, TRUTH, rng(), 500)
    train, _ = pool.iid(300)
    test, _ = pool.iid(200)
    assert np.array_equal(np.concatenate([train, test]), pool.codes)  # consecutive, no overlap
    with pytest.raises(ValueError, match="the pool has 500 observations, 501 were asked for"):
        pool.iid(1)
    pool.rewind()
    assert np.array_equal(pool.iid(300)[0], train)
    ks, batches = pool.fixed_factor(50, 16)
    assert batches.shape == (50, 16, 4)
    for k, batch in zip(ks, batches):  # identity codes are the factors: column k is constant
        assert np.ptp(batch[:, k]) == 0 and np.ptp(batch, axis=0).sum() > 0


def test_gain_importances_find_the_one_informative_code():
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = rng().normal(size=(2000, 4))
    y = (x[:, 2] > 0).astype(int) + (x[:, 2] > 1)
    imp = metrics.gain_importances(HistGradientBoostingClassifier(max_iter=20, max_depth=3).fit(x, y))
    assert imp.sum() == pytest.approx(1.0) and imp[2] > 0.9


def test_fast_and_reference_estimators_agree_on_a_known_answer():
    """The side-by-side of docs/results.md in small: two factors mixed into one code, scored both
    ways (identity and random codes are checked for each source above)."""
    fast = metrics.evaluate_all(mixed, TRUTH, seed=1, scale=0.2, estimator="fast")
    ref = metrics.evaluate_all(mixed, TRUTH, seed=1, scale=0.2, estimator="reference")
    assert 0.8 < ref["dci_disentanglement"] < 0.9 and 0.65 < ref["mig"] < 0.75  # neither perfect nor random
    assert (fast["estimator"], ref["estimator"]) == ("fast", "reference")
    assert tuple(metrics.TOLERANCE) == GROUND_TRUTH  # every scalar the tables show has a tolerance
    assert all(isinstance(fast[k], float) for k in GROUND_TRUTH)
    for key, tol in metrics.TOLERANCE.items():
        assert fast[key] == pytest.approx(ref[key], abs=tol), key


def test_explicitness_is_z_scored_as_disentanglement_lib_does():
    """disentanglement_lib normalises every code with the training mean and standard deviation
    before its logistic regressions: codes on very different scales (here 1e-3 and 1e3) score
    as the same codes on one scale would, within sampling noise."""
    same = metrics.modularity_explicitness(pooled(identity), num_train=2000, num_test=1000)
    scaled = metrics.modularity_explicitness(
        pooled(lambda obs: identity(obs) * np.array([1e-3, 1.0, 1e3, 1.0])), num_train=2000, num_test=1000)
    assert same["explicitness"] > 0.95
    assert scaled["explicitness"] == pytest.approx(same["explicitness"], abs=0.005)
    assert scaled["modularity"] == pytest.approx(same["modularity"], abs=1e-6)
