"""One row per run folder for the runs table (CLI and dashboard), one row per evaluated
checkpoint (eval.json's results as the numbers the charts, tables and sweeps read), and the
training log as a frame (metrics.jsonl by step) with its recent speed.

A broken folder never raises here: its row says what is wrong in `problem`, so one bad run
cannot hide the others."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import lease
from .config import Config
from .runs import Run, RunError
from .scores import FACTOR_SCORES, QUALITY


def eval_row(res: dict[str, Any]) -> dict[str, Any]:
    """One evaluation's numbers by name: accuracy; slant_rho / width_rho (|Spearman| of the
    matched continuous codes); the factor scores; the sample-quality numbers and, as
    `<name>_floor`, real data's value of each. Missing parts are absent, never raise."""
    row: dict[str, Any] = {}
    cat = res.get("categorical")
    if isinstance(cat, dict):
        row["accuracy"] = cat.get("accuracy")
    for measure, best in ((res.get("continuous") or {}).get("best") or {}).items():
        if isinstance(best, dict) and isinstance(best.get("spearman"), (int, float)):
            row[f"{measure}_rho"] = abs(best["spearman"])
    factors = res.get("factors") or {}
    row |= {k: factors[k] for k in FACTOR_SCORES if isinstance(factors.get(k), (int, float))}
    q = res.get("quality") or {}
    floor = q.get("floor") or {}
    row |= {k: q[k] for k in QUALITY if isinstance(q.get(k), (int, float))}
    row |= {f"{k}_floor": floor[k] for k in QUALITY if isinstance(floor.get(k), (int, float))}
    return row


def eval_table(run: Run) -> pd.DataFrame:
    """eval.json's per-checkpoint results, one row per step (index), the columns that exist."""
    try:
        by_step = (run.eval_results() or {}).get("by_step") or {}
    except RunError:
        by_step = {}
    rows = {int(step): eval_row(res) for step, res in by_step.items() if isinstance(res, dict) and str(step).isdigit()}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index() if rows else pd.DataFrame()


def layout(cfg_dict: dict[str, Any]) -> str:
    cats = "".join(f"+Cat({k})" for k in cfg_dict.get("cat_codes", []))
    circ = min(cfg_dict.get("circular_codes", 0), cfg_dict.get("n_cont", 0))
    lines = cfg_dict.get("n_cont", 0) - circ
    conts = (f"+{circ}xCircle" if circ else "") + (f"+{lines}xU(-1,1)" if lines else "")
    return f"z{cfg_dict.get('noise_dim', '?')}{cats}{conts}"


def state_label(row: dict[str, Any]) -> str:
    """The state as a table shows it: a queued member names the sweep it waits for."""
    return f"queued (sweep {row['sweep']})" if row["state"] == "queued" and row.get("sweep") else row["state"]


def run_summary(run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {"name": run.name, "path": str(run.path)}
    problems = []
    try:
        cfg = run.config().to_dict()
        row.update(dataset=cfg["dataset"], layout=layout(cfg))
    except RunError as exc:
        problems.append(str(exc))
    st = run.status()
    row["state"] = run.state(st)
    # a sweep's member: which sweep, the Ray node of its latest attempt, how many attempts
    row.update(sweep=st.get("sweep"), node=st.get("node"), attempts=int(st.get("attempts") or 0))
    if st.get("error"):
        problems.append(str(st["error"]))
    row["step"] = st.get("step", 0)
    total = st.get("total_steps")
    row["progress"] = min(row["step"] / total, 1.0) if isinstance(total, int) and total > 0 else None
    row["updated"], row["started"] = st.get("updated"), st.get("started")
    records, bad_lines = run.metrics()
    if bad_lines:
        problems.append(f"metrics.jsonl: skipped {bad_lines} unreadable line(s)")
    if records:
        last = records[-1]
        row.update(loss_d=last.get("loss_d"), loss_g=last.get("loss_g"),
                   images_per_s=last.get("images_per_s"))
        mis = {k: v for k, v in last.items() if k.startswith("mi_")}
        row["mi"] = " ".join(f"{k[3:]}={v:.2f}" for k, v in mis.items()) or None
    try:
        ev = run.eval_results()
        cat = (ev or {}).get("categorical") if isinstance(ev, dict) else None
        row["accuracy"] = cat.get("accuracy") if isinstance(cat, dict) else None
    except RunError as exc:
        problems.append(str(exc))
    try:
        row.update(run.notes())
    except RunError as exc:
        row.update(note=None, tags=[])
        problems.append(str(exc))
    samples = run.sample_paths()
    row["thumbnail"] = str(samples[-1]) if samples else None
    row["checkpoints"] = len(run.checkpoint_steps())
    row["problem"] = "; ".join(problems) or None
    return row


def metrics_frame(run: Run) -> pd.DataFrame:
    """metrics.jsonl as a DataFrame indexed by step (empty when nothing is logged yet)."""
    records, _ = run.metrics()
    if not records:
        return pd.DataFrame()
    return pd.DataFrame.from_records(records).drop_duplicates("step", keep="last").set_index("step")


def eta_minutes(step: int, total: int, images_per_s: float | None, batch_size: int) -> float | None:
    """Minutes left at the recent rate (None before a rate or a total is known)."""
    if not images_per_s or not total:
        return None
    return (total - step) / (images_per_s / batch_size) / 60


def measured_rate(runs: list[Run], cfg: Config, look_at: int = 20) -> tuple[float, str] | None:
    """(images/s, run name) of the newest run trained on this machine with cfg's dataset, network
    and batch size: what the Train form's time estimate rests on (None: nothing comparable here).
    Only the `look_at` newest runs are read, so the estimate stays cheap with many runs."""
    same = ("dataset", "arch", "image_size", "channels", "batch_size", "precision", "device")
    newest = sorted(((r, r.status()) for r in runs), key=lambda rs: rs[1].get("started") or 0, reverse=True)
    for run, status in newest[:look_at]:
        if status.get("host", lease.host()) != lease.host():
            continue
        try:
            other = run.config()
        except RunError:
            continue
        if all(getattr(other, k) == getattr(cfg, k) for k in same) and (rate := recent_rate(metrics_frame(run))):
            return rate, run.name
    return None


def recent_rate(df: pd.DataFrame, windows: int = 5) -> float | None:
    """Images/s over the last few logging windows (the last one alone may be a short stop window)."""
    return float(df["images_per_s"].tail(windows).median()) if "images_per_s" in df else None
