"""Known-answer tests of the disentanglement metrics on synthetic ground truth."""

import zlib

import numpy as np
import pytest

from infogan import metrics
from infogan.metrics import GroundTruth

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


@pytest.mark.parametrize("rep", [identity, permuted_rescaled])
def test_factor_aligned_codes_score_about_one(rep):
    assert metrics.mig(rep, TRUTH, rng(), **N)["mig"] > 0.95
    fv = metrics.factor_vae(rep, TRUTH, rng(), num_train=300, num_eval=200, num_variance=2000)
    assert fv["factor_vae"] == pytest.approx(1.0) and fv["active_dims"] == 4
    d = metrics.dci(rep, TRUTH, rng(), num_train=1000, num_test=500)
    assert d["dci_disentanglement"] > 0.9 and d["dci_completeness"] > 0.9 and d["dci_informativeness"] > 0.95
    me = metrics.modularity_explicitness(rep, TRUTH, rng(), num_train=2000, num_test=1000)
    assert me["modularity"] > 0.95 and me["explicitness"] > 0.85
    # SAP is the gap in raw single-code accuracy: with 4-10 classes and an L2-regularised linear
    # SVM (C=0.01) even perfect codes stay well below 1, so it is checked against random codes
    assert metrics.sap(rep, TRUTH, rng(), num_train=2000, num_test=1000)["sap"] > 0.15


def test_sap_of_binary_factors_is_the_gap_to_chance():
    binary = GroundTruth((2, 2, 2), render=lambda f: f.astype(float))
    # a perfect code classifies its factor (accuracy 1), the next best is at chance (0.5)
    assert metrics.sap(identity, binary, rng(), num_train=2000, num_test=1000)["sap"] == pytest.approx(0.5, abs=0.05)


def test_random_codes_score_about_zero():
    assert metrics.mig(random_codes, TRUTH, rng(), **N)["mig"] < 0.05
    fv = metrics.factor_vae(random_codes, TRUTH, rng(), num_train=300, num_eval=300, num_variance=2000)
    assert fv["factor_vae"] < 0.45  # chance is 1/4 for four factors
    d = metrics.dci(random_codes, TRUTH, rng(), num_train=1000, num_test=500)
    assert d["dci_disentanglement"] < 0.2 and d["dci_completeness"] < 0.2
    assert metrics.sap(random_codes, TRUTH, rng(), num_train=2000, num_test=1000)["sap"] < 0.05
    assert metrics.modularity_explicitness(random_codes, TRUTH, rng(), **N, num_test=1000)["explicitness"] < 0.6


def test_mixing_two_factors_into_one_code_lowers_mig():
    clean = metrics.mig(identity, TRUTH, rng(), **N)
    mix = metrics.mig(mixed, TRUTH, rng(), **N)
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
