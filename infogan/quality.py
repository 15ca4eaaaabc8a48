"""How good the images are, read in the judge's features (judge.py), and how close they come to
copying the training set.

- **Fréchet distance** (Heusel et al. 2017, "GANs trained by a two time-scale update rule..."):
  between Gaussians fitted to the features of generated images and of the real held-out split,
  in float64 by torchmetrics' route (`_compute_fid`: tr sqrt(S1 S2) as the sum of the square
  roots of S1 S2's eigenvalues, no matrix square root). Written out here rather than imported:
  `import torchmetrics` loads torchvision and torch._dynamo, 2.4 s in every process that
  evaluates; tests check it against pytorch-fid's `scipy.linalg.sqrtm` route. The judge runs once
  and its features serve every number here.
- **Classifier score**: exp(E_x KL(p(y|x) || p(y))), the Inception-score formula (Salimans et
  al. 2016) with the judge's class probabilities, as TF-GAN's `mnist_score`; one split. At most
  the number of classes; real data scores near it.
- **Precision, recall** (Kynkäänniemi et al. 2019) and **density, coverage** (Naeem et al. 2020,
  "Reliable fidelity and diversity metrics for generative models"): the `prdc` package (the
  latter paper's authors' code), k = 5 nearest neighbours (Naeem et al.'s recommendation; the
  same k for all four), Euclidean distances.

Defaults: 10,000 generated images against 10,000 held-out real ones for FD and the score (fewer
when the split holds fewer), 5,000 of each for the k-NN numbers (their cost grows with the
square). FD is biased by the sample size, so each number comes with its **floor**: the same
number for as many real training images against the same held-out images, what real data
scores. Generated images are drawn from the prior with a fixed seed and quantised to uint8 as
real images are stored."""

from __future__ import annotations

import contextlib
import functools
import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import latent
from .config import Config
from .data import Rendered, load
from .datasets import has_factors
from .files import version
from .judge import Judge, load_judge, splits
from .models import Generator, generate_uint8
from .scores import LABELS, QUALITY

N_FD, N_KNN, NEAREST_K = 10_000, 5_000, 5


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FD between two sets of feature vectors (N, D): |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root_trace = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(np.complex128)).real.sum()
    fd = np.square(real.mean(0) - fake.mean(0)).sum() + np.trace(s1) + np.trace(s2) - 2 * root_trace
    return max(float(fd), 0.0)  # rounding can leave -1e-9 for identical sets


def classifier_score(probs: np.ndarray) -> float:
    """exp(mean KL(p(y|x) || p(y))) over the set (N, classes)."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def prdc(real: np.ndarray, fake: np.ndarray, k: int = NEAREST_K) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake` against `real` (prdc.compute_prdc)."""
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        res = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {name: float(v) for name, v in res.items()}


def numbers(real_feats: np.ndarray, fake_feats: np.ndarray, fake_probs: np.ndarray,
            n_knn: int = N_KNN) -> dict[str, float]:
    """Every number of the module doc for one generated (or real) set against the held-out set."""
    out = {"fd": frechet_distance(real_feats, fake_feats), "score": classifier_score(fake_probs)}
    return out | prdc(real_feats[:n_knn], fake_feats[:n_knn])


@dataclass
class Reference:
    """The held-out real images' features, and the floor: a training sample scored like a run."""

    judge: Judge
    test_feats: np.ndarray
    floor: dict[str, float]
    n: int
    n_knn: int


_REFERENCES: dict[tuple, Reference] = {}


def reference(judge: Judge, cfg: Config, n: int = N_FD, n_knn: int = N_KNN) -> Reference:
    """Features of n held-out images (at most the split's size) and the floor at the same
    sizes, kept in memory per judge file, so evaluating every checkpoint computes them once."""
    key = (str(judge.path), version(judge.path), cfg.dataset, n, n_knn)
    if key not in _REFERENCES:
        train, test = splits(cfg)
        n = min(n, len(test), len(train))
        pick = lambda size: torch.randperm(size, generator=torch.Generator().manual_seed(1))[:n]
        test_feats, _ = judge.run(test.images[pick(len(test))])
        train_feats, train_probs = judge.run(train.images[pick(len(train))])
        _REFERENCES[key] = Reference(judge, test_feats, numbers(test_feats, train_feats, train_probs, n_knn),
                                     n, min(n_knn, n))
    return _REFERENCES[key]


