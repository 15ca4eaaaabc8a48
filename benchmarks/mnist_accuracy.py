"""Train with the MNIST defaults for a wall-clock budget; print JSON lines with images/s and
the unsupervised test accuracy of the categorical code every --eval-every seconds.

    python benchmarks/mnist_accuracy.py --budget 600 --eval-every 60 --seed 0

Evaluation time is excluded from `train_s` (it is reported as `eval_s`)."""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time

import torch

from infogan.budget import SMOKE_DATA, current
from infogan.checkpoint import Model
from infogan.config import Config
from infogan.data import load
from infogan.evaluate import categorical_accuracy
from infogan.runs import Run
from infogan.train import Trainer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=600, help="training seconds")
    p.add_argument("--eval-every", type=float, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--set", nargs="*", default=[], help="extra config fields, key=value")
    a = p.parse_args()
    if current().smoke:  # seconds instead of minutes, on small batches of a few images: one evaluation
        a.budget, a.eval_every = 2.0, 2.0
        a.set = [*a.set, *(f"{k}={v}" for k, v in SMOKE_DATA.items())]
    cfg = Config.from_dict({"dataset": "mnist", "seed": a.seed, "device": a.device, "epochs": 1000,
                            "log_every": 20, "sample_every": 10**9, "ckpt_every": 10**9,
                            **dict(kv.split("=", 1) for kv in a.set)})
    test = load(cfg, train=False, test_images=current().test_images)
    t = Trainer(cfg, Run.create(cfg))  # an ordinary run folder in ./checkpoints (or $INFOGAN_RUNS)
    print(json.dumps({"machine": platform.node(), "cpu_threads": torch.get_num_threads(),
                      "device": str(t.device), "config": cfg.to_dict()}), flush=True)
    stop, eval_s, last_eval = threading.Event(), 0.0, 0.0

    def on_log(rec: dict) -> None:
        nonlocal eval_s, last_eval
        if stop.is_set():  # the record fit() logs as it stops: the budget's evaluation is done
            return
        train_s = rec["time"] - eval_s
        if train_s - last_eval >= a.eval_every or train_s >= a.budget:
            t0 = time.perf_counter()
            acc = categorical_accuracy(Model(cfg, t.step_no, t.G, t.D), test)
            eval_s += time.perf_counter() - t0
            last_eval = train_s
            print(json.dumps({"train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
                              "step": rec["step"], "epoch": round(rec["epoch"], 3),
                              "images_per_s": round(rec["images_per_s"], 1),
                              "accuracy": round(acc["accuracy"], 4),
                              **{k: round(v, 3) for k, v in rec.items() if k.startswith("mi_")}}),
                  flush=True)
        if train_s >= a.budget:
            stop.set()

    t.fit(stop, on_log)


if __name__ == "__main__":
    main()
