"""The judge: a small CNN classifier trained here, on a dataset's own labelled training split,
in whose penultimate features sample quality is measured (quality.py) and nearest real images
are found.

Why not Inception: its weights cannot be downloaded here, and on 28x28 digits Inception's
features say little (pytorch-fid's maintainer advises against it, mseitzer/pytorch-fid#12; the
FID authors suggest a classifier trained on the data itself, bioinf-jku/TTUR#24; TF-GAN's
`mnist_frechet_distance` and `mnist_score` use exactly that). So numbers are comparable between
runs of one dataset judged by one judge, not with published Inception FIDs.

Which data: MNIST, Fashion-MNIST and SVHN train on their labelled training split and report
accuracy on the test split; the dSprites-style set trains one head per ground-truth factor on
90% of the grid (a fixed permutation) and reports each head's accuracy on the other 10%, which
also serves as its "test split" here. Image folders have no judge.

Defaults: 4 epochs (ground-truth sets: 8 epochs over 50,000 images of the 90%, 3,120 steps),
and more where that is under MIN_STEPS optimiser steps (the coarse grids dsprites:S: 2 epochs of
dsprites:8's 1,296 images left the `small` trunk's shape head at 42%, 40 epochs reached 96%, and
`conv4`'s 100%), Adam lr 1e-3 decayed to 0 on a cosine, batch 128; the trunk is chosen by image
size (JudgeNet), and the features are the 128 values after its last ReLU. Trained on first use
and cached as `<data>/judges/<dataset>.safetensors` (`INFOGAN_JUDGES` moves the folder), the
weights with the judge's accuracy, trunk and budget in the file's metadata.

A judge scores samples only if its first head's held-out accuracy reaches FLOOR (80%): the
full judges measure 91-100% (docs/results.md), one trained on a few hundred images for an epoch
~14%, and the Fréchet distance in the features of a judge that cannot tell the classes apart
says little. A judge trained on INFOGAN_SMOKE's budget is kept apart, in `judges/smoke/`, and
only smoke-budget evaluations read it."""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .budget import FULL, Budget
from .config import Config, preset
from .data import ImageData, inference_batch, load, to_float
from .datasets import JUDGED, has_factors, record
from .files import FileError, atomic_via_temp, version
from .runs import RunError

FEATURES = 128
FORMAT = "infogan-explorer/judge/1"
FLOOR = 0.8  # the least first-head test accuracy a judge needs to score samples (module doc)
MIN_STEPS = 400  # optimiser steps a judge takes at the least, unless its epochs are given
GRID_HELD_OUT, GRID_TRAIN, GRID_EPOCHS = 0.1, 50_000, 8  # a ground-truth set's judge (module doc)

# (what is being computed, fraction done): how a judge's training and an evaluation report to a bar
Progress = Callable[[str, float], None]


class NoJudge(RunError):
    """This dataset has no labels to train a judge on (image folders)."""


def judge_key(dataset: str) -> str | None:
    """The cache name of a dataset's judge, or None when it cannot have one (it needs labels or
    ground-truth factors: its record in datasets.py)."""
    rec = record(dataset)
    return dataset.replace(":", "-") if rec is not None and rec.judged else None


def require_key(dataset: str) -> str:
    key = judge_key(dataset)
    if key is None:
        raise NoJudge(f"no judge exists for {dataset!r}: quality numbers need a labelled dataset or "
                      f"ground-truth factors ({JUDGED})")
    return key


class JudgeTooWeak(RunError):
    """The judge's held-out accuracy is below FLOOR, or it was trained on a test budget."""


def judges_dir(data_dir: Path) -> Path:
    return Path(os.environ.get("INFOGAN_JUDGES") or Path(data_dir) / "judges")


def judge_path(dataset: str, data_dir: Path | str, budget: Budget = FULL) -> Path:
    """Where a dataset's judge of `budget` lives: a smoke judge in a folder of its own, which no
    full-budget reader opens."""
    folder = judges_dir(Path(data_dir))
    return (folder if not budget.smoke else folder / budget.name) / f"{require_key(dataset)}.safetensors"


def trunk_for(size: int) -> str:
    """The trunk a judge of `size`x`size` images is trained with (JudgeNet's doc says why)."""
    return "conv4" if size >= 64 else "small"


