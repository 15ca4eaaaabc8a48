"""Train: the few choices that matter first (preset, how long, seed, name), with the time the run
will take on this machine; every other Config field in collapsed groups with its label and help
(infogan/fields.py); running jobs below."""

import dataclasses
import math

import streamlit as st

from app_pages.common import frame, job_manager, select_run, share_link
from infogan.archs import ARCH_NAMES
from infogan.config import (
    BUILTIN_DATASETS,
    DEVICES,
    IMAGE_SIZES,
    NOISE_PRIORS,
    OUTPUTS,
    PRECISIONS,
    Config,
    ConfigError,
    preset,
)
from infogan.datasets import RECORDS, train_images
from infogan.fields import BASIC, FIELDS, GROUPS
from infogan.runs import RunError, list_runs, runs_root
from infogan.summary import eta_minutes, measured_rate, recent_rate

st.title("Train a new run")
PRESETS = {d.name if d.name in BUILTIN_DATASETS else f"{d.name}:": d.label for d in RECORDS}
choice = st.selectbox("Dataset and preset", list(PRESETS), format_func=PRESETS.get,
                      help="Picking a dataset loads that dataset's published recipe into every field below.")
base = preset(choice if choice != "folder:" else "folder:data/images")
base = dataclasses.replace(base, data_dir=st.session_state.get("data_dir", ""))
SELECTS = {"image_size": list(IMAGE_SIZES), "channels": [1, 3], "device": list(DEVICES),
           "precision": list(PRECISIONS), "arch": list(ARCH_NAMES), "output": list(OUTPUTS),
           "noise_prior": list(NOISE_PRIORS)}


def widget(name: str, default):
    """One Config field as a widget under its human label; the label names the field in errors."""
    key, doc = f"form_{choice}_{name}", FIELDS[name]
    label, tip = doc.label, f"{doc.help}  \nThis preset: `{default}` · field `{name}`"
    if name == "dataset":
        if choice != "folder:":
            st.text_input(label, value=default, disabled=True, key=key, help=tip)
            return default
        path = st.text_input("Image folder path", value=default[7:], key=key, help=tip)
        return "folder:" + path
    if name in SELECTS:
        opts = SELECTS[name]
        return st.selectbox(label, opts, index=opts.index(default), key=key, help=tip)
    if isinstance(default, bool):
        return st.checkbox(label, value=default, key=key, help=tip)
    if isinstance(default, int):
        return st.number_input(label, value=default, step=1, key=key, help=tip)
    if isinstance(default, tuple):
        return st.text_input(label + " (values per code, comma-separated)", key=key, help=tip,
                             value=",".join(map(str, default)))
    return st.text_input(label, value=str(default), key=key, help=tip)  # floats: "2e-4" types naturally


def images_of(values: dict) -> int | None:
    images = train_images(values.get("dataset", base.dataset))
    subset = values.get("subset") or 0
    return None if images is None else min(images, subset) if subset else images


values = {}
st.markdown("**The basics**")
c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 2])
with c1:
    values["seed"] = widget("seed", base.seed)
unit = c2.radio("Train for", ["epochs", "minutes"], key=f"form_{choice}_unit", horizontal=True,
                help="Minutes become a step cap at the speed of the newest comparable run on this machine")
if unit == "epochs":
    with c3:
        values["epochs"] = widget("epochs", base.epochs)
    with c4:
        values["max_steps"] = widget("max_steps", base.max_steps)
else:
    minutes = c3.number_input("Minutes", 1, 100_000, 10, key=f"form_{choice}_minutes")
run_name = c5.text_input("Run name (optional)", placeholder="dataset-date-time-seed")
estimate = st.empty()  # filled once every field is read: the run's length depends on several
for group, names in GROUPS.items():
    with st.expander(group):
        if group.startswith("Logging"):
            auto = st.empty()
        cols = st.columns(3)
        for i, name in enumerate(n for n in names if n not in BASIC):
            with cols[i % 3]:
                values[name] = widget(name, getattr(base, name))
submitted = st.button("Start training", type="primary")


@st.cache_data(ttl=10, show_spinner=False)
def _speed(cfg: Config, root: str) -> tuple[float, str] | None:
    return measured_rate(list_runs(root), cfg)


def speed_here(cfg: Config) -> tuple[float, str] | None:
    """measured_rate in this runs folder, read again at most every 10 s: each change of a field
    reruns this page."""
    return _speed(cfg, str(runs_root().resolve()))


