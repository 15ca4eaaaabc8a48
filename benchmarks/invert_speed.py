"""Inverting real MNIST test images: seconds per image, reconstruction error per class, and how
often Q's categorical reading names the image's label.

100 test images, 10 of each label (the first of each in the test split), read by Q and inverted
with each effort of invert.EFFORT, one image at a time (what a user waits for in Explore or the
`edit` command) and all 100 in one batch (rows do not interact, so the batch is the same fit,
faster per image). Q's category is mapped to a label by the run's own evaluation (eval.json's
Hungarian matching over the 10,000 test images) when it has one, else by a Hungarian matching
over these 100. Without --run it first trains a run of --epochs MNIST epochs (the defaults).

    python benchmarks/invert_speed.py [--run NAME] [--epochs 3] [--efforts quick standard thorough]"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from infogan.budget import current
from infogan.checkpoint import load_model
from infogan.config import Config
from infogan.evaluate import category_labels, hungarian_accuracy
from infogan.invert import EFFORT, invert, read_codes, reference_encoder, reference_images
from infogan.runs import Run
from infogan.train import train


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", help="an MNIST run to invert with (default: train one)")
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--efforts", nargs="+", default=list(EFFORT), choices=list(EFFORT))
    p.add_argument("--per-class", type=int, default=10)
    a = p.parse_args()
    efforts = dict(EFFORT)
    if current().smoke:  # one image per label, 10 steps
        a.efforts, a.per_class, efforts["quick"] = ["quick"], 1, (1, 10)
    if a.run:
        run = Run.open(a.run, a.runs_dir)
    else:
        run = train(Config.from_dict({"dataset": "mnist", "epochs": a.epochs, **current().limits}),
                    None, a.runs_dir)
    model = load_model(run)
    data = reference_images(model.cfg)
    labels = data.labels.numpy()
    idx = np.concatenate([np.flatnonzero(labels == y)[:a.per_class] for y in range(10)])
    images, truth = data.images[idx], labels[idx]
    q_net = reference_encoder(model, data)
    pred = read_codes(q_net, images).cat()[:, 0].numpy()
    named = category_labels(run.eval_result(model.step)).get("c1")  # from the whole test split
    if named:
        reading_accuracy = float(np.mean([named.get(int(c)) == y for c, y in zip(pred, truth)]))
        mapping = "eval.json"
    else:
        reading_accuracy, mapping = hungarian_accuracy(pred, truth, 10, 10)[0], "these images"
    for effort in a.efforts:
        starts, steps = efforts[effort]
        t0 = time.perf_counter()
        one = torch.cat([invert(model, q_net, images[i:i + 1], starts, steps).error for i in range(len(images))])
        t1 = time.perf_counter()
        batch = invert(model, q_net, images, starts, steps).error
        t2 = time.perf_counter()
        print(json.dumps({
            "machine": platform.node(), "threads": torch.get_num_threads(), "run": run.name, "step": model.step,
            "effort": effort, "starts": starts, "steps": steps, "images": len(images),
            "seconds_per_image_one_at_a_time": round((t1 - t0) / len(images), 3),
            "seconds_per_image_in_one_batch": round((t2 - t1) / len(images), 3),
            "rms_error_mean": round(float(one.mean()), 4), "rms_error_batch_mean": round(float(batch.mean()), 4),
            "rms_error_by_label": {int(y): round(float(one[truth == y].mean()), 4) for y in range(10)},
            "q_reading_matches_label": round(reading_accuracy, 4), "label_mapping": mapping}), flush=True)


if __name__ == "__main__":
    main()
