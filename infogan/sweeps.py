"""Sweeps: many runs of one base config over seeds and a grid of settings, read as a distribution.

checkpoints/<sweep>/sweep.json   the definition (base values, seeds, grid axes, how to run it),
                                  the member run names, the state and the driver's pid
checkpoints/<member>/            one ordinary run folder per (grid point, seed): every page and
                                  command that reads a run reads a member unchanged; its
                                  status.json names the sweep, the Ray node and its attempts

Every member's config is validated before anything is written; all bad fields of all points are
reported at once. Execution (ray_runner.py) only reads this file and the member folders, so a
sweep whose driver died resumes from the files alone. Stopping is a flag in sweep.json that
every trial polls: a trial on any node stops with a checkpoint."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import lease, schema
from .config import Config, ConfigError
from .files import FileError, read_json, write_json
from .runs import Run, RunError, check_name, hold, is_name, runs_root, sweep_state
from .scores import EVAL_COLUMNS, TRUTH_SCORES

if TYPE_CHECKING:  # pandas is imported where tables are made: a training process never needs it
    import pandas as pd

FORMAT = "infogan-explorer/sweep/1"
MAX_AXES = 3
MAX_MEMBERS = 1000
# which checkpoints of a completed member a trial evaluates (labelled datasets: accuracy, code effects)
EVALUATE = ("all", "last", "none")


def parse_seeds(text: str) -> list[int]:
    """'0-7' -> 0..7, '0,3,5' -> [0, 3, 5], '1-3,9' -> [1, 2, 3, 9]."""
    spans = []
    try:
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            lo, _, hi = part.partition("-")
            spans.append(range(int(lo), int(hi) + 1) if hi else range(int(lo), int(lo) + 1))
    except ValueError:
        raise ConfigError({"seeds": f"expected seeds like 0-7 or 0,3,5, got {text!r}"}) from None
    if sum(len(s) for s in spans) > MAX_MEMBERS:  # counted before any list is built: 0-1000000000 is a typo
        raise ConfigError({"seeds": f"{text!r} is more than {MAX_MEMBERS} seeds"})
    seeds = [seed for span in spans for seed in span]
    if not seeds:
        raise ConfigError({"seeds": "need at least one seed"})
    if len(set(seeds)) != len(seeds):
        raise ConfigError({"seeds": f"a seed is listed twice in {text!r}"})
    return seeds


def parse_axis(text: str) -> tuple[str, list[str]]:
    """'lr_g=1e-3,5e-4' -> ('lr_g', ['1e-3', '5e-4']); values holding commas (cat_codes) are
    separated by ';' instead: 'cat_codes=10;10,5'."""
    name, eq, values = str(text).partition("=")
    name = name.strip().replace("-", "_")
    if not eq or not name:
        raise ConfigError({"grid": f"expected FIELD=V1,V2,..., got {text!r}"})
    sep = ";" if ";" in values else ","
    vals = [v.strip() for v in values.split(sep) if v.strip()]
    if not vals:
        raise ConfigError({f"grid {name}": "needs at least one value"})
    return name, vals


def parse_setting(text: str) -> tuple[str, str]:
    """'batch_size=64' -> ('batch_size', '64'); Config.from_dict validates the value."""
    name, eq, value = str(text).partition("=")
    if not eq or not name.strip():
        raise ConfigError({"settings": f"expected FIELD=VALUE, got {text!r}"})
    return name.strip().replace("-", "_"), value.strip()


@dataclass(frozen=True)
class Member:
    name: str
    seed: int
    point: dict[str, Any]  # grid field -> value (as given) for this member
    point_index: int  # 0-based index of the grid point


def point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "base"


def expand(name: str, base: dict[str, Any], seeds: list[int], grid: dict[str, list[Any]]
           ) -> tuple[list[Member], dict[str, Config]]:
    """Every (grid point, seed) as a member with its validated Config; every bad field of every
    point raises one ConfigError naming the field and the point."""
    check_name(name)
    errors: dict[str, str] = {}
    if len(grid) > MAX_AXES:
        errors["grid"] = f"at most {MAX_AXES} axes, got {len(grid)} ({', '.join(grid)})"
    for field in grid:
        if field == "seed":
            errors["grid"] = "seeds are the sweep's own axis: use --seeds"
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] or [{}]
    if len(points) * len(seeds) > MAX_MEMBERS:
        errors["sweep"] = f"{len(points) * len(seeds)} members; at most {MAX_MEMBERS}"
    if errors:
        raise ConfigError(errors)
    members, configs = [], {}
    for j, point in enumerate(points):
        for seed in seeds:
            member = Member(f"{name}-{j + 1}-s{seed}" if grid else f"{name}-s{seed}", seed, point, j)
            try:
                check_name(member.name)
                configs[member.name] = Config.from_dict({**base, **point, "seed": seed})
            except ConfigError as exc:
                where = f"grid point {j + 1} ({point_label(point)})" if grid else f"seed {seed}"
                for field, why in exc.errors.items():
                    errors.setdefault(f"{field} at {where}", why)
            except RunError as exc:
                errors["name"] = str(exc)
            members.append(member)
    if errors:
        raise ConfigError(errors)
    return members, configs


@dataclass
class Sweep:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def root(self) -> Path:
        return self.path.parent

    # ----- creation and reading -----
    @classmethod
    def create(cls, name: str, base: dict[str, Any], seeds: list[int], grid: dict[str, list[Any]],
               parallel: int = 2, threads: int = 1, gpus: float = 0.0, ray_address: str | None = None,
               evaluate: str = "all", root: str | os.PathLike | None = None) -> Sweep:
        """Validate every member, then write sweep.json and every member's run folder (queued).
        The data folder is stored absolute (as given, else INFOGAN_DATA, else ./data, resolved
        here): a cluster's nodes would resolve a relative one against their own working folder."""
        errors: dict[str, str] = {}
        if isinstance(base.get("data_dir") or "", str):
            base = {**base, "data_dir": str(Config(data_dir=base.get("data_dir") or "").resolved_data_dir().resolve())}
        if not isinstance(parallel, int) or parallel < 0:
            errors["parallel"] = "must be a whole number >= 0 (0 = as many as Ray can place)"
        if not isinstance(threads, int) or threads < 1:
            errors["threads"] = "must be a whole number >= 1"
        if not isinstance(gpus, (int, float)) or not (0 <= gpus <= 64):
            errors["gpus"] = "must be between 0 and 64 (GPUs per trial; fractions share one)"
        if evaluate not in EVALUATE:
            errors["evaluate"] = f"must be one of {', '.join(EVALUATE)}"
        if errors:
            raise ConfigError(errors)
        members, configs = expand(name, base, seeds, grid)
        base_dir = runs_root(root)
        taken = [n for n in [name, *configs] if (base_dir / n).exists()]
        if taken:
            raise RunError(f"cannot create sweep {name!r}: {', '.join(taken[:3])} already exist(s) in {base_dir}")
        sweep = cls(base_dir / name)
        sweep.path.mkdir(parents=True)
        write_json(sweep.file, {
            "format": FORMAT, "name": name, "base": base, "seeds": seeds, "grid": grid,
            "parallel": parallel, "threads": threads, "gpus": gpus, "ray_address": ray_address or None,
            "evaluate": evaluate,
            "members": [{"name": m.name, "seed": m.seed, "point": m.point, "point_index": m.point_index}
                        for m in members],
            "state": "created", "created": time.time(), "stop_requested": False})
        for m in members:
            Run.create(configs[m.name], m.name, base_dir, sweep=name)
        return sweep

    @classmethod
    def open(cls, name: str, root: str | os.PathLike | None = None) -> Sweep:
        path = runs_root(root) / check_name(name)
        if not (path / "sweep.json").is_file():
            raise RunError(f"no sweep named {name!r} in {path.parent}")
        sweep = cls(path)
        sweep.info()  # a damaged sweep.json is reported here, by name
        return sweep

    @property
    def file(self) -> Path:
        return self.path / "sweep.json"

    def info(self) -> dict[str, Any]:
        """sweep.json, checked (`check_info`): every reader, the delete and the driver get names,
        numbers and an address that passed the same checks as where they entered."""
        try:
            info = read_json(self.file)
        except FileError as exc:
            raise RunError(str(exc)) from None
        return check_info(info, self.file)

    def update(self, **fields: Any) -> None:
        """Merge `fields` into sweep.json; a `pid` is stored with its start time and host (as runs do)."""
        if "pid" in fields:
            fields.update(lease.stamp(fields["pid"]))
        write_json(self.file, {**self.info(), **fields, "updated": time.time()})

    def members(self) -> list[Member]:
        return [Member(m["name"], m["seed"], m.get("point") or {}, m.get("point_index", 0))
                for m in self.info()["members"]]  # names checked by info(): plain names inside the runs root

    def member_runs(self) -> list[tuple[Member, Run]]:
        return [(m, Run(self.root / m.name)) for m in self.members()]

    def runs(self) -> list[Run]:
        return [run for _, run in self.member_runs()]

    def state(self) -> str:
        """'running' while its driver holds the sweep's lease; without one it reads 'interrupted'."""
        return sweep_state(self.path, self.info()) or "created"  # info(): a damaged sweep.json, by name

    def stop_requested(self) -> bool:
        try:
            return bool(self.info().get("stop_requested"))
        except RunError:
            return False

    def lease(self) -> contextlib.AbstractContextManager:
        """The driver's hold on the sweep: one driver at a time, from any process or machine."""
        return hold(self.path, "driver", "the sweep's driver", f"sweep {self.name!r}")

    def delete(self) -> list[str]:
        """The sweep and every member, under the driver's lease (no driver can start meanwhile);
        refused, naming it, while a member trains or is evaluated anywhere. A refusal part-way
        leaves sweep.json listing exactly the members still there.

        What is removed: the sweep's own folder (a plain name in the runs root holding sweep.json,
        not a link), and each listed member that is a run folder (Run.delete's rule) whose own
        status.json names this sweep; a listed folder that does not name it is another run or not
        a run, and is left alone (the returned names)."""
        check_name(self.name)
        if self.path.is_symlink() or not self.file.is_file():
            raise RunError(f"{self.path} is not a sweep folder (no sweep.json, or a link); nothing was deleted")
        with self.lease():
            spared = []
            for run in self.runs():
                if not run.path.is_dir():
                    continue
                if run.status().get("sweep") != self.name:
                    spared.append(run.name)
                    continue
                run.delete(by_sweep=True)
            shutil.rmtree(self.path)
            return spared

    def request_stop(self) -> None:
        """Every trial polls this flag and stops with a checkpoint; the driver starts no more."""
        self.update(stop_requested=True)

    def member_states(self) -> dict[str, str]:
        return {r.name: r.state() for r in self.runs()}