def in_minutes(values: dict, minutes: int) -> dict:
    """epochs and max_steps for `minutes` of training at the measured speed ({} when unknown)."""
    try:
        cfg = Config.from_dict(values)
    except ConfigError:
        return {}
    rate, images = speed_here(cfg), images_of(values)
    if rate is None or images is None:
        st.warning("No run of this dataset, network and batch size has trained on this machine yet, so minutes "
                   "cannot be turned into steps: the preset's epochs apply.")
        return {}
    steps = max(1, int(minutes * 60 * rate[0] / cfg.batch_size))
    return {"max_steps": steps, "epochs": max(1, math.ceil(steps / max(1, images // cfg.batch_size)))}


if unit == "minutes":
    values.update(in_minutes(values, minutes))


def how_long(values: dict) -> tuple[str, str]:
    """(the run's length and time on this machine, what auto intervals mean for it)."""
    try:
        cfg = Config.from_dict(values)
    except ConfigError:
        return "", ""
    images = images_of(values)
    if images is None:
        return f"{cfg.epochs} epoch(s) of an image folder: its length is known once its images are read.", ""
    total = cfg.total_steps(images)
    sample, frame, ckpt = cfg.intervals(total)
    rate = speed_here(cfg)
    when = (f" ≈ **{total * cfg.batch_size / rate[0] / 60:.0f} min** on this machine at {rate[0]:,.0f} images/s "
            f"(measured on run {rate[1]})" if rate else
            " · no run of this dataset, batch size and network on this machine to time it yet")
    intervals = (f"With 0 (auto): samples every {sample:,} steps, a film frame every {frame:,}, a checkpoint every "
                 f"{ckpt:,} (a 25th, a 10th and a 5th of the run). A value you set wins.")
    return f"This run: **{total:,} steps** ({math.ceil(total / max(1, images // cfg.batch_size))} epoch(s) of " \
           f"{images:,} images){when}.", intervals


length, intervals = how_long(values)
estimate.caption(length)
auto.caption(intervals)

if submitted:
    try:
        cfg = Config.from_dict(values)
        job = job_manager().start(cfg, run_name.strip() or None)
        select_run(job.run.name)
        st.success(f"Started **{job.run.name}**. Watch it on the Monitor page.")
    except ConfigError as exc:
        st.error("Not started; fix these fields:\n\n" + "\n".join(
            f"- **{FIELDS[k].label if k in FIELDS else k}** (`{k}`): {v}" for k, v in exc.errors.items()))
    except RunError as exc:
        st.error(f"Not started: {exc}")


@st.fragment(run_every=2)
def jobs_panel() -> None:
    manager = job_manager()
    running = manager.training()
    st.subheader(f"Jobs · {len(running)} training now")
    for job in running:
        st_ = job.run.status()
        step, total = st_.get("step", 0), st_.get("total_steps") or 0
        df = frame(job.run)
        ips = recent_rate(df)
        minutes = eta_minutes(step, total, ips, job.run.config().batch_size) if ips else None
        eta = f"{minutes:.1f} min" if minutes is not None else "…"
        c1, c2 = st.columns([5, 1])
        c1.progress(min(step / total, 1.0) if total else 0.0,
                    text=f"**{job.run.name}** · step {step}/{total or '?'} · "
                         f"{ips or 0:.0f} images/s · ETA {eta}")
        if c2.button("Stop", key=f"stop_{job.run.name}"):
            manager.stop(job.run.name)
            st.toast(f"Stopping {job.run.name} (it saves a checkpoint first)")
    for job in manager.jobs():
        if job.training and not job.alive and job.error:
            st.error(f"{job.run.name} failed: {job.error}")
    # status.json and the checkpoint list only: this panel reruns every 2 s
    resumable = [(run, status) for run, status in ((x, x.status()) for x in list_runs())
                 if run.resumable(status) and not manager.is_running(run.name)]
    if resumable:
        st.markdown("**Stopped or interrupted runs**")
    for run, status in resumable:
        c1, c2 = st.columns([5, 1])
        c1.write(f"{run.name} · {run.state(status)} at step {status.get('step', 0)}"
                 + (f" · {status['error']}" if status.get("error") else ""))
        if c2.button("Resume", key=f"resume_{run.name}"):
            try:
                manager.resume(run)
                st.rerun()
            except RunError as exc:
                st.error(str(exc))


jobs_panel()


finished = {run.name: run for run in list_runs()
            if run.status().get("state") == "completed" and run.checkpoint_steps() and not run.reserved_by()}
if finished:
    st.subheader("Train a finished run longer")
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    run = finished[c1.selectbox("Completed run", list(finished))]
    try:
        epochs = run.config().epochs  # only the chosen run's config is read on a rerun
    except RunError as exc:
        st.error(str(exc))
        st.stop()
    total = c2.number_input("Epochs in all", value=epochs + 5, min_value=1, step=1, key=f"epochs_{run.name}")
    if c3.button("Train longer"):
        try:
            job_manager().resume(run, epochs=int(total))
            select_run(run.name)
            st.success(f"**{run.name}** continues to {int(total)} epochs from its last checkpoint.")
        except (RunError, ConfigError) as exc:
            st.error(f"Not started: {exc}")
share_link()
