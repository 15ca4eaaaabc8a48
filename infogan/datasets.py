"""The datasets, one record each: everything the package, the CLI and the pages know of a
dataset, from a name (disentanglement_lib's `named_data` does the same). Adding a dataset is a
record here plus its loader in data.py's LOADERS; tests/test_datasets.py checks that every
record is complete and the commands list the same datasets, and the page tests that the Train
and sweep forms do (tests/test_dashboard.py, tests/test_sweeps_page.py).

Imports nothing of the package but dsprites.py (its factors), so config.py (presets,
validation) and data.py (loaders, files) can both read it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .dsprites import FACTOR_NAMES, factor_sizes

IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# the paper's objective and layouts off MNIST: the jitter term, the third continuous code and 10
# epochs were measured on MNIST only
PAPER = {"lambda_cat_jitter": 0.0, "epochs": 20}


@dataclass(frozen=True)
class Dataset:
    name: str  # as a Config names it; "dsprites" also stands for "dsprites:S", "folder" for "folder:PATH"
    usage: str  # the name as a user types it (`train --help`)
    help: str  # one line: what it is (`train --help`)
    label: str  # the Train form's preset choice
    image_size: int
    channels: int
    preset: Callable[[str], dict[str, Any]]  # the full name -> the Config fields its preset sets
    labels: int = 0  # classes of its labelled test split (0: no test split)
    factors: tuple[str, ...] = ()  # ground-truth factor names (their sizes: dsprites.factor_sizes)
    folder: str = ""  # where its files go in the data folder
    files: tuple[str, ...] = ()  # the files that must be there (none for a generated or a user's set)
    dark_background: bool = False  # light shapes on black: an upload with a light border is inverted
    resized: bool = False  # its images are resized to image_size (else they come at that size)

    @property
    def judged(self) -> bool:
        """A judge can be trained: it needs labels or factors."""
        return bool(self.labels or self.factors)


_DSPRITES = re.compile(r"^dsprites(?::([1-8]))?$")


def dsprites_stride(name: str) -> int | None:
    """'dsprites' -> 1, 'dsprites:4' -> 4 (every 4th orientation and position), else None."""
    m = _DSPRITES.match(name)
    return None if m is None else int(m.group(1) or 1)


def _dsprites_preset(name: str) -> dict[str, Any]:
    """InfoGAN-CR's recipe (Lin et al. 2020; their InfoGAN-CR_dSprites code)."""
    steps_per_epoch = math.prod(factor_sizes(dsprites_stride(name) or 1)) // 64  # 11,520 on the full set
    return {**PAPER, "arch": "infogan-cr", "d_batchnorm": False, "spectral_norm": True, "output": "sigmoid",
            "noise_dim": 5, "noise_prior": "uniform", "cat_codes": (), "n_cont": 5, "fixed_sigma": True,
            "lambda_cont": 0.05, "lr_g": 1e-3, "lr_d": 2e-3, "g_steps": 2, "batch_size": 64, "epochs": 28,
            "lambda_cr": 2.0, "cr_start": 25 * steps_per_epoch,  # 288,000 steps before CR on the full set
            "disent_every": 2000, "log_every": 100, "sample_every": 2000, "ckpt_every": 4000}


RECORDS = (
    Dataset("mnist", "mnist", "MNIST digits, 28x28 grey, labelled (test accuracy of the categorical code)",
            "MNIST (62 noise, Cat(10), 3 continuous; the paper has 2)", 28, 1, lambda name: {}, labels=10,
            folder="MNIST/raw", files=IDX, dark_background=True),
    Dataset("fashion-mnist", "fashion-mnist", "Fashion-MNIST clothes, 28x28 grey, labelled", "Fashion-MNIST", 28, 1,
            lambda name: {**PAPER, "n_cont": 2}, labels=10, folder="FashionMNIST/raw", files=IDX,
            dark_background=True),
    Dataset("svhn", "svhn", "SVHN house numbers, 32x32 RGB, labelled",
            "SVHN (paper: 124 noise, 4 x Cat(10), 4 continuous)", 32, 3,
            lambda name: {**PAPER, "noise_dim": 124, "cat_codes": (10, 10, 10, 10), "n_cont": 4, "lr_g": 1e-3,
                          "lr_d": 2e-4}, labels=10, folder="SVHN", files=("train_32x32.mat", "test_32x32.mat")),
    Dataset("dsprites", "dsprites[:S]", "the built-in dSprites-style shapes with ground-truth factors, 64x64, drawn "
            "here (S = 2..8 keeps every S-th orientation and position: a smaller set)",
            "dSprites-style, built in (InfoGAN-CR's recipe: 5 continuous codes, CR from 288k steps)", 64, 1,
            _dsprites_preset, factors=FACTOR_NAMES, folder="dsprites",
            dark_background=True),
    Dataset("folder", "folder:PATH", "any folder of images (class subfolders give labels), resized to image_size",
            "Image folder, e.g. CelebA (64x64 RGB, 10 x Cat(10))", 64, 3,
            lambda name: {**PAPER, "noise_dim": 128, "cat_codes": (10,) * 10, "n_cont": 0}, resized=True),
)
REGISTRY = {d.name: d for d in RECORDS}
BUILTIN = tuple(d.name for d in RECORDS if d.name != "folder")  # named by their name alone


def has_factors(name: str) -> bool:
    """A ground-truth dataset (factor metrics, a judge per factor, a grid split)."""
    rec = record(name)
    return rec is not None and bool(rec.factors)


def record(name: str) -> Dataset | None:
    """The record of a dataset as a Config names it ("dsprites:4", "folder:/x" included), or None."""
    if dsprites_stride(name):
        return REGISTRY["dsprites"]
    if name.startswith("folder:") and len(name) > 7:
        return REGISTRY["folder"]
    return REGISTRY.get(name) if name in BUILTIN else None
