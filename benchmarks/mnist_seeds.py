"""Seed sweep of the MNIST defaults: accuracy of the categorical code after every epoch, per seed.

    python benchmarks/mnist_seeds.py --seeds 0 1 2 3 4 --epochs 20 [--until 0.95] [--set lr_g=2e-4 ...]
    python benchmarks/mnist_seeds.py --seeds --extend checkpoints/mnist-...-s1 --epochs 10   # train a seed on

One JSON line per evaluated epoch, then one summary line per seed (final and best accuracy,
the epoch it first reached 95%, wall-clock minutes to 90% and 95%, the slant/width codes, every
continuous code's Spearman and effect size on slant/width/thickness, and the run folder, whose
final checkpoint makes the README's traversal pictures). `--until` ends a seed at the first epoch
that reaches that accuracy: on a CPU the budget goes to the seeds still short of it."""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
from pathlib import Path

from infogan.budget import SMOKE_DATA, current
from infogan.checkpoint import Model
from infogan.config import Config
from infogan.data import load
from infogan.evaluate import categorical_accuracy, continuous_code_effects
from infogan.runs import Run
from infogan.train import Trainer


def sweep_one(t: Trainer, test, until: float) -> dict:
    cfg = t.cfg
    hist, start, eval_s, stop = [], time.perf_counter(), 0.0, threading.Event()

    def on_log(rec: dict) -> None:
        nonlocal eval_s
        if rec["step"] % t.steps_per_epoch:
            return
        t0 = time.perf_counter()
        model = Model(cfg, t.step_no, t.G, t.D)
        acc = categorical_accuracy(model, test)["accuracy"]
        matched = continuous_code_effects(model)["best"]
        eval_s += time.perf_counter() - t0
        row = {"seed": cfg.seed, "epoch": rec["step"] // t.steps_per_epoch, "accuracy": round(acc, 4),
               "train_min": round((time.perf_counter() - start - eval_s) / 60, 2),
               **{k: round(v["spearman"], 3) for k, v in matched.items()}}
        hist.append(row)
        print(json.dumps(row), flush=True)
        if acc >= until:
            stop.set()

    t.fit(stop, on_log)
    first = lambda thr, key: next((h[key] for h in hist if h["accuracy"] >= thr), None)
    effects = continuous_code_effects(Model(cfg, t.step_no, t.G.eval(), t.D))
    best = effects["best"]
    return {"seed": cfg.seed, "final": hist[-1]["accuracy"], "best": max(h["accuracy"] for h in hist),
            "first_epoch_95": first(0.95, "epoch"), "minutes_to_90": first(0.90, "train_min"),
            "minutes_to_95": first(0.95, "train_min"), "slant": best.get("slant"), "width": best.get("width"),
            "spearman": effects["codes"], "effect_sd": effects["effect"], "epochs_run": hist[-1]["epoch"],
            "run": str(t.run.path)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--extend", nargs="*", default=[], metavar="RUN_DIR",
                   help="run folders of earlier seeds (their summary's 'run') to train on to --epochs")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--until", type=float, default=2.0, help="end a seed once its accuracy reaches this")
    p.add_argument("--device", default="auto")
    p.add_argument("--set", nargs="*", default=[], help="extra config fields, key=value")
    a = p.parse_args()
    if current().smoke:  # one seed, one epoch of 8 small batches
        a.seeds, a.epochs, a.set = a.seeds[:1], 1, [*a.set, *(f"{k}={v}" for k, v in SMOKE_DATA.items())]
    base = Config.from_dict({"dataset": "mnist", "epochs": a.epochs, "device": a.device, "sample_every": 10**9,
                             "ckpt_every": 10**9, **dict(kv.split("=", 1) for kv in a.set)})
    base = base.replace(log_every=(base.subset or 60_000) // base.batch_size)  # one host sync per epoch
    test = load(base, train=False, test_images=current().test_images)
    print(json.dumps({"machine": platform.node(), "config": base.to_dict()}), flush=True)
    for folder in a.extend:  # a finished seed's run folder, trained on to --epochs
        run = Run(Path(folder))
        t = Trainer(run.extend(a.epochs), run)
        t.restore()
        print(json.dumps({"summary": sweep_one(t, test, a.until), "extended": True}), flush=True)
    for seed in a.seeds:
        cfg = base.replace(seed=seed)
        t = Trainer(cfg, Run.create(cfg))  # an ordinary run folder in ./checkpoints (or $INFOGAN_RUNS)
        print(json.dumps({"summary": sweep_one(t, test, a.until)}), flush=True)


if __name__ == "__main__":
    main()
