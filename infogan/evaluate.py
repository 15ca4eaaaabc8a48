"""Evaluation of a saved checkpoint: Q as a classifier, latent traversals, eval.json.

BatchNorm mode: G runs in eval mode (running statistics, which it accumulated on the same
prior it is sampled from). Q runs on *batch* statistics of real test batches (500 images),
without touching the running buffers: during training D's BatchNorm only ever normalises
all-real or all-fake batches, so its running averages mix two distributions and suit neither."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import mutual_info_score
from torchvision.utils import make_grid

from . import latent
from .config import Config
from .data import ImageData, has_test_split, load, png_bytes, to_float
from .models import Discriminator, Generator, QOut, build
from .runs import Run, RunError, atomic_write, load_weights, write_json
from .train import generate


@dataclass
class Model:
    cfg: Config
    step: int
    G: Generator
    D: Discriminator


def load_model(run: Run, step: int | None = None, device: str = "cpu") -> Model:
    """Load a run's checkpoint (the newest when `step` is None) for evaluation."""
    steps = run.checkpoint_steps()
    if not steps:
        raise RunError(f"run {run.name!r} has no checkpoint yet")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise RunError(f"run {run.name!r} has no checkpoint at step {step}; it has {steps}")
    cfg, s, g_state, d_state = load_weights(run.weights_path(step))
    g, d = build(cfg)
    try:
        g.load_state_dict(g_state)
        d.load_state_dict(d_state)
    except RuntimeError as exc:
        raise RunError(f"checkpoint {run.weights_path(step)} does not match its config "
                       f"({str(exc).splitlines()[0]})") from None
    return Model(cfg, s, g.to(device).eval(), d.to(device).eval())


@torch.no_grad()
def encode(d: Discriminator, images: torch.Tensor, batch_size: int = 500) -> QOut:
    """Q's posterior for real uint8 images, on batch statistics (see module docstring)."""
    q_net = copy.deepcopy(d).train()
    dev = next(q_net.parameters()).device
    outs = [q_net(to_float(images[i:i + batch_size].to(dev)))[1]
            for i in range(0, len(images), batch_size)]
    return QOut([torch.cat([o.logits[j] for o in outs]).cpu() for j in range(len(outs[0].logits))],
                torch.cat([o.mu for o in outs]).cpu(), torch.cat([o.logvar for o in outs]).cpu())


def hungarian_accuracy(pred: np.ndarray, labels: np.ndarray, k: int, n_labels: int
                       ) -> tuple[float, np.ndarray, list[int]]:
    """Best one-to-one code-to-label matching (scipy's linear_sum_assignment).

    Returns accuracy, the confusion matrix (codes x labels) and, for each label, the code
    matched to it: reorder the confusion matrix's rows by it to see the diagonal."""
    conf = np.zeros((k, n_labels), dtype=np.int64)
    np.add.at(conf, (pred, labels), 1)
    rows, cols = linear_sum_assignment(conf, maximize=True)
    order = [int(r) for _, r in sorted(zip(cols, rows))]
    return float(conf[rows, cols].sum() / max(len(labels), 1)), conf, order


def categorical_accuracy(model: Model, data: ImageData, code: str | None = None,
                         device: str = "cpu") -> dict[str, Any]:
    """Unsupervised accuracy of a categorical code used as a classifier on labelled data."""
    codes = [c for c in latent.codes_of(model.cfg) if c.kind == "cat"]
    if not codes:
        raise RunError("this run has no categorical code to use as a classifier")
    if data.labels is None:
        raise RunError("this dataset has no labels, so accuracy cannot be measured")
    q = encode(model.D.to(device), data.images)
    labels = data.labels.numpy()
    n_labels = int(labels.max()) + 1
    results = {}
    for c in codes if code is None else [c for c in codes if c.name == code]:
        pred = q.logits[c.index].argmax(1).numpy()
        acc, conf, order = hungarian_accuracy(pred, labels, c.k, n_labels)
        results[c.name] = {"accuracy": acc, "confusion": conf.tolist(), "label_to_code": order}
    best = max(results, key=lambda n: results[n]["accuracy"])
    return {"best_code": best, "accuracy": results[best]["accuracy"], "codes": results,
            "n_images": len(labels)}