class JudgeNet(nn.Module):
    """A trunk to FEATURES values (the features), then one linear head per label set.

    `small` (28x28 and 32x32): three 3x3 convolutions (32, 64, 128 channels; the last two stride 2)
    with BatchNorm, pooled to 4x4, FC 128. `conv4` (64x64): disentanglement_lib's convolutional
    encoder (Locatello et al. 2019, `architectures.conv_encoder`: four 4x4 stride-2 convolutions,
    32, 32, 64, 64 channels, ReLU) with BatchNorm after each and FC 128 in place of its 256. On
    dSprites `small` left shape at 45-65% held out after 780-2,340 steps, averaging 16x16 maps
    whose cells see 9x9 pixels; `conv4` reaches 94-95% in 3,120 steps, each a tenth of `small`'s
    time; without BatchNorm 91%, and 40% on dsprites:8's 400 steps (docs/results.md, "The
    dSprites judge: a 64x64 trunk")."""

    def __init__(self, channels: int, heads: tuple[int, ...], trunk: str = "small") -> None:
        super().__init__()
        self.heads = tuple(heads)
        if trunk == "conv4":
            self.trunk = nn.Sequential(
                nn.Conv2d(channels, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Flatten(), nn.Linear(64 * 16, FEATURES), nn.ReLU())
        elif trunk == "small":
            self.trunk = nn.Sequential(
                nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
                nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128 * 16, FEATURES), nn.ReLU())
        else:
            raise ValueError(f"unknown judge trunk {trunk!r}")
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, sum(self.heads))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f = self.trunk(x)
        return f, list(self.head(self.dropout(f)).split(self.heads, dim=1))


