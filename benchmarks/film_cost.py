"""What the film and the code-health histogram cost the trainer, against its own training step.

One Trainer with the MNIST defaults on real MNIST: the median time of a training step, of
`code_usage()` (Q on 256 real images, at every log) and of `film.save()` (the panel drawn at
every checkpoint), in one process, alternating. The shares follow from the defaults' intervals
(log_every 50, ckpt_every 1000) and from a busy log_every 10.

    python benchmarks/film_cost.py --repeats 10"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch

from infogan import film
from infogan.budget import current
from infogan.config import Config
from infogan.runs import Run
from infogan.train import Trainer, epoch_permutation


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--data", default=None, help="data folder (default: $INFOGAN_DATA)")
    a = p.parse_args()
    if current().smoke:
        a.repeats = 2
    cfg = Config.from_dict({"dataset": "mnist", "precision": "fp32", "subset": 6400,
                            **({"data_dir": a.data} if a.data else {})})
    with tempfile.TemporaryDirectory(prefix="film-cost-") as root:
        trainer = Trainer(cfg, Run.create(cfg, "cost", root))
        perm = epoch_permutation(cfg.seed, 0, len(trainer.images))
        batch = trainer.images.batch(perm[:cfg.batch_size])
        for _ in range(3):  # warm-up
            trainer.step(batch)
        trainer.code_usage()
        step, usage, panel = [], [], []
        for _ in range(a.repeats):
            step.append(timed(lambda: trainer.step(batch)))
            usage.append(timed(trainer.code_usage))
            panel.append(timed(lambda: film.save(trainer.run, 0, trainer.G, cfg)))
    s, u, f = (statistics.median(x) for x in (step, usage, panel))
    print(json.dumps({
        "machine": platform.node(), "threads": torch.get_num_threads(), "batch_size": cfg.batch_size,
        "precision": "fp32", "repeats": a.repeats, "step_s": round(s, 4), "code_usage_s": round(u, 4),
        "panel_s": round(f, 4), "usage_share_log_every_50": round(u / (50 * s), 4),
        "usage_share_log_every_10": round(u / (10 * s), 4), "panel_share_ckpt_every_1000": round(f / (1000 * s), 4)}))


if __name__ == "__main__":
    main()
