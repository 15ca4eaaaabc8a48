"""The datasets, one record each: everything the package, the CLI and the pages know of a
dataset, from a name (disentanglement_lib's `named_data` does the same). Adding a dataset is a
record here plus its loader in data.py's LOADERS; tests/test_datasets.py checks that every
record is complete and the commands list the same datasets, and the page tests that the Train
and sweep forms do (tests/test_dashboard.py, tests/test_sweeps_page.py).

A ground-truth set is drawn, not read: its record names its factors, their sizes and `draw`
(factor indices in, images out), and data.py's one loader for drawn sets serves it per batch.
Imports nothing of the package but the drawings (numpy only), so config.py (presets,
validation) and data.py (loaders, files) can both read it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dsprites, shapes3d

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
    factors: tuple[str, ...] = ()  # ground-truth factor names
    factor_sizes: Callable[[str], tuple[int, ...]] | None = None  # the full name -> each factor's size
    draw: Callable[[str, np.ndarray], np.ndarray] | None = None  # (full name, (N, F) indices) -> uint8 images
    swatch: Callable[[str, int], str | None] = lambda factor, index: None  # a factor value's colour, if it is one
    folder: str = ""  # where its files go in the data folder
    files: tuple[str, ...] = ()  # the files that must be there (none for a generated or a user's set)
    dark_background: bool = False  # light shapes on black: an upload with a light border is inverted
    resized: bool = False  # its images are resized to image_size (else they come at that size)
    train_images: int = 0  # its training split's size, for a run's length before it loads (0: unknown)

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
    steps_per_epoch = math.prod(dsprites.factor_sizes(dsprites_stride(name) or 1)) // 64  # 11,520 on the full set
    return {**PAPER, "arch": "infogan-cr", "d_batchnorm": False, "spectral_norm": True, "output": "sigmoid",
            "noise_dim": 5, "noise_prior": "uniform", "cat_codes": (), "n_cont": 5, "fixed_sigma": True,
            "lambda_cont": 0.05, "lr_g": 1e-3, "lr_d": 2e-3, "g_steps": 2, "batch_size": 64, "epochs": 28,
            "lambda_cr": 2.0, "cr_start": 25 * steps_per_epoch,  # 288,000 steps before CR on the full set
            "disent_every": 2000, "log_every": 100}


def _shapes3d_preset(name: str) -> dict[str, Any]:
    """dSprites' recipe on colour: one continuous code per factor, G updated twice per step, 4x its
    weight on the codes' information (0.2: the three hues own codes by step 1,500 instead of
    2,500-5,000), CR from step 1,000, once the hues have codes, with the pairs InfoGAN-CR drew for
    its 3D teapots (unshared codes at least 1.9 apart), on batches of 32: a step costs 0.58x one of
    64, so 30 minutes on 2 CPU cores are 8,500 steps instead of 5,200, and on the same 3 seeds and
    CPU FactorVAE / MIG there rose from 0.65 / 0.24 to 0.69 / 0.31 (docs/results.md,
    "shapes3d's preset")."""
    return {**_dsprites_preset("dsprites"), "n_cont": 6, "lambda_cont": 0.2, "batch_size": 32, "epochs": 2,
            "cr_start": 1_000, "cr_gap": 1.9, "disent_every": 500, "log_every": 50}


RECORDS = (
    Dataset("mnist", "mnist", "MNIST digits, 28x28 grey, labelled (test accuracy of the categorical code)",
            "MNIST (62 noise, Cat(10), 3 continuous; the paper has 2)", 28, 1, lambda name: {}, labels=10,
            train_images=60_000, folder="MNIST/raw", files=IDX, dark_background=True),
    Dataset("fashion-mnist", "fashion-mnist", "Fashion-MNIST clothes, 28x28 grey, labelled", "Fashion-MNIST", 28, 1,
            lambda name: {**PAPER, "n_cont": 2}, labels=10, train_images=60_000, folder="FashionMNIST/raw", files=IDX,
            dark_background=True),
    Dataset("svhn", "svhn", "SVHN house numbers, 32x32 RGB, labelled",
            "SVHN (paper: 124 noise, 4 x Cat(10), 4 continuous)", 32, 3,
            lambda name: {**PAPER, "noise_dim": 124, "cat_codes": (10, 10, 10, 10), "n_cont": 4, "lr_g": 1e-3,
                          "lr_d": 2e-4}, labels=10, train_images=73_257, folder="SVHN",
            files=("train_32x32.mat", "test_32x32.mat")),
    Dataset("dsprites", "dsprites[:S]", "the built-in dSprites-style shapes with ground-truth factors, 64x64, drawn "
            "here (S = 2..8 keeps every S-th orientation and position: a smaller set)",
            "dSprites-style, built in (InfoGAN-CR's recipe: 5 continuous codes, CR from 288k steps)", 64, 1,
            _dsprites_preset, factors=dsprites.FACTOR_NAMES, factor_sizes=lambda name: dsprites.factor_sizes(
                dsprites_stride(name)), draw=lambda name, f: dsprites.draw(f, dsprites_stride(name)),
            dark_background=True),
    Dataset("shapes3d", "shapes3d", "our drawing of 3D Shapes' layout with ground-truth factors (floor, wall and "
            "object hue, scale, shape, orientation), 64x64 RGB",
            "3D Shapes-style, built in (InfoGAN-CR's 64x64 nets, 6 continuous codes)", 64, 3,
            _shapes3d_preset, factors=shapes3d.FACTOR_NAMES, factor_sizes=lambda name: shapes3d.SIZES,
            draw=lambda name, f: shapes3d.draw(f), swatch=shapes3d.swatch),
    Dataset("folder", "folder:PATH", "any folder of images (class subfolders give labels), resized to image_size",
            "Image folder, e.g. CelebA (64x64 RGB, 10 x Cat(10))", 64, 3,
            lambda name: {**PAPER, "noise_dim": 128, "cat_codes": (10,) * 10, "n_cont": 0}, resized=True),
)
REGISTRY = {d.name: d for d in RECORDS}
JUDGED = ", ".join(d.usage for d in RECORDS if d.judged)  # the datasets a judge can be trained on, as typed
BUILTIN = tuple(d.name for d in RECORDS if d.name != "folder")  # named by their name alone


def has_factors(name: str) -> bool:
    """A ground-truth dataset (factor metrics, a judge per factor, a grid split)."""
    rec = record(name)
    return rec is not None and bool(rec.factors)


def train_images(name: str) -> int | None:
    """How many training images a dataset name has before any subset (None: unknown until read,
    as for an image folder): what the Train form needs for a run's length."""
    rec = record(name)
    if rec is None:
        return None
    if rec.factor_sizes is not None:
        return math.prod(rec.factor_sizes(name))
    return rec.train_images or None


def record(name: str) -> Dataset | None:
    """The record of a dataset as a Config names it ("dsprites:4", "folder:/x" included), or None."""
    if dsprites_stride(name):
        return REGISTRY["dsprites"]
    if name.startswith("folder:") and len(name) > 7:
        return REGISTRY["folder"]
    return REGISTRY.get(name) if name in BUILTIN else None