def _between(lo: float, hi: float) -> Any:
    return lambda v: None if lo <= v <= hi else f"{v} is not between {lo} and {hi}"


def _members(sweep_name: str) -> Any:
    def rule(members: list) -> str | None:
        for i, m in enumerate(members):
            if not is_name(m.get("name")):
                return f"member {i + 1}'s name {str(m.get('name'))[:60]!r} is not a run name"
            if "seed" not in m:
                return f"member {i + 1} has no seed"
        names = [m["name"] for m in members]
        twice = next((n for n in names if names.count(n) > 1 or n == sweep_name), None)
        return None if twice is None else f"member {twice!r} is listed twice, or is the sweep itself"
    return rule


_NUMBER = schema.Null(schema.NUM)
# a stored ranking (selection.select writes it): member names, per criterion a number (or None)
# per member in their order, and per score needing labels how the pick compares (against_labels)
SELECTION = {
    "names": [str], "ranking": [str], "criteria": {"*": [_NUMBER]}, "centrality": [_NUMBER],
    "pick": str, "by": str, "rule": str, "error": str, "counts": {"*": schema.INT},
    **{measure: {"pick": _NUMBER, "best": _NUMBER, "median": _NUMBER, "n": schema.INT, "best_member": str,
                 "criteria": {"*": {"spearman": _NUMBER, f"top_{measure}": _NUMBER, "top": schema.Null(str)}}}
       for measure in TRUTH_SCORES},
}