@dataclass
class Judge:
    """A trained judge and what it was measured to be."""

    dataset: str
    net: JudgeNet
    info: dict[str, Any]  # accuracy (per head), budget, seconds, n_train, n_test
    path: Path

    @property
    def accuracy(self) -> float:
        """Test accuracy of the first head (the class; dSprites: shape)."""
        return float(self.info["accuracy"][0])

    @torch.no_grad()
    def run(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images -> (features (N, 128) float32, first head's class probabilities)."""
        self.net.eval()
        feats, probs = [], []
        batch_size = inference_batch(images.shape[-1])  # the judge runs on the CPU
        for i in range(0, len(images), batch_size):
            f, logits = self.net(to_float(images[i:i + batch_size]))
            feats.append(f)
            probs.append(logits[0].softmax(1))
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()


@torch.no_grad()
def predict_heads(net: JudgeNet, images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> (N, heads) each head's most likely class: the class, or every factor's
    value (how a judge is tested, and how a benchmark reads the factors of G's samples)."""
    b = inference_batch(images.shape[-1])
    return torch.cat([torch.stack([lg.argmax(1) for lg in net(to_float(images[i:i + b]))[1]], 1)
                      for i in range(0, len(images), b)])


def _labels(data: ImageData) -> torch.Tensor:
    """(N, heads) integer targets: the class, or every ground-truth factor."""
    return data.labels[:, None] if data.labels is not None else data.factors


def splits(cfg: Config) -> tuple[ImageData, ImageData]:
    """(training split, held-out split) the judge learns from and is tested on; dSprites: 90% /
    10% of the grid by a fixed permutation."""
    if has_factors(cfg.dataset):
        data = load(cfg.replace(subset=0))
        perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
        cut = int(len(data) * (1 - GRID_HELD_OUT))
        return data.subset(perm[:cut]), data.subset(perm[cut:])
    return load(cfg.replace(subset=0)), load(cfg, train=False)


def dataset_config(dataset: str, data_dir: Path | str) -> Config:
    return preset(dataset).replace(data_dir=str(data_dir), download=False)


def train_judge(cfg: Config, epochs: int | None = None, n_train: int = 0, seed: int = 0,
                progress: Progress | None = None, budget: Budget = FULL) -> Judge:
    """Train the dataset's judge and cache it where `budget`'s judges live (see the module doc
    for the defaults); `n_train` > 0 trains on a random subset of that many images (a quick
    judge, for tests); a budget's own limits cap both."""
    require_key(cfg.dataset)
    say = progress or (lambda what, done: None)
    say(f"judge for {cfg.dataset}: loading its training split", 0.0)
    train, test = splits(cfg)
    gen = torch.Generator().manual_seed(seed)
    n_train = n_train or (GRID_TRAIN if has_factors(cfg.dataset) else 0)
    if budget.judge_images:
        n_train, epochs = min(n_train or budget.judge_images, budget.judge_images), budget.judge_epochs
    if n_train and n_train < len(train):
        keep = torch.randperm(len(train), generator=gen)[:n_train]
        train = train.subset(keep)
    y_train, y_test = _labels(train), _labels(test)
    heads = tuple(int(max(y_train[:, j].max(), y_test[:, j].max())) + 1 for j in range(y_train.shape[1]))
    if budget.test_images and len(test) > budget.test_images:  # a budget's cap: the first N held out
        test, y_test = test.subset(torch.arange(budget.test_images)), y_test[:budget.test_images]
    batch = 128
    epochs = epochs or max(GRID_EPOCHS if has_factors(cfg.dataset) else 4,
                           math.ceil(MIN_STEPS / max(1, len(train) // batch)))
    torch.manual_seed(seed)
    trunk = trunk_for(cfg.image_size)
    net = JudgeNet(cfg.channels, heads, trunk)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    steps = epochs * (len(train) // batch)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    t0 = time.perf_counter()
    step = 0
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(train), generator=gen).split(batch):
            if len(idx) < batch:
                continue
            _, logits = net(train.batch(idx))
            loss = sum(nn.functional.cross_entropy(lg, y_train[idx, j]) for j, lg in enumerate(logits))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            decay.step()
            step += 1
            if step % 50 == 0:
                left = (time.perf_counter() - t0) / step * (steps - step) / 60
                say(f"training the judge for {cfg.dataset} (once per dataset, then cached): step {step:,} of "
                    f"{steps:,}, loss {loss.item():.3f}, about {left:.0f} min left", 0.9 * step / steps)
    seconds = time.perf_counter() - t0
    say(f"judge for {cfg.dataset}: testing on {len(test)} held-out images", 0.9)
    acc = (predict_heads(net.eval(), test.images) == y_test).double().mean(0).tolist()
    info = {"format": FORMAT, "dataset": cfg.dataset, "heads": list(heads),
            "head_names": list(test.factor_names) or ["class"], "accuracy": acc, "trunk": trunk,
            "epochs": epochs, "steps": step, "n_train": len(train), "n_test": len(test), "seed": seed,
            "budget": budget.name, "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
            "trained": time.time()}
    path = judge_path(cfg.dataset, cfg.resolved_data_dir(), budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_via_temp(path, lambda tmp: save_file(net.state_dict(), tmp, metadata={"info": json.dumps(info)}))
    _CACHE.pop(str(path), None)
    say(f"judge for {cfg.dataset}: test accuracy {acc[0]:.2%}", 1.0)
    return Judge(cfg.dataset, net.eval(), info, path)


_CACHE: dict[str, tuple[tuple[int, int, int], Judge]] = {}


def load_judge(dataset: str, data_dir: Path | str, budget: Budget = FULL) -> Judge | None:
    """The cached judge of a dataset, or None when none has been trained yet (kept in memory
    until its file changes). A full-budget judge below FLOOR, or one whose file says it was
    trained on another budget, raises JudgeTooWeak with the remedy."""
    path = judge_path(dataset, data_dir, budget)
    try:
        seen = version(path)
    except FileNotFoundError:
        return None
    hit = _CACHE.get(str(path))
    if hit and hit[0] == seen:
        return check_judge(hit[1], budget)  # a weak judge stays refused when read again
    try:
        with safe_open(str(path), "pt") as f:
            info = json.loads((f.metadata() or {})["info"])
        if info.get("format") != FORMAT:
            raise ValueError(f"format {info.get('format')!r}")
        net = JudgeNet(preset(dataset).channels, tuple(info["heads"]), info.get("trunk", "small"))
        net.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:
        raise FileError(f"judge {path} is unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                        "delete it to train a new one") from None
    judge = Judge(dataset, net.eval(), info, path)
    _CACHE[str(path)] = (seen, judge)
    return check_judge(judge, budget)


def check_judge(judge: Judge, budget: Budget = FULL) -> Judge:
    """`judge`, if it may score samples on `budget` (module doc); else JudgeTooWeak in one line."""
    trained_on = judge.info.get("budget", "full")  # files written before budgets were recorded: full
    fix = (f"retrain it: python -m infogan judge --dataset {judge.dataset} --retrain (or evaluate without "
           "sample quality: eval --no-quality)")
    if trained_on != budget.name:
        raise JudgeTooWeak(f"judge {judge.path} was trained on the {trained_on} budget, not {budget.name}; {fix}")
    if not budget.smoke and judge.accuracy < FLOOR:
        raise JudgeTooWeak(f"judge {judge.path} has {judge.accuracy:.1%} held-out accuracy (trained on "
                           f"{judge.info.get('n_train', '?')} images for {judge.info.get('epochs', '?')} epoch(s)), "
                           f"below the {FLOOR:.0%} a judge needs to score samples; {fix}")
    return judge


def cached_judge(dataset: str, data_dir: Path | str, budget: Budget = FULL) -> Judge | None:
    """The judge `judge_for` would use without training one, or None (errors as `load_judge`)."""
    if budget.smoke:
        try:
            if (judge := load_judge(dataset, data_dir)) is not None:
                return judge
        except FileError:  # weak or unreadable: the full budget's to repair, not the test's
            pass
    return load_judge(dataset, data_dir, budget)


def judge_for(cfg: Config, progress: Progress | None = None, budget: Budget = FULL) -> Judge:
    """The dataset's judge: the cached one, or trained now (minutes on 2 CPU cores: about 5 for the 64x64 sets).
    Processes that need it at once (a sweep's trials) train it once: the others wait on a lock
    file beside it and then load it. A test budget reads a full judge where one is cached (it
    writes nothing a full run reads), else its own."""
    root = cfg.resolved_data_dir()
    judge = cached_judge(cfg.dataset, root, budget)
    if judge is not None:
        return judge
    path = judge_path(cfg.dataset, root, budget)
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            return load_judge(cfg.dataset, root, budget) or check_judge(
                train_judge(dataset_config(cfg.dataset, root), progress=progress, budget=budget), budget)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
