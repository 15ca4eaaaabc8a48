"""Disentanglement while training, for data with ground-truth factors (dSprites): FactorVAE
and MIG every `disent_every` steps, written into that step's line of metrics.jsonl.

The same estimators as an evaluation (metrics.py, disentanglement_lib's definitions) on a
reduced sample: one pool of LIVE_POOL images, the same ones at every measurement (a fixed
seed), encoded once by Q (its point estimate, D in eval mode); MIG on the whole pool (20 bins,
with its code x factor matrix, which the Disentanglement page draws between evaluations),
FactorVAE from LIVE_VOTES training / held-out votes of 64-image batches with one factor held
fixed, resampled from the pool (metrics.Pool). A full evaluation (`eval --metrics all`) draws
10,000 / 5,000 and is the figure to report; these track it over training (InfoGAN-CR's authors
log FactorVAE every 400 iterations the same way)."""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np
import torch

from .checkpoint import code_values
from .config import Config
from .data import ImageData, to_float
from .metrics import Pool, factor_truth, factor_vae, mig
from .models import Discriminator, QOut
from .runs import RunError

LIVE_POOL = 5_000
LIVE_VOTES = (800, 400)  # FactorVAE's training and held-out votes
OWN_FLOOR = 0.2  # the least share of a factor's entropy its own code must hold (own_codes)


class LiveScores:
    """The ground truth of a run's training data, and `measure` for its D at any step."""

    def __init__(self, data: ImageData, cfg: Config, pool: int = LIVE_POOL):
        self.pool, self.cfg, self.truth = min(pool, len(data)), cfg, None
        with contextlib.suppress(RunError):  # RunError: a subset, not the complete grid
            self.truth = factor_truth(data) if data.factors is not None else None
        if self.truth is None:
            print(f"disent_every: {cfg.dataset} with subset {cfg.subset} is not a complete factor grid; "
                  "disentanglement is not measured while training", file=sys.stderr)

    @torch.no_grad()
    def measure(self, d: Discriminator) -> dict[str, float]:
        """{"factor_vae", "mig", "disent_seconds", "normalized_mi" (codes x factors)} for D's Q now
        ({} without a factor grid); D's mode is put back."""
        if self.truth is None:
            return {}
        t0 = time.perf_counter()
        was_training = d.training
        dev = next(d.parameters()).device
        d.eval()
        try:
            def represent(imgs: torch.Tensor) -> np.ndarray:
                q = d(to_float(imgs.to(dev)))[1]
                return code_values(self.cfg, QOut([lg.float().cpu() for lg in q.logits], q.mu.float().cpu(),
                                                  q.logvar))[1]

            pool = Pool(represent, self.truth, np.random.default_rng(0), self.pool)
            m = mig(pool, num_train=self.pool)
            pool.rewind()
            fv = factor_vae(pool, num_train=LIVE_VOTES[0], num_eval=LIVE_VOTES[1], num_variance=self.pool)
        finally:
            d.train(was_training)
        return {"factor_vae": fv["factor_vae"], "mig": m["mig"], "disent_seconds": time.perf_counter() - t0,
                "normalized_mi": [[round(v, 4) for v in row] for row in m["normalized_mi"]]}


def own_codes(matrix: np.ndarray | list, floor: float = OWN_FLOOR) -> list[int | None]:
    """Per factor (a column of the codes x factors normalised-MI matrix), the index of the code
    that is its own, or None: the code holding most of the factor, at least `floor` of its
    entropy, and holding more of this factor than of any other (so one code serving two factors
    is nobody's own). MIG's gap asks how far the best code leads the second; this asks the plainer
    question a heatmap's reader asks, which factor has a code, and it flickers less."""
    m = np.asarray(matrix, float)
    out: list[int | None] = []
    for j in range(m.shape[1]):
        i = int(m[:, j].argmax())
        out.append(i if m[i, j] >= floor and int(m[i].argmax()) == j else None)
    return out


def own_code_history(records: list[dict], floor: float = OWN_FLOOR) -> list[tuple[int | None, int | None]]:
    """Per factor, from the live measurements in metrics.jsonl records: (the code it owns at the
    newest measurement, the step since which it has owned that code at every measurement), or
    (None, None)."""
    history = [(r["step"], own_codes(r["normalized_mi"], floor)) for r in records
               if isinstance(r.get("normalized_mi"), list)]
    if not history:
        return []
    out = []
    for j, code in enumerate(history[-1][1]):
        since = None
        for step, owned in reversed(history):
            if owned[j] != code or code is None:
                break
            since = step
        out.append((code, since))
    return out
