"""`python -m infogan ...`: train, resume, evaluate, traverse and list runs.

Every Config field is a `train` flag (generated from the dataclass, so the CLI cannot fall
behind the config). Errors end with one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import signal
import sys
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

from .budget import current
from .config import DATASET_HELP, ESTIMATORS, Config, ConfigError, preset_changes
from .data import DataError
from .datasets import JUDGED
from .files import FileError, read_json
from .runs import Run, RunError, list_runs, new_name, runs_root
from .scores import TRUTH_SCORES
from .sweeps import EVALUATE, MAX_AXES, Sweep, final_table, parse_axis, parse_seeds, selection_table


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "dataset":
            p.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, metavar="DATASET",
                           help=f"{', '.join(DATASET_HELP)} (default mnist; see the presets below)")
        elif f.type == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS)
        else:
            p.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, metavar=f.name.upper(),
                           help=f"default {getattr(Config(), f.name)!r} (or the dataset's preset)")


def _datasets_epilog() -> str:
    """`train --help`'s list of datasets and what each one's preset sets (from config.preset)."""
    lines = ["datasets (--dataset), and what each one's preset changes from the defaults above:"]
    for name, what in DATASET_HELP.items():
        changes = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in preset_changes(name).items()}
        lines += [f"  {name}", f"      {what}",
                  "      preset: " + (", ".join(f"{k}={v}" for k, v in changes.items()) or "the defaults")]
    lines.append("flags given on the command line override the preset")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    prog = "infogan" if Path(sys.argv[0]).name == "infogan" else "python -m infogan"  # console script or -m
    p = argparse.ArgumentParser(prog=prog, description="InfoGAN Explorer", allow_abbrev=False)
    p.add_argument("--runs-dir", default=None, help="run folders (default ./checkpoints or $INFOGAN_RUNS)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a new run, or resume one with --resume RUN", allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_datasets_epilog())
    t.add_argument("--config", dest="config_file", help="JSON file of config fields")
    t.add_argument("--run-name", help="folder name under the runs dir (default: dataset-time-seed)")
    t.add_argument("--resume", metavar="RUN",
                   help="continue a stopped or interrupted run; with --epochs N, train any run longer")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(t)

    e = sub.add_parser("eval", help="evaluate a run's checkpoint and write eval.json")
    e.add_argument("run")
    e.add_argument("--step", type=int, help="checkpoint step (default: newest)")
    e.add_argument("--every-checkpoint", action="store_true",
                   help="every kept checkpoint not evaluated yet, oldest first (metrics over training)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--metrics", choices=["basic", "all"], default="basic",
                   help="all: every disentanglement metric on ground-truth factors")
    e.add_argument("--estimator", choices=ESTIMATORS, default=ESTIMATORS[0],
                   help="fast: images encoded once and shared, DCI on histogram trees; reference: "
                        "disentanglement_lib's procedure (minutes on a CPU)")
    e.add_argument("--metric-scale", type=float, default=1.0,
                   help="multiply the metrics' sample counts (disentanglement_lib defaults at 1.0)")
    e.add_argument("--no-quality", dest="quality", action="store_false",
                   help="skip sample quality (which trains the dataset's judge on first use)")

    v = sub.add_parser("traverse", help="save a latent traversal grid as PNG")
    v.add_argument("run")
    v.add_argument("--code", help="code name, e.g. c1 (default: every code, one labelled block each)")
    v.add_argument("--out", required=True, type=Path)
    v.add_argument("--step", type=int)
    v.add_argument("--rows", type=int, default=8, help="number of noise seeds (rows)")
    v.add_argument("--min", type=float, default=-2.0, help="continuous codes: first value")
    v.add_argument("--max", type=float, default=2.0, help="continuous codes: last value")
    v.add_argument("--steps", type=int, default=9, help="continuous codes: number of columns")

    w = sub.add_parser("sweep", allow_abbrev=False,
                       help="train many seeds and settings at once on Ray (embedded, or a cluster by address)")
    w.add_argument("--seeds", default="0-3", help="seeds like 0-7 or 0,3,5 (default 0-3)")
    w.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help=f"a config field and its values (up to {MAX_AXES}; ';' separates values holding commas)")
    w.add_argument("--parallel", type=int, default=None,
                   help="trials at once (default: CPU cores // threads here; 0 = as many as the cluster places)")
    w.add_argument("--threads", type=int, default=1, help="CPU threads (Ray CPUs) per trial")
    w.add_argument("--gpus", type=float, default=0.0, help="GPUs per trial (0.5: two trials share one)")
    w.add_argument("--ray-address", help="an existing Ray cluster (default: $INFOGAN_RAY_ADDRESS, else embedded)")
    w.add_argument("--run-name", help="the sweep's name; members are NAME-POINT-sSEED")
    w.add_argument("--resume", metavar="SWEEP", help="run a stopped or interrupted sweep's unfinished members")
    w.add_argument("--evaluate", choices=EVALUATE, default="all",
                   help="checkpoints each finished member evaluates, where labels exist (accuracy, code effects)")
    w.add_argument("--no-rank", action="store_true", help="skip ModelCentrality at the end")
    w.add_argument("--config", dest="config_file", help="JSON file of base config fields")
    _add_config_flags(w)

    x = sub.add_parser("edit", help="read a real image's codes with Q, find its noise, and redraw it with codes set")
    x.add_argument("run")
    x.add_argument("--image", required=True,
                   help="a PNG or JPEG file, or test:N for image N of the run's test split (training images "
                        "where the dataset has no test split)")
    x.add_argument("--set", action="append", default=[], metavar="CODE=VALUE",
                   help="a code's new value, e.g. c1=7 (a category) or c3=1.5 (continuous); repeatable")
    x.add_argument("--out", type=Path, help="where to write the edited image (PNG)")
    x.add_argument("--show-codes", action="store_true", help="print Q's reading of the image")
    x.add_argument("--step", type=int, help="checkpoint step (default: newest)")
    x.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                   help="make a light background dark (default: decided from the border, for datasets of "
                        "light shapes on black such as MNIST)")
    x.add_argument("--refine-codes", action="store_true", help="optimise the continuous codes with the noise")
    x.add_argument("--starts", type=int, help="random starts of the noise search (default 2)")
    x.add_argument("--steps", type=int, help="Adam steps per start (default 100)")
    x.add_argument("--scale", type=int, default=4, help="enlarge the written image N times (default 4)")

    s = sub.add_parser("select", help="rank a sweep's members without labels (ModelCentrality, partition "
                                        "consensus, Fréchet distance) and print them beside accuracy")
    s.add_argument("sweep")

    j = sub.add_parser("judge", help="train (or show) a dataset's judge classifier, in whose features sample "
                                     "quality is measured")
    j.add_argument("--dataset", default="mnist", help=JUDGED)
    j.add_argument("--data-dir", default="", help="default: INFOGAN_DATA, else ./data")
    j.add_argument("--retrain", action="store_true", help="train a new one even if one is cached")

    y = sub.add_parser("toy", help="train the 2D InfoGAN (a ring of 8 Gaussians, Cat(8) and one continuous code) "
                                   "in seconds and print its purity and modes covered as one JSON line")
    y.add_argument("--lambda-info", type=float, default=1.0, help="weight of the information term (0 = a plain GAN)")
    y.add_argument("--steps", type=int, default=1000, help="training steps (default 1000, a few seconds)")
    y.add_argument("--seed", type=int, default=0)

    r = sub.add_parser("runs", help="list run folders")
    r.add_argument("--sweep", help="only this sweep's members, with their grid point, seed and node")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "out", None):  # the user's own path: its folders are made, as for any output file
            args.out.parent.mkdir(parents=True, exist_ok=True)
        return {"train": cmd_train, "eval": cmd_eval, "traverse": cmd_traverse, "sweep": cmd_sweep,
                "select": cmd_select, "runs": cmd_runs, "edit": cmd_edit, "judge": cmd_judge,
                "toy": cmd_toy}[args.command](args)
    except (ConfigError, FileError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before or after training (in it, Ctrl-C stops with a checkpoint)
        print("interrupted", file=sys.stderr)
        return 130


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.from_dict(config_values(args))


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields the user gave (file, then flags), unvalidated: a sweep validates them per member."""
    values: dict[str, Any] = {}
    if args.config_file:
        loaded = read_json(Path(args.config_file))
        if not isinstance(loaded, dict):
            raise ConfigError({"config": f"{args.config_file} must hold a JSON object"})
        values.update(loaded)
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                   if hasattr(args, f.name)})
    if current().smoke:
        limits = current().limits
        print(f"INFOGAN_SMOKE is set: a tiny budget ({', '.join(f'{k}={v}' for k, v in limits.items())})",
              file=sys.stderr)
        values.update(limits)
    return values