def info_spec(sweep_name: str) -> dict[str, Any]:
    """sweep.json's fields that name folders, size Ray's resources or pick an address, with the
    bounds `Sweep.create` checked them against (members by `is_name`, the run names' check)."""
    member = {"seed": schema.INT, "point": schema.Null(dict), "point_index": schema.INT}
    return {
        "members": schema.Check([member], _members(sweep_name)),
        "parallel": schema.Check(schema.INT, _between(0, MAX_MEMBERS)),
        "threads": schema.Check(schema.INT, _between(1, 1024)),
        "gpus": schema.Check(schema.NUM, _between(0, 64)),
        "evaluate": schema.Check(str, lambda v: None if v in EVALUATE else f"{v[:40]!r} is not one of "
                                                                           f"{', '.join(EVALUATE)}"),
        "ray_address": schema.Null(str), "seeds": [schema.INT], "grid": schema.Null({"*": list}),
        "base": schema.Null(dict), "selection": schema.Null(SELECTION),
    }


def check_info(info: Any, file: Path) -> dict[str, Any]:
    """sweep.json checked against `info_spec`; RunError names the file and the first bad field,
    and the sweep is unreadable (nothing is deleted, written or connected through it)."""
    if not isinstance(info, dict) or info.get("format") != FORMAT or not isinstance(info.get("members"), list):
        raise RunError(f"{file} is not a sweep file of InfoGAN Explorer")
    try:
        return schema.check(info, info_spec(file.parent.name))
    except schema.SchemaError as exc:
        raise RunError(f"{file} is not a usable sweep file: {exc}") from None


