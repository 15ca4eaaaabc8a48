"""Budgets: how much work a command does beyond what its Config says. FULL is what a user gets;
SMOKE is INFOGAN_SMOKE's tiny one, so the suite can run every documented command as written
(tests/test_readme.py).

`current()` is the one reader of INFOGAN_SMOKE. The entry points ask it once (the CLI's
commands, the dashboard's job children, a sweep's driver, which hands its budget to every
trial by name: a cluster's nodes do not share its environment) and pass the budget down; data,
judge, quality and selection take the numbers as arguments and never decide a budget.

A smoke budget never writes what a full one reads: its judge lives apart (judge.judge_path) and
records its budget; a run it resumes trains a few steps and stops, its config untouched
(train.resume's `steps`); everything else it writes belongs to the run or sweep it was asked about."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

SMOKE_DATA = {"subset": 256, "batch_size": 32}  # what the benchmarks that build a Config take of it


@dataclass(frozen=True)
class Budget:
    name: str  # "full" or "smoke": recorded in what the budget writes (a judge's file)
    limits: dict[str, int] = field(default_factory=dict)  # Config fields of a new run (train, sweep)
    test_images: int | None = None  # an evaluation reads at most the first N images of a test split
    judge_images: int | None = None  # a judge trained on this budget sees at most N images ...
    judge_epochs: int | None = None  # ... for this many epochs
    metric_scale: float | None = None  # the most an evaluation's sample counts are scaled by
    select: dict[str, int] = field(default_factory=dict)  # rank_members' votes, batch, n_free
    invert_effort: str = "standard"  # invert.EFFORT's row for `edit`
    sweep_points: int | None = None  # seeds and values per grid axis a new sweep keeps

    @property
    def smoke(self) -> bool:
        return self.name == "smoke"

    def cap(self, n: int) -> int:
        """`n` images of a test split, at most `test_images`."""
        return n if self.test_images is None else min(n, self.test_images)


FULL = Budget("full")
SMOKE = Budget("smoke", limits={**SMOKE_DATA, "max_steps": 4, "log_every": 2, "sample_every": 4, "ckpt_every": 4},
               test_images=500, judge_images=512, judge_epochs=1, metric_scale=0.01,
               select={"votes": 20, "batch": 8, "n_free": 64}, invert_effort="quick", sweep_points=2)
BUDGETS = {b.name: b for b in (FULL, SMOKE)}


def current() -> Budget:
    """SMOKE when INFOGAN_SMOKE is set to anything but "" or "0", else FULL."""
    return SMOKE if os.environ.get("INFOGAN_SMOKE", "0") not in ("", "0") else FULL


def named(name: str) -> Budget:
    """The budget a driver handed a trial by name."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r} (one of {', '.join(BUDGETS)})")
    return BUDGETS[name]
