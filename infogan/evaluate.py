"""Evaluation of a saved checkpoint (checkpoint.py loads it): Q as a classifier of the labels,
the continuous codes' effects, the factor metrics, sample quality; eval.json.

Q reads real images with BatchNorm statistics re-estimated on the evaluation images themselves
(checkpoint.real_data_encoder): transductive, as a reader comparing with published accuracies
should know."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import mutual_info_score

from . import latent, quality
from .budget import FULL, Budget
from .checkpoint import Model, code_values, encode, encoder_for, load_model
from .data import ImageData, has_test_split, load
from .datasets import has_factors
from .film import nearest, render_film
from .judge import JudgeTooWeak, Progress, judge_for, judge_key
from .metrics import Pool, discretize, evaluate_all, factor_truth, mig
from .models import QOut, generate
from .runs import Run, RunError


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


def categorical_accuracy(model: Model, data: ImageData, code: str | None = None, q: QOut | None = None
                         ) -> dict[str, Any]:
    """Unsupervised accuracy of a categorical code used as a classifier on labelled data
    (`q`: Q's outputs on `data` when the caller has them already)."""
    codes = [c for c in latent.codes_of(model.cfg) if c.kind == "cat"]
    if not codes:
        raise RunError("this run has no categorical code to use as a classifier")
    if data.labels is None:
        raise RunError("this dataset has no labels, so accuracy cannot be measured")
    q = q or encode(encoder_for(model, data), data.images)
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


def category_labels(result: dict[str, Any] | None) -> dict[str, dict[int, int]]:
    """From an evaluation (eval.json's entry for one step): per categorical code, the label that
    the Hungarian matching gave each category, so a reading of "category 3" can say "label 6".
    Read from the stored confusion matrix (codes x labels), the matching redone: with fewer
    categories than labels, `label_to_code` lists only the matched labels' codes, so a position
    in it is not a label. A damaged entry gives no names rather than wrong ones."""
    codes = ((result or {}).get("categorical") or {}).get("codes") or {}
    out = {}
    for name, r in codes.items() if isinstance(codes, dict) else ():
        try:
            conf = np.asarray(r["confusion"], dtype=float)
            if conf.ndim != 2 or not np.isfinite(conf).all():
                continue
        except (KeyError, TypeError, ValueError):
            continue
        rows, cols = linear_sum_assignment(conf, maximize=True)
        out[name] = {int(c): int(y) for c, y in zip(rows, cols)}
    return out


def labels_near(run: Run, step: int) -> tuple[int | None, dict[str, dict[int, int]]]:
    """`category_labels` of the run's evaluation nearest to `step` (the earlier on a tie), and
    that evaluation's step; (None, {}) when the run has no readable evaluation."""
    try:
        by_step = (run.eval_results() or {}).get("by_step") or {}
    except RunError:
        return None, {}
    near = nearest([int(k) for k in by_step], step)
    return (None, {}) if near is None else (near, category_labels(by_step[str(near)]))


def aligned_order(a: dict[int, int], b: dict[int, int], k: int) -> list[int] | None:
    """For run A's categories 0..k-1, the category of run B that its evaluation matched to the
    same label (`category_labels` of each run): B's columns laid out in this order line up with
    A's. None when either run leaves a category unlabelled or a label of A has no category in B,
    since a partial alignment would look aligned where it is not."""
    by_label = {y: c for c, y in b.items()}
    if set(a) != set(range(k)) or set(b) != set(range(k)) or len(by_label) != k:
        return None
    order = [by_label.get(a[j]) for j in range(k)]
    return order if None not in order else None


def code_label_nmi(model: Model, data: ImageData, q: QOut | None = None) -> dict[str, Any]:
    """I(code; label) / H(label) for every code: continuous codes in 20 equal-width bins."""
    q = q or encode(encoder_for(model, data), data.images)
    names, values = code_values(model.cfg, q)
    values[:, len(model.cfg.cat_codes):] = discretize(values[:, len(model.cfg.cat_codes):])
    labels = data.labels.numpy()
    h = mutual_info_score(labels, labels)
    return {"codes": names, "nmi": [float(mutual_info_score(labels, v) / h) for v in values.T]}


def image_moments(images: torch.Tensor) -> dict[str, np.ndarray]:
    """Slant, width and stroke thickness of each image (B, 1, H, W) in [0, 1].

    slant = cov(x, y) / var(y) (how far x shifts per row, positive = leaning right with y
    pointing up); width = std of x weighted by pixel mass. thickness = 2 * ink / edge length
    (a stroke of length L and thickness t has ink L*t and two edges of length L): MNIST's third
    big factor, which a continuous code often takes instead of width, so it gets named too."""
    m = images[:, 0].double()
    h, w = m.shape[1:]
    ys, xs = torch.meshgrid(-torch.arange(h, dtype=torch.double), torch.arange(w, dtype=torch.double),
                            indexing="ij")
    mass = m.sum((1, 2)).clamp_min(1e-9)
    cx, cy = (m * xs).sum((1, 2)) / mass, (m * ys).sum((1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    var_x, var_y = (m * dx**2).sum((1, 2)) / mass, (m * dy**2).sum((1, 2)) / mass
    cov = (m * dx * dy).sum((1, 2)) / mass
    padded = torch.nn.functional.pad(m, (0, 1, 0, 1))
    gx, gy = padded[:, :-1, 1:] - m, padded[:, 1:, :-1] - m
    edge = (gx**2 + gy**2).sqrt().sum((1, 2)).clamp_min(1e-9)
    return {"slant": (cov / var_y.clamp_min(1e-9)).numpy(), "width": var_x.sqrt().numpy(),
            "thickness": (2 * mass / edge).numpy()}


def continuous_code_effects(model: Model, n_seeds: int = 64, values: list[float] | None = None
                            ) -> dict[str, Any]:
    """How each continuous code moves the slant / width / thickness of generated images, and the
    one-to-one best match for slant and width (issue #6 asks |rho| >= 0.8 for each, on two codes).

    Each noise seed gets one traversal (other codes held at 0, categorical codes cycled over
    their values). `codes`: the Spearman correlation per seed, averaged, so other inputs stay
    fixed. Spearman only says a code moves a measure steadily, a slight steady tilt scores 1.0
    too, so `effect` says how far: the mean change from the first to the last value, in standard
    deviations of that measure over all the traversal images."""
    from scipy.stats import spearmanr

    values = values or torch.linspace(-1, 1, 9).tolist()
    cats = [c for c in latent.codes_of(model.cfg) if c.kind == "cat"]
    device = next(model.G.parameters()).device
    paths: dict[str, dict[str, np.ndarray]] = {}  # code -> measure -> (seeds, values)
    for code in (c for c in latent.codes_of(model.cfg) if c.kind == "cont"):
        rows = [latent.traversal(model.cfg, code.name, [seed], values, base_cat={c.name: seed % c.k for c in cats},
                                 device=device)[0] for seed in range(n_seeds)]
        # one batch per code (G in eval mode: an image depends on its own latent only)
        lat = latent.Latent(*(torch.cat([getattr(r, f) for r in rows]) for f in ("z", "cat", "cont")))
        moments = image_moments(generate(model.G, model.cfg, lat))  # row-major: seed, then value
        paths[code.name] = {k: v.reshape(n_seeds, len(values)) for k, v in moments.items()}
    measures = list(next(iter(paths.values()), {}))
    spread = {k: max(float(np.concatenate([p[k].ravel() for p in paths.values()]).std()), 1e-9) for k in measures}
    # a code that changes nothing scores 0; "nothing" allows rounding noise (1e-6 of the measure's
    # sd), which sums in another order on another CPU and would otherwise be ranked as a signal
    corr = {c: {k: float(np.mean([spearmanr(values, row).statistic if np.ptp(row) > 1e-6 * spread[k] else 0.0
                                  for row in v])) for k, v in p.items()} for c, p in paths.items()}
    effect = {c: {k: float((v[:, -1] - v[:, 0]).mean() / spread[k]) for k, v in p.items()} for c, p in paths.items()}
    return {"codes": corr, "effect": effect, "best": match_codes(corr, ("slant", "width"))}


def match_codes(corr: dict[str, dict[str, float]], measures: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """One code per measure, each code used once, maximising the summed |Spearman| (Hungarian):
    a code that moves both slant and width cannot claim both, so the check asks for two codes."""
    from scipy.optimize import linear_sum_assignment

    codes = list(corr)
    if not codes:
        return {}
    score = np.array([[abs(corr[c][m]) for m in measures] for c in codes])
    rows, cols = linear_sum_assignment(score, maximize=True)
    return {measures[j]: {"code": codes[i], "spearman": corr[codes[i]][measures[j]]} for i, j in zip(rows, cols)}


def factor_metrics(model: Model, data: ImageData, which: str = "basic", seed: int = 0,
                   scale: float = 1.0, on_metric: Callable[[str, int, int], None] | None = None,
                   estimator: str = "fast") -> dict[str, Any]:
    """MIG (basic) or every metric in `metrics` (all), with Q's point estimates as the codes.
    `scale` shrinks every sample count, the BatchNorm reference set's too (10,000 images at
    scale 1, never under 1,000): a quick look stays quick."""
    truth = factor_truth(data)
    q_net = encoder_for(model, data, max(int(10_000 * min(scale, 1.0)), 1_000))
    represent = lambda imgs: code_values(model.cfg, encode(q_net, imgs))[1]
    if which == "all":
        res = evaluate_all(represent, truth, seed, scale, on_metric, estimator)
    else:
        n = max(int(10_000 * scale), 64)
        res = mig(Pool(represent, truth, np.random.default_rng(seed), n), num_train=n)
    return {**res, "factor_names": list(truth.names), "code_names": model.cfg.code_names}


def evaluate_run(run: Run, step: int | None = None, metrics: str = "basic", scale: float = 1.0,
                 device: str = "cpu", test_data: ImageData | None = None,
                 progress: Progress | None = None, estimator: str = "fast", sample_quality: bool = True,
                 budget: Budget = FULL) -> dict[str, Any]:
    """Everything that applies to this run's dataset; merged into the run's eval.json.

    Labelled test split: categorical accuracy and code/label NMI. Ground-truth factors: MIG
    and the normalised MI matrix (basic), or all disentanglement metrics (all) with the "fast" or
    "reference" estimator (metrics.evaluate_all). Datasets with a judge (judge.py, trained on
    first use), unless `sample_quality` is False: sample quality against as many held-out images as the
    accuracy uses (quality.py).
    `progress` hears the name of each stage as it starts (the CLI's bar, the dashboard's job file).
    `budget` caps the test images and picks the judge (budget.py). A judge below its accuracy
    floor scores nothing: `quality_skipped` says why, and the other numbers are kept."""
    with run.lease("eval"):  # one evaluation of a run at a time, from any process or machine
        say = progress or (lambda what, done: None)
        say("loading the checkpoint", 0.0)
        model = load_model(run, step, device)
        cfg = model.cfg
        out: dict[str, Any] = {"step": model.step, "time": time.time(), "dataset": cfg.dataset}
        if test_data is not None or has_test_split(cfg):
            say("loading the test images", 0.05)
            data = test_data if test_data is not None else load(cfg, train=False, test_images=budget.test_images)
            say("encoding the test images", 0.15)
            q = encode(encoder_for(model, data), data.images)  # once, for both measures
            if cfg.cat_codes:
                say("categorical accuracy (Q on the test images)", 0.5)
                out["categorical"] = categorical_accuracy(model, data, q=q)
            say("code/label mutual information", 0.55)
            out["code_label_nmi"] = code_label_nmi(model, data, q=q)
            if cfg.channels == 1 and cfg.n_cont:
                say("continuous code effects (slant, width, thickness)", 0.75)
                out["continuous"] = continuous_code_effects(model)
        elif has_factors(cfg.dataset):
            say("loading the factor grid", 0.05)
            data = load(cfg.replace(subset=0))
            out["factors"] = factor_metrics(
                model, data, metrics, scale=scale, estimator=estimator,
                on_metric=lambda name, i, n: say(f"{name} ({i + 1} of {n})", 0.1 + 0.8 * i / n))
        if sample_quality and judge_key(cfg.dataset):
            run.save_eval(_with_saved(run, out))  # read at once: a first judge trains for minutes
            try:
                judge = judge_for(cfg, progress=lambda what, done: say(what, 0.8 + 0.1 * done), budget=budget)
            except JudgeTooWeak as exc:  # no number is read through it; the rest stands
                out["quality_skipped"] = str(exc)
            else:
                say("sample quality: Fréchet distance, precision/recall in the judge's features", 0.92)
                labelled = has_test_split(cfg) or test_data is not None
                n = budget.cap(min(quality.N_FD, len(data)) if labelled else quality.N_FD)
                out["quality"] = quality.sample_quality(model.G, cfg, quality.reference(judge, cfg, n))
        run.save_eval(_with_saved(run, out))
        say("done", 1.0)
        return out


def _with_saved(run: Run, out: dict[str, Any]) -> dict[str, Any]:
    """`out` as saved: what an earlier evaluation of the same checkpoint computed and this one did
    not stays (the weights are the same), so `eval --no-quality` keeps the sample quality and a
    basic evaluation keeps every metric of an `all` one (whose MIG and matrix it would repeat)."""
    try:
        saved = run.eval_result(out["step"]) or {}
    except RunError:
        return out  # a damaged eval.json is replaced
    kept = dict(out)
    if not {"quality", "quality_skipped"} & set(out):
        kept.update({k: saved[k] for k in ("quality", "quality_skipped") if k in saved})
    basic, every = "factors" in out and "factor_vae" not in out["factors"], saved.get("factors")
    if basic and isinstance(every, dict) and "factor_vae" in every:
        kept["factors"] = every  # the all-metrics set holds MIG and the matrix too
    return kept


def needs_eval(run: Run, step: int, metrics: str = "basic", quality: bool = True) -> bool:
    """No saved evaluation of this checkpoint yet (or, for "all", not with every metric; with
    `quality`, not with sample quality where the dataset has a judge: an evaluation stopped while
    its judge trained saved the rest; one whose judge was too weak says so and is done)."""
    try:
        res = run.eval_result(step)
    except RunError:
        return True  # an unreadable eval.json is replaced
    if res is None:
        return True
    if quality and not {"quality", "quality_skipped"} & set(res) and judge_key(str(res.get("dataset") or "")):
        return True
    factors = res.get("factors")  # only datasets with ground-truth factors have them
    return metrics == "all" and isinstance(factors, dict) and "factor_vae" not in factors


def evaluate_steps(run: Run, metrics: str = "basic", scale: float = 1.0, device: str = "cpu",
                   progress: Progress | None = None, estimator: str = "fast", sample_quality: bool = True,
                   budget: Budget = FULL) -> list[int]:
    """Every kept checkpoint that has no evaluation yet, oldest first: the points of the
    metrics-over-training chart. Checkpoints without a film panel get theirs on the way. A run
    still training prunes old checkpoints meanwhile: a step whose weights are gone by the time
    its turn comes is skipped, and the last progress line names it. Returns the steps evaluated."""
    with run.lease("eval"):  # one evaluation of a run at a time, from any process or machine
        say = progress or (lambda what, done: None)
        render_film(run, lambda what, done: say(what, 0.0))
        todo = [s for s in run.checkpoint_steps() if needs_eval(run, s, metrics, sample_quality)]
        test_data = load(run.config(), train=False, test_images=budget.test_images) \
            if has_test_split(run.config()) else None
        done, skipped = [], []
        for i, step in enumerate(todo):
            def stage(what: str, frac: float, i: int = i, step: int = step) -> None:
                say(f"step {step} ({i + 1} of {len(todo)}): {what}", (i + frac) / len(todo))

            try:
                evaluate_run(run, step, metrics, scale, device, test_data, stage, estimator, sample_quality, budget)
            except RunError:
                if step in run.checkpoint_steps():
                    raise
                skipped.append(step)  # pruned by the trainer since the list was made
                continue
            done.append(step)
        say("done" + (f"; skipped step(s) {', '.join(map(str, skipped))}: pruned by the trainer meanwhile"
                      if skipped else ""), 1.0)
        return done