def list_sweeps(root: str | os.PathLike | None = None) -> list[Sweep]:
    base = runs_root(root)
    if not base.is_dir():
        return []
    return sorted((Sweep(p) for p in base.iterdir() if (p / "sweep.json").is_file()), key=lambda s: s.name)


# ----- reading a sweep as a distribution -----

def eval_series(run: Run) -> pd.DataFrame:
    """Per evaluated checkpoint (column "step"): accuracy, the matched slant/width |Spearman rho|
    (MNIST) and the sample-quality numbers, where they were computed."""
    import pandas as pd

    from .summary import eval_table

    table = eval_table(run)
    return table.rename_axis("step").reset_index() if not table.empty else pd.DataFrame(columns=["step"])


def member_series(run: Run, metric: str) -> pd.Series:
    """One member's metric against epoch: a training metric as its mean over each epoch (x =
    the epoch it ends; a run of under 10 epochs in tenths of its length, so a short sweep still
    shows a curve), an evaluation metric per checkpoint; FactorVAE and MIG from the training
    log (measured while training, live.py) where no checkpoint has them."""
    import pandas as pd

    records, _ = run.metrics()
    ev = eval_series(run) if metric in EVAL_COLUMNS else pd.DataFrame()
    if metric in ev and not ev[metric].dropna().empty:
        # steps per epoch from a logged line: total_steps / epochs is wrong for a run cut short by max_steps
        per_epoch = next((r["step"] / r["epoch"] for r in records if isinstance(r.get("step"), int)
                          and isinstance(r.get("epoch"), (int, float)) and r["epoch"] > 0), None)
        per_epoch = per_epoch or max(1, int(run.status().get("total_steps") or 1) // max(1, run.config().epochs))
        ev = ev.dropna(subset=[metric])
        return pd.Series(ev[metric].to_numpy(float), index=(ev["step"] / per_epoch).round(2).to_numpy())
    per = max(1, 10 // run.config().epochs)  # bins per epoch
    rows = [(math.ceil(r["epoch"] * per - 1e-9) / per, r[metric]) for r in records
            if isinstance(r.get(metric), (int, float)) and isinstance(r.get("epoch"), (int, float))]
    if not rows:
        return pd.Series(dtype=float)
    df = pd.DataFrame(rows, columns=["epoch", metric])
    return df.groupby("epoch")[metric].mean()


def spread(sweep: Sweep, metric: str) -> pd.DataFrame:
    """Median and min-max over seeds, per grid point and epoch, with the number of seeds behind
    each value and the members holding the min and the max (a band's edges are real runs)."""
    import pandas as pd

    rows = []
    for m, run in sweep.member_runs():
        try:
            series = member_series(run, metric)
        except RunError:
            continue  # a damaged member is missing from the band, never fatal
        rows += [{"point": point_label(m.point), "member": m.name, "epoch": float(e), "value": float(v)}
                 for e, v in series.items() if np.isfinite(v)]
    if not rows:
        return pd.DataFrame(columns=["point", "epoch", "median", "min", "max", "n", "min_member", "max_member"])
    df = pd.DataFrame(rows)
    g = df.groupby(["point", "epoch"])["value"]
    out = g.agg(median="median", min="min", max="max", n="count").reset_index()
    lo, hi = df.loc[g.idxmin()], df.loc[g.idxmax()]
    out["min_member"], out["max_member"] = lo["member"].to_numpy(), hi["member"].to_numpy()
    return out


def final_table(sweep: Sweep) -> pd.DataFrame:
    """One row per member: its grid values, seed and final numbers (for the parallel
    coordinates chart, the members table and the selection report)."""
    import pandas as pd

    from .summary import run_summary

    rows = []
    for m, run in sweep.member_runs():
        summary = run_summary(run)
        ev = eval_series(run)
        last = ev.iloc[-1].to_dict() if not ev.empty else {}
        rows.append({"member": m.name, "point": point_label(m.point), **m.point, "seed": m.seed,
                     "state": summary["state"], "step": summary["step"], "progress": summary.get("progress"),
                     "images_per_s": summary.get("images_per_s"), "mi": summary.get("mi"),
                     "loss_d": summary.get("loss_d"), "loss_g": summary.get("loss_g"),
                     **{k: last.get(k) for k in EVAL_COLUMNS}, "node": summary["node"],
                     "attempts": summary["attempts"], "problem": summary.get("problem")})
    return pd.DataFrame(rows)


def with_selection(final: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """`final` (final_table) with the stored ranking beside it: a ★ on the label-free pick, and
    each member's ModelCentrality (empty for a member the ranking did not score)."""
    cent = dict(zip(selection.get("names", []), selection.get("centrality", [])))
    table = final.copy()
    table.insert(1, "pick", ["★" if n == selection.get("pick") else "" for n in table["member"]])
    table["centrality"] = [cent.get(n) for n in table["member"]]
    return table


CRITERIA = {"centrality": "ModelCentrality", "consensus_nmi": "partition consensus (NMI)",
            "consensus_ari": "partition consensus (ARI)", "fd": "Fréchet distance"}


def selection_table(selection: dict[str, Any], final: pd.DataFrame) -> pd.DataFrame:
    """The label-free ranking (sweep.json's `selection`) as one row per member in the pick's
    order: each criterion's score, and the accuracy from `final` (final_table, which the caller
    has read already) where labels exist, never used to pick. Selections stored before the
    other criteria existed have ModelCentrality alone."""
    import pandas as pd

    criteria = selection.get("criteria") or {"centrality": selection.get("centrality", [])}
    table = pd.DataFrame({"member": selection.get("names", []), **criteria})
    for measure in TRUTH_SCORES:  # accuracy always (empty without labels); the factor scores where evaluated
        if measure == "accuracy" or (measure in final and final[measure].notna().any()):
            col = final.set_index("member")[measure] if measure in final else pd.Series(dtype=float)
            table[measure] = table["member"].map(col).astype(float)
    order = {n: i for i, n in enumerate(selection.get("ranking", []))}
    table = table.sort_values("member", key=lambda s: s.map(order)).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table