def discretize(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """Equal-width histogram bins per column (disentanglement_lib's default: 20 bins)."""
    values = np.atleast_2d(values.T).T
    out = np.zeros(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        edges = np.histogram(values[:, j], bins)[1]
        out[:, j] = np.digitize(values[:, j], edges[:-1])
    return out


def code_values(cfg: Config, q: QOut) -> tuple[list[str], np.ndarray]:
    """Q's point estimate per code (argmax for categorical, mean for continuous), as columns."""
    cols = [lg.argmax(1).numpy() for lg in q.logits] + [q.mu[:, j].numpy() for j in range(q.mu.shape[1])]
    return cfg.code_names, np.stack(cols, 1)


def code_label_nmi(model: Model, data: ImageData, device: str = "cpu") -> dict[str, Any]:
    """I(code; label) / H(label) for every code: continuous codes in 20 equal-width bins."""
    q = encode(model.D.to(device), data.images)
    names, values = code_values(model.cfg, q)
    labels = data.labels.numpy()
    h = mutual_info_score(labels, labels)
    nmi = [float(mutual_info_score(labels, v if names[j] in _cat_names(model.cfg) else discretize(v)[:, 0]) / h)
           for j, v in enumerate(values.T)]
    return {"codes": names, "nmi": nmi}


def _cat_names(cfg: Config) -> set[str]:
    return {c.name for c in latent.codes_of(cfg) if c.kind == "cat"}


def traversal_grid(model: Model, code: str, seeds: list[int] | None = None,
                   values: list[float] | None = None, base_cat: dict[str, int] | None = None,
                   base_cont: dict[str, float] | None = None) -> tuple[torch.Tensor, list[float]]:
    """A (3, H, W) grid in [0, 1]: rows = noise seeds, columns = values of `code`."""
    seeds = list(range(8)) if seeds is None else seeds
    dev = next(model.G.parameters()).device
    lat, values = latent.traversal(model.cfg, code, seeds, values, base_cat, base_cont, dev)
    imgs = generate(model.G, model.cfg, lat)
    return make_grid(imgs, nrow=len(values), padding=2, pad_value=0.5), values


def generate_one(model: Model, seed: int, cat: dict[str, int], cont: dict[str, float]) -> torch.Tensor:
    """One image (C, H, W) in [0, 1] for the interactive generator."""
    dev = next(model.G.parameters()).device
    return generate(model.G, model.cfg, latent.fixed(model.cfg, [seed], cat, cont, dev))[0]


def evaluate_run(run: Run, step: int | None = None, device: str = "cpu",
                 test_data: ImageData | None = None) -> dict[str, Any]:
    """Everything that applies to this run's dataset; written to the run's eval.json."""
    model = load_model(run, step, device)
    out: dict[str, Any] = {"step": model.step, "time": time.time(), "dataset": model.cfg.dataset}
    if test_data is not None or has_test_split(model.cfg):
        data = test_data if test_data is not None else load(model.cfg, train=False)
        if model.cfg.cat_codes:
            out["categorical"] = categorical_accuracy(model, data, device=device)
        out["code_label_nmi"] = code_label_nmi(model, data, device)
    previous = run.eval_results() or {}
    by_step = previous.get("by_step", {}) if isinstance(previous, dict) else {}
    by_step[str(model.step)] = {k: v for k, v in out.items() if k != "by_step"}
    write_json(run.path / "eval.json", {**out, "by_step": by_step})
    return out


def save_grid_png(grid: torch.Tensor, path: Path) -> None:
    atomic_write(path, png_bytes(grid))
