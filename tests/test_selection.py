"""ModelCentrality's known answers on synthetic members whose images carry their codes in
known pixels, so what each encoder can recover is known exactly."""

import numpy as np
import pytest
import torch

from infogan.selection import (
    Candidate,
    categorical_partition,
    centrality,
    cross_scores,
    factor_vae_score,
    partition_agreement,
    spreads,
)

N_CODES = 4  # one categorical (K=5) and three continuous codes


def synthetic(name: str, write: list[int], read: list[int] | None, noise: float = 0.01) -> Candidate:
    """Images are 8 pixels: code k written at pixel write[k] (the rest noise); the encoder reads
    code k from pixel read[k], or is a random projection when read is None (a broken Q)."""
    kinds = ["cat", "cont", "cont", "cont"]
    proj = torch.randn(8, N_CODES, generator=torch.Generator().manual_seed(7))

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([rng.integers(0, 5, (n, 1)), rng.uniform(-1, 1, (n, 3))], 1)

    def render(codes: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        img = rng.normal(0, 1, (len(codes), 8))
        img[:, write] = codes + rng.normal(0, noise, codes.shape)
        return torch.from_numpy(img).float()

    def fixed(votes: int, batch: int, rng: np.random.Generator):
        held = rng.integers(0, N_CODES, votes)
        codes = draw(votes * batch, rng)
        anchor = draw(votes, rng)
        rows = np.arange(votes * batch) // batch
        codes[np.arange(len(codes)), held[rows]] = anchor[rows, held[rows]]
        return held, render(codes, rng)

    def encode(images: torch.Tensor) -> np.ndarray:
        if read is None:
            out = (images @ proj).numpy()
            out[:, 0] = np.floor(np.abs(out[:, 0])) % 5
            return out
        out = images[:, read].numpy().copy()
        out[:, 0] = np.clip(np.round(out[:, 0]), 0, 4)
        return out

    return Candidate(name, kinds, fixed, lambda n, rng: render(draw(n, rng), rng), encode)


def test_spreads_of_a_held_category_and_a_held_value_are_zero():
    batch = np.array([[[2, 0.5, 0.1], [2, 0.5, -0.7], [2, 0.5, 0.9]]])  # (1 vote, 3 images, 3 codes)
    s = spreads(batch, ["cat", "cont", "cont"], axis=1)
    assert s.shape == (1, 3)
    assert s[0, 0] == 0.0 and s[0, 1] == 0.0 and s[0, 2] > 0.5
    mixed = np.array([[0], [0], [1], [2]])
    assert spreads(mixed, ["cat"], axis=0)[0] == 0.5


def test_factor_vae_score_is_one_for_a_perfect_encoder_and_ignores_collapsed_codes():
    held = np.array([0, 1, 0, 1])
    batches = np.random.default_rng(0).normal(size=(4, 10, 3))
    batches[np.arange(4), :, held] = 0.3  # the held code is constant in its batch
    batches[..., 2] = 0.0  # a collapsed code never varies
    free = np.random.default_rng(1).normal(size=(100, 3))
    free[:, 2] = 0.0
    assert factor_vae_score(held, batches, free, ["cont"] * 3, 2) == 1.0


def test_model_centrality_known_answers():
    order = [0, 1, 2, 3]
    perm = [0, 3, 1, 2]  # the continuous codes in another order: written and read there
    members = [synthetic("a", order, order), synthetic("a-copy", order, order),
               synthetic("permuted", perm, perm), synthetic("random-q", order, None)]
    cross = cross_scores(members, seed=0, votes=200, batch=16, n_free=500)
    # identical and permuted members recover each other's codes perfectly
    assert np.all(cross[:3, :3] > 0.95), cross
    # a random Q recovers nobody's codes, but its generator is fine: others read its images
    assert np.all(cross[:, 3] < 0.6), cross
    assert np.all(cross[3, :3] > 0.95), cross
    cent = centrality(cross)
    assert cent.argmin() == 3
    assert cent[:3].min() - cent[3] > 0.15, cent
    assert abs(cent[0] - cent[1]) < 0.02 and abs(cent[0] - cent[2]) < 0.02, cent


def test_partition_consensus_picks_a_good_member_over_one_with_a_collapsed_code():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 2000)

    def member(noise: float, seed: int) -> np.ndarray:  # truth under its own names, a share of images moved
        r = np.random.default_rng(seed)
        part = r.permutation(10)[truth]
        moved = r.random(len(part)) < noise
        part[moved] = r.integers(0, 10, moved.sum())
        return part

    collapsed = np.minimum(truth, 2)  # a code that uses 3 of its 10 values: 8 classes in one
    parts = [member(0.05, 1), member(0.10, 2), collapsed, member(0.05, 3), member(0.20, 4)]
    nmi, ari = partition_agreement(parts)
    assert np.allclose(nmi, nmi.T) and np.allclose(np.diag(nmi), 1.0) and np.allclose(np.diag(ari), 1.0)
    for scores in (centrality(nmi), centrality(ari)):
        assert int(np.argmin(scores)) == 2  # the collapsed member agrees least with the others
        assert int(np.argmax(scores)) in (0, 3)  # a 5%-noise member is the pick
        assert scores[0] > scores[1] > scores[4]  # and agreement falls with the noise
    # the names of the categories do not matter: renaming a member's categories changes nothing
    renamed = [parts[0], np.random.default_rng(9).permutation(10)[parts[1]], *parts[2:]]
    assert np.allclose(partition_agreement(renamed)[0], nmi)


def test_categorical_partition_joins_every_categorical_code():
    codes = np.array([[0, 1, 0.3], [0, 1, -0.2], [1, 1, 0.0], [0, 0, 0.9]])  # two categorical codes, one continuous
    part = categorical_partition(codes, ["cat", "cat", "cont"])
    assert part[0] == part[1] and len(set(part)) == 3
    assert categorical_partition(codes[:, 2:], ["cont"]) is None


def test_the_pick_is_compared_with_factor_scores_where_members_have_them():
    """On dSprites there are no labels: FactorVAE and MIG from the members' evaluations take
    accuracy's place beside the label-free criteria (never used to pick)."""
    import pandas as pd

    from infogan.selection import _against
    from infogan.sweeps import selection_table

    res = {"pick": "a", "names": ["a", "b", "c"], "centrality": [0.9, 0.1, 0.5],
           "criteria": {"centrality": [0.9, 0.1, 0.5]}, "ranking": ["a", "c", "b"]}
    out = _against(res, pd.Series({"a": 0.8, "b": 0.5, "c": 0.6}), "factor_vae")
    assert (out["pick"], out["best"], out["median"], out["n"]) == (0.8, 0.8, 0.6, 3)
    assert out["spearman_centrality_factor_vae"] == pytest.approx(1.0)
    assert out["criteria"]["centrality"]["top_factor_vae"] == 0.8
    final = pd.DataFrame({"member": ["a", "b", "c"], "factor_vae": [0.8, 0.5, 0.6], "mig": [None] * 3})
    table = selection_table(res, final)
    assert list(table.columns) == ["rank", "member", "centrality", "accuracy", "factor_vae"]
    assert table["member"].tolist() == ["a", "c", "b"] and table["factor_vae"].tolist() == [0.8, 0.6, 0.5]