def cmd_train(args: argparse.Namespace) -> int:
    from .train import resume, train

    if args.resume:
        run = Run.open(args.resume, args.runs_dir)
        changed = [f.name for f in dataclasses.fields(Config) if hasattr(args, f.name) and f.name != "epochs"]
        if changed or args.config_file:
            raise ConfigError({"resume": "a resumed run keeps its config; only --epochs may change "
                                         f"(got {', '.join(changed) or '--config'})"})
        if hasattr(args, "epochs"):
            run.extend(args.epochs)
        bar = _ProgressBar(run, args.quiet)
        # on the tiny budget, a few steps and a stop: nothing of it is written into the run's config
        resume(run, on_log=bar.update, steps=current().limits["max_steps"] if current().smoke else 0)
    else:
        cfg = config_from_args(args)
        name = args.run_name or new_name(cfg)
        bar = _ProgressBar(Run(runs_root(args.runs_dir) / name), args.quiet)
        run = train(cfg, name, args.runs_dir, on_log=bar.update)
    bar.close()
    st = run.status()
    print(f"{run.name}: {st.get('state')} at step {st.get('step')} ({run.path})")
    return 0 if st.get("state") in ("completed", "stopped") else 1


class _ProgressBar:
    """tqdm with images/s and the live MI bounds, created once the total is known."""

    def __init__(self, run: Run, quiet: bool):
        self.run, self.quiet, self.bar = run, quiet, None

    def update(self, rec: dict[str, Any]) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            st = self.run.status()
            self.bar = tqdm(total=st.get("total_steps"), initial=rec["step"], desc=self.run.name,
                            unit="step", dynamic_ncols=True)
        self.bar.update(rec["step"] - self.bar.n)
        post = {"img/s": f"{rec['images_per_s']:.0f}"}
        post |= {k: f"{v:.2f}" for k, v in rec.items() if k.startswith("mi_")}
        self.bar.set_postfix(post, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def _stage_bar(desc: str, keep: Callable[[str], bool] = lambda what: False
               ) -> Iterator[Callable[[str, float], None]]:
    """A progress callback (what, fraction done) drawn as one tqdm bar that goes when it closes;
    a stage `keep` picks is also written as a line that stays."""
    from tqdm import tqdm

    with tqdm(total=100, desc=desc, disable=None, leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}|") as bar:
        def progress(what: str, done: float) -> None:
            bar.set_description_str(what)
            bar.update(round(100 * done) - bar.n)
            if keep(what):
                bar.write(what)

        yield progress


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_run, evaluate_steps
    from .quality import describe

    run = Run.open(args.run, args.runs_dir)
    if not 0 < args.metric_scale <= 10:
        raise ConfigError({"metric_scale": "must be in (0, 10]"})
    budget = current()
    args.metric_scale = min(args.metric_scale, budget.metric_scale or args.metric_scale)
    with _stage_bar("eval", keep=lambda what: "skipped" in what) as progress:
        if args.every_checkpoint:
            done = evaluate_steps(run, args.metrics, args.metric_scale, args.device, progress, args.estimator,
                                  args.quality, budget)
            print(f"{run.name}: evaluated {len(done)} checkpoint(s): {done or 'all were done already'}")
            run_eval = run.eval_results()
            if not run_eval:
                return 0
            out = run_eval
        else:
            out = evaluate_run(run, args.step, args.metrics, args.metric_scale, device=args.device,
                               progress=progress, estimator=args.estimator, sample_quality=args.quality, budget=budget)
    cat = out.get("categorical")
    if cat:
        print(f"{run.name} step {out['step']}: code {cat['best_code']} accuracy "
              f"{cat['accuracy']:.4f} on {cat['n_images']} test images")
    effects = out.get("continuous", {})
    for code, corr in effects.get("codes", {}).items():
        print(f"{code}: Spearman " + ", ".join(f"{m} {r:+.2f}" for m, r in corr.items()) + "; effect (sd) "
              + ", ".join(f"{m} {e:+.2f}" for m, e in effects["effect"][code].items()))
    for measure, best in effects.get("best", {}).items():
        print(f"{measure}: matched continuous code {best['code']} (Spearman {best['spearman']:+.3f})")
    scores = {k: round(v, 4) for k, v in out.get("factors", {}).items() if isinstance(v, float)}
    if scores:
        print(f"{run.name} step {out['step']}: " + ", ".join(f"{k}={v}" for k, v in scores.items()))
    if out.get("quality"):
        print(describe(out["quality"]))
    if out.get("quality_skipped"):
        print(f"sample quality not measured: {out['quality_skipped']}")
    print(f"wrote {run.path / 'eval.json'}")
    return 0


def cmd_judge(args: argparse.Namespace) -> int:

    from .judge import FLOOR, dataset_config, load_judge, train_judge

    budget = current()
    cfg = dataset_config(args.dataset, args.data_dir or Config().resolved_data_dir())
    judge = None if args.retrain else load_judge(cfg.dataset, cfg.resolved_data_dir(), budget)
    if judge is None:
        with _stage_bar("judge") as progress:
            judge = train_judge(cfg, progress=progress, budget=budget)
    i = judge.info
    heads = ", ".join(f"{n} {a:.2%}" for n, a in zip(i["head_names"], i["accuracy"]))
    print(f"judge for {cfg.dataset}: test accuracy {heads} on {i['n_test']} held-out images; trained on "
          f"{i['n_train']} images for {i['epochs']} epoch(s), trunk {i.get('trunk', 'small')}, in {i['seconds']} s "
          f"({i['threads']} threads); "
          f"{judge.path}")
    if not budget.smoke and judge.accuracy < FLOOR:
        print(f"warning: below the {FLOOR:.0%} a judge needs to score samples; evaluations will refuse it",
              file=sys.stderr)
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import load_model
    from .files import atomic_write
    from .film import all_codes_png, save_grid_png, traversal_grid

    if args.rows < 1 or args.steps < 2:
        raise ConfigError({"rows/steps": "need --rows >= 1 and --steps >= 2"})
    model = load_model(Run.open(args.run, args.runs_dir), args.step)
    values = torch.linspace(args.min, args.max, args.steps).tolist()
    seeds = list(range(args.rows))
    if args.code is None:
        atomic_write(args.out, all_codes_png(model, seeds, values))
        print(f"wrote {args.out}: every code ({', '.join(model.cfg.code_names)}), {args.rows} seeds each "
              f"(step {model.step})")
        return 0
    try:
        grid, values = traversal_grid(model.G, model.cfg, args.code, seeds, values)
    except ValueError as exc:
        raise ConfigError({"code": str(exc)}) from None
    save_grid_png(grid, args.out)
    print(f"wrote {args.out}: {args.rows} seeds x {len(values)} values of {args.code} "
          f"(step {model.step})")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .data import image_from_bytes, to_pil
    from .files import atomic_write
    from .invert import EFFORT, edit, invert, parse_settings, read_codes, reference_encoder, reference_images

    effort = EFFORT[current().invert_effort]
    args.starts = effort[0] if args.starts is None else args.starts
    args.steps = effort[1] if args.steps is None else args.steps
    if not args.out and not args.show_codes:
        raise ConfigError({"edit": "give --out FILE for the edited image, or --show-codes"})
    if not 1 <= args.scale <= 32:
        raise ConfigError({"scale": "must be between 1 and 32"})
    if not (1 <= args.starts <= 64 and 0 <= args.steps <= 10_000):
        raise ConfigError({"starts/steps": "need 1 <= --starts <= 64 and 0 <= --steps <= 10000"})
    model = load_model(Run.open(args.run, args.runs_dir), args.step)
    cat, cont = parse_settings(model.cfg, args.set)
    path = Path(args.image)
    if not args.image.startswith("test:"):
        if not path.is_file():
            raise ConfigError({"image": f"{path} is not a file"})
        image = image_from_bytes(path.read_bytes(), model.cfg, args.invert)
    data = reference_images(model.cfg)
    if args.image.startswith("test:"):
        try:
            i = int(args.image[5:])
            assert 0 <= i < len(data)
        except (ValueError, AssertionError):
            raise ConfigError({"image": f"{args.image!r}: test:N needs 0 <= N < {len(data)}"}) from None
        image = data.images[i]
    q_net = reference_encoder(model, data)
    if args.show_codes:
        _print_table(read_codes(q_net, image[None]).table(model.cfg), ["code", "kind", "reading"])
    if not args.out:
        return 0
    found = invert(model, q_net, image[None], args.starts, args.steps, args.refine_codes)
    print(f"reconstruction: RMS pixel error {float(found.error[0]):.3f} (pixels 0..1), step {model.step}")
    edited = edit(model, found.lat, cat, cont)[0]
    buf = BytesIO()
    to_pil(edited, args.scale).save(buf, format="png")
    atomic_write(args.out, buf.getvalue())
    print(f"wrote {args.out}" + (f": {', '.join(args.set)}" if args.set else ": the reconstruction (no --set)"))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import os

    from .ray_runner import run_sweep, shutdown

    if args.resume:
        sweep = Sweep.open(args.resume, args.runs_dir)
        if sweep.state() == "running":
            raise RunError(f"sweep {sweep.name!r} is running (pid {sweep.info().get('pid')}); stop it first")
        if sweep.state() == "completed":
            print(f"{sweep.name}: completed; nothing to resume")
            return 0
    else:
        values = config_values(args)
        seeds = parse_seeds(args.seeds)
        grid = dict(parse_axis(a) for a in args.grid)
        if (keep := current().sweep_points):  # the README's command, on a tiny budget: two seeds, two values per axis
            seeds, grid = seeds[:keep], {k: v[:keep] for k, v in grid.items()}
        parallel = args.parallel if args.parallel is not None else max(1, (os.cpu_count() or 1) // max(1, args.threads))
        name = args.run_name or new_name(Config.from_dict({"dataset": values.get("dataset", "mnist")}), "sweep-", False)
        sweep = Sweep.create(name, values, seeds, grid, parallel=parallel, threads=args.threads, gpus=args.gpus,
                             ray_address=args.ray_address, evaluate=args.evaluate, root=args.runs_dir)
        print(f"{sweep.name}: {len(sweep.members())} members in {sweep.root.resolve()}", flush=True)
    # Ctrl-C (and a TERM from a process manager) stops every trial with a checkpoint, even when
    # this process was started from a shell that ignores SIGINT for background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        state = run_sweep(sweep, args.ray_address, say=lambda line: print(line, flush=True), rank=not args.no_rank,
                          budget=current())
    finally:
        shutdown()
    _print_table(final_table(sweep).to_dict("records"),
                 ["member", "point", "seed", "state", "step", "mi", "accuracy", "node", "attempts", "problem"])
    return 0 if state in ("completed", "stopped") else 1


def cmd_select(args: argparse.Namespace) -> int:
    from .selection import select

    sweep = Sweep.open(args.sweep, args.runs_dir)
    res = select(sweep, say=lambda line: print(line, file=sys.stderr), budget=current())
    if "error" in res:
        raise RunError(res["error"])
    table = selection_table(res, final_table(sweep))
    truth = [m for m in TRUTH_SCORES if m in table and table[m].notna().any()]
    _print_table(table.to_dict("records"), ["rank", "member", *(res.get("criteria") or ["centrality"]), *truth])
    print(f"label-free pick: {res['pick']} (rule: {res.get('rule', 'ModelCentrality')})")
    for m in TRUTH_SCORES:
        a = res.get(m)
        if not a:
            continue
        what = "labels" if m == "accuracy" else "ground truth"
        print(f"by {m} ({what}, not used to pick): pick {a['pick']:.4f}, best {a['best']:.4f} "
              f"({a['best_member']}), median {a['median']:.4f} of {a['n']}")
        for c, r in (a.get("criteria") or {}).items():
            rho = "n/a" if r["spearman"] is None else f"{r['spearman']:+.2f}"
            print(f"  {c}: Spearman with {m} {rho}; its top member {r['top']} has {r[f'top_{m}']:.4f}")
    return 0


def cmd_toy(args: argparse.Namespace) -> int:
    """The 2D InfoGAN's claim, checkable by anyone: with the term on each code value owns a mode."""
    from .toy import train_toy

    if args.steps < 1 or not 0 <= args.seed < 2**32 or not (math.isfinite(args.lambda_info) and args.lambda_info >= 0):
        raise ConfigError({"toy": "--steps must be >= 1, --seed in [0, 2**32) and --lambda-info a finite number >= 0"})
    steps = min(args.steps, 20) if current().smoke else args.steps
    print(json.dumps(train_toy(args.lambda_info, steps, args.seed).summary()))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    if args.sweep:
        sweep = Sweep.open(args.sweep, args.runs_dir)
        print(f"sweep {sweep.name}: {sweep.state()}")
        _print_table(final_table(sweep).to_dict("records"),
                     ["member", "point", "seed", "state", "step", "images_per_s", "mi", "accuracy", "node",
                      "attempts", "problem"])
        return 0
    from .summary import run_summary, state_label  # pandas: only the commands that make tables import it

    rows = [run_summary(r) for r in list_runs(args.runs_dir)]
    if not rows:
        print("no runs yet: python -m infogan train --dataset mnist")
        return 0
    _print_table([{**r, "state": state_label(r)} for r in rows],
                 ["name", "dataset", "state", "step", "loss_d", "loss_g", "mi", "accuracy", "problem"])
    return 0


def _print_table(rows: list[dict[str, Any]], cols: list[str]) -> None:
    table = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)
