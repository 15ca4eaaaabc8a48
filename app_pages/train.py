"""Train: a form over every Config field with per-dataset presets; running jobs below."""

import dataclasses

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
from infogan.datasets import RECORDS
from infogan.runs import RunError, list_runs
from infogan.summary import eta_minutes, recent_rate

# how the form groups Config's fields; a test checks that every field appears exactly once
FIELD_GROUPS = {
    "Data": ("dataset", "data_dir", "download", "subset", "image_size", "channels"),
    "Networks": ("arch", "d_batchnorm", "spectral_norm", "output"),
    "Latent layout": ("noise_dim", "noise_prior", "cat_codes", "n_cont", "fixed_sigma"),
    "Objective": ("lambda_cat", "lambda_cont", "lambda_cat_jitter", "lambda_cr", "cr_start"),
    "Optimisation": ("lr_d", "lr_g", "beta1", "beta2", "g_steps", "batch_size", "epochs", "max_steps", "seed",
                     "device", "precision"),
    "Logging and checkpoints": ("log_every", "sample_every", "ckpt_every", "keep_checkpoints", "disent_every"),
}

st.title("Train a new run")
PRESETS = {d.name if d.name in BUILTIN_DATASETS else f"{d.name}:": d.label for d in RECORDS}
choice = st.selectbox("Dataset and preset", list(PRESETS), format_func=PRESETS.get,
                      help="Picking a dataset loads that dataset's paper defaults into the form.")
base = preset(choice if choice != "folder:" else "folder:data/images")
base = dataclasses.replace(base, data_dir=st.session_state.get("data_dir", ""))
SELECTS = {"image_size": list(IMAGE_SIZES), "channels": [1, 3], "device": list(DEVICES),
           "precision": list(PRECISIONS), "arch": list(ARCH_NAMES), "output": list(OUTPUTS),
           "noise_prior": list(NOISE_PRIORS)}


def widget(name: str, default):
    key = f"form_{choice}_{name}"
    label = name.replace("_", " ")
    if name == "dataset":
        if choice != "folder:":
            st.text_input("dataset", value=default, disabled=True, key=key)
            return default
        path = st.text_input("image folder path", value=default[7:], key=key,
                             help="Class subfolders (ImageFolder) or a flat folder of images")
        return "folder:" + path
    if name in SELECTS:
        opts = SELECTS[name]
        return st.selectbox(label, opts, index=opts.index(default), key=key)
    if isinstance(default, bool):
        return st.checkbox(label, value=default, key=key)
    if isinstance(default, int):
        return st.number_input(label, value=default, step=1, key=key)
    if isinstance(default, tuple):
        return st.text_input("categorical codes (K per code, comma-separated)", key=key,
                             value=",".join(map(str, default)))
    return st.text_input(label, value=str(default), key=key)  # floats: "2e-4" types naturally


with st.form("train_form"):
    values = {}
    for group, names in FIELD_GROUPS.items():
        st.markdown(f"**{group}**")
        cols = st.columns(4)
        for i, name in enumerate(names):
            with cols[i % 4]:
                values[name] = widget(name, getattr(base, name))
    run_name = st.text_input("Run name (optional)", placeholder="dataset-date-time-seed")
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    try:
        cfg = Config.from_dict(values)
        job = job_manager().start(cfg, run_name.strip() or None)
        select_run(job.run.name)
        st.success(f"Started **{job.run.name}**. Watch it on the Monitor page.")
    except ConfigError as exc:
        st.error("Not started; fix these fields:\n\n" + "\n".join(
            f"- **{k}**: {v}" for k, v in exc.errors.items()))
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