def sample_quality(g: Generator, cfg: Config, ref: Reference, seed: int = 0) -> dict[str, Any]:
    """The numbers for G's images (n of them, from the prior, seeded) with their floor."""
    t0 = time.perf_counter()
    lat = latent.sample(cfg, ref.n, device=next(g.parameters()).device,
                        generator=torch.Generator(next(g.parameters()).device).manual_seed(seed))
    feats, probs = ref.judge.run(generate_uint8(g, cfg, lat).cpu())
    out = numbers(ref.test_feats, feats, probs, ref.n_knn)
    return {**{k: round(v, 5) for k, v in out.items()}, "floor": {k: round(v, 5) for k, v in ref.floor.items()},
            "n": ref.n, "n_knn": ref.n_knn, "k": NEAREST_K, "seed": seed,
            "judge": {"dataset": ref.judge.dataset, "accuracy": round(ref.judge.accuracy, 5),
                      "file": ref.judge.path.name, "trained": ref.judge.info["trained"]},
            "seconds": round(time.perf_counter() - t0, 2)}


# MNIST's 60,000 all; a drawn set's images are drawn for it, a fixed sample that a server holds
NEAREST_POOL, NEAREST_POOL_DRAWN = 100_000, 20_000


def pool_key(cfg: Config) -> Config:
    """What decides a run's training pool: its dataset as read, not its seed or learning rate
    (so every run of a dataset shares one pool in memory)."""
    return Config(dataset=cfg.dataset, data_dir=str(cfg.resolved_data_dir().resolve()), image_size=cfg.image_size,
                  channels=cfg.channels, download=False)


def training_pool(cfg: Config) -> torch.Tensor:
    """The training images searched for neighbours: all of them up to NEAREST_POOL (MNIST's
    60,000), else a fixed random sample of them, only those read or drawn (20,000 of a drawn
    set's: dSprites' 737,280, 3D Shapes' 480,000)."""
    return _pool(pool_key(cfg))


@functools.lru_cache(maxsize=1)
def _pool(key: Config) -> torch.Tensor:
    images = load(key.replace(subset=NEAREST_POOL_DRAWN if has_factors(key.dataset) else NEAREST_POOL)).images
    return images[:] if isinstance(images, Rendered) else images


def _chunked_cdist(a: torch.Tensor, rows: torch.Tensor, chunk: int = 5_000) -> torch.Tensor:
    """Distances from `a` to every row, made float a chunk at a time (uint8 pixel rows stay
    uint8: a chunk of 5,000 64x64 images is 82 MB as floats, the pool 1.6 GB)."""
    scale = 255.0 if rows.dtype == torch.uint8 else 1.0
    return torch.cat([torch.cdist(a, rows[i:i + chunk].flatten(1).float().div_(scale))
                      for i in range(0, len(rows), chunk)], 1)


@functools.lru_cache(maxsize=4)
def _space(key: Config, space: str, judge_file: str = "", judge_version: tuple = ()) -> tuple[torch.Tensor, float]:
    """A space's rows for the training pool (its uint8 pixels, read in [0, 1], or the judge's
    features) and its typical gap: the median distance from 200 pool images to their nearest
    other one. Both depend on the pool alone, so a page that searches on every rerun computes
    them once per dataset."""
    pool = _pool(key)
    if space == "pixels":
        rows = pool
    else:
        rows = torch.from_numpy(load_judge(key.dataset, key.resolved_data_dir()).run(pool)[0])
    probe = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[:200]
    near = _chunked_cdist(rows[probe].flatten(1).float() / (255.0 if space == "pixels" else 1.0), rows)
    return rows, float(near.topk(2, largest=False).values[:, 1].median())


def nearest_real(cfg: Config, image: torch.Tensor, k: int = 8, judge: Judge | None = None
                 ) -> dict[str, dict[str, Any]]:
    """The k training images nearest one generated uint8 image (C, H, W): in pixels (Euclidean,
    pixels in [0, 1]) and, with a judge, in its features: the memorisation check. Per space: the
    pool indices, the distances, and for scale `typical`, the median distance from 200 training
    images to their own nearest other training image there (a copy sits far below it)."""
    key = pool_key(cfg)
    queries = {"pixels": (_space(key, "pixels"), image.flatten().float()[None] / 255)}
    if judge is not None:
        queries = {"features": (_space(key, "features", str(judge.path), version(judge.path)),
                                torch.from_numpy(judge.run(image[None])[0])), **queries}
    out = {}
    for space, ((rows, typical), query) in queries.items():
        d, idx = _chunked_cdist(query, rows)[0].topk(min(k, len(rows)), largest=False)
        out[space] = {"index": idx.tolist(), "distance": d.tolist(), "typical": typical}
    return out


def describe(q: dict[str, Any]) -> str:
    """One line for people: each number with the floor (real data's value) in brackets."""
    floor = q.get("floor") or {}
    parts = [f"{LABELS[k]} {q[k]:.3g} (real {floor[k]:.3g})" if k in floor else f"{LABELS[k]} {q[k]:.3g}"
             for k in QUALITY if isinstance(q.get(k), (int, float))]
    judge = q.get("judge") or {}
    return (f"sample quality in the judge's features ({q.get('n')} images; judge test accuracy "
            f"{judge.get('accuracy', float('nan')):.2%}): " + ", ".join(parts))
