"""Helpers shared by the pages: cached readers, the job manager, the selected run.

Only Streamlit glue lives here; anything that computes is in `infogan/`."""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from infogan.evaluate import Model, load_model
from infogan.figures import metrics_frame, monitor_figures
from infogan.jobs import JobManager
from infogan.runs import Run, RunError, list_runs, runs_root
from infogan.summary import run_summary

_local = threading.local()


@contextmanager
def routed():
    """Marks a page run that came through dashboard.py's st.navigation."""
    _local.routed = True
    try:
        yield
    finally:
        _local.routed = False


def page_list() -> list:
    """The app's pages, declared once: dashboard.py routes with them, and a page that runs
    without dashboard.py (see `use_router`) hands them to st.navigation too."""
    return [
        st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/play_circle:"),
        st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
        st.Page("pages/explore.py", title="Explore", icon=":material/tune:"),
        st.Page("pages/disentangle.py", title="Disentanglement", icon=":material/grid_on:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/sweeps.py", title="Sweeps", icon=":material/stacked_line_chart:"),
    ]


def use_router() -> None:
    """Called first by every page. Streamlit starts in its legacy multipage mode when a pages/
    folder exists and leaves it only once st.navigation runs, so a deep link (/monitor?run=x)
    that is a fresh server's first request would run the page without dashboard.py. Then the
    page calls st.navigation itself, which (documented) makes the app ignore pages/ from then
    on in every session, and reruns the session's first run through dashboard.py's router.
    Later runs (only AppTest resets the mode between runs) draw the shared sidebar
    themselves, since a rerun would drop the widget event that triggered them."""
    if getattr(_local, "routed", False):
        return
    if not st.session_state.get("session_started"):
        st.session_state["session_started"] = True
        st.navigation(page_list(), position="hidden")
        st.rerun()
    sidebar()


@st.cache_resource
def job_manager() -> JobManager:
    """One per server process, shared by every tab and every rerun."""
    return JobManager()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=256)
def _frame(path: str, mtime: float, size: int) -> pd.DataFrame:
    return metrics_frame(Run(Path(path)))


def metrics_version(run: Run) -> tuple[float, int]:
    """Changes whenever metrics.jsonl is appended to."""
    try:
        st_ = (run.path / "metrics.jsonl").stat()
    except OSError:
        return 0.0, 0
    return st_.st_mtime, st_.st_size


def frame(run: Run) -> pd.DataFrame:
    """metrics.jsonl as a DataFrame, re-read only when the file changed."""
    return _frame(str(run.path), *metrics_version(run))


def csv_bytes(run: Run) -> bytes:
    return _csv(str(run.path), *metrics_version(run))


@st.cache_data(show_spinner=False, max_entries=16)
def _csv(path: str, mtime: float, size: int) -> bytes:
    return _frame(path, mtime, size).to_csv().encode()


@st.cache_resource(show_spinner=False, max_entries=32)
def _figures(key: tuple, cfg_json: str, smoothing: float, log_y: bool) -> dict:
    frames = {name: _frame(path, mtime, size) for name, path, mtime, size in key}
    return monitor_figures(frames, json.loads(cfg_json), smoothing, log_y)


def figures(runs: list[Run], cfg: dict, smoothing: float, log_y: bool) -> dict:
    """The Monitor charts, rebuilt only when a metrics file changed (the page refreshes every
    second, but new points arrive once per logging interval)."""
    key = tuple((r.name, str(r.path), *metrics_version(r)) for r in runs)
    return _figures(key, json.dumps(cfg, sort_keys=True), smoothing, log_y)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=8)
def _model(path: str, step: int | None, mtime: float) -> Model:
    return load_model(Run(Path(path)), step)


def model(run: Run, step: int | None) -> Model:
    target = run.weights_path(step) if step is not None else run.path / "ckpt"
    return _model(str(run.path), step, _mtime(target))


def summaries() -> list[dict]:
    return [run_summary(r) for r in list_runs()]


def run_names() -> list[str]:
    return [r.name for r in list_runs()]


def selected_run() -> Run | None:
    """The run picked in the sidebar (kept in ?run=NAME so a reload lands on it)."""
    name = st.session_state.get("run")
    if not name:
        return None
    try:
        return Run.open(name)
    except RunError:
        return None


def select_run(name: str) -> None:
    """Select a run from page code; the sidebar picker follows on the next rerun."""
    st.session_state["run"] = name
    st.query_params["run"] = name


def sidebar() -> None:
    """Shared sidebar: run picker, data folder, device."""
    st.session_state["session_started"] = True
    names = run_names()
    if "run" not in st.session_state:
        wanted = st.query_params.get("run")
        st.session_state["run"] = wanted if wanted in names else (names[-1] if names else None)
    if st.session_state.get("run") not in names:
        st.session_state["run"] = names[-1] if names else None
    with st.sidebar:
        if names:
            st.session_state["run_picker"] = st.session_state["run"]  # before the widget exists

            def picked() -> None:
                select_run(st.session_state["run_picker"])

            st.selectbox("Run", names, key="run_picker", on_change=picked)
        else:
            st.caption("No runs yet.")
        st.session_state.setdefault("data_dir", os.environ.get("INFOGAN_DATA", "data"))
        st.text_input("Data folder", key="data_dir", help="Where datasets live (torchvision layout). Used by new runs.")
        st.session_state.setdefault("ray_address", os.environ.get("INFOGAN_RAY_ADDRESS", ""))
        st.text_input("Ray cluster address", key="ray_address", placeholder="embedded (this machine)",
                      help="Where new sweeps run. Empty: an embedded Ray on this machine. Else the address of a "
                           "running cluster (ray start --head), e.g. 10.0.0.5:6379; its nodes must see the runs "
                           "and data folders at the same paths.")
        dev = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        st.caption(f"Device: **{dev}** · {torch.get_num_threads()} CPU threads")
        st.caption(f"Runs folder: `{runs_root().resolve()}`")
        running = job_manager().training()
        if running:
            st.caption(f"Training now: {', '.join(j.run.name for j in running)}")
    if st.session_state.get("run"):
        st.query_params["run"] = st.session_state["run"]


def require_run() -> Run:
    """The selected run, or a hint and a stop of the page when there is none."""
    run = selected_run()
    if run is None:
        st.info("No run selected. Start one on the **Train** page or pick one in the sidebar.")
        st.stop()
    return run


def require_checkpoint(run: Run) -> int:
    step = checkpoint_picker(run)
    if step is None:
        st.stop()
    return step


def checkpoint_picker(run: Run, label: str = "Checkpoint", key: str | None = None) -> int | None:
    steps = run.checkpoint_steps()
    if not steps:
        st.info(f"Run **{run.name}** has no checkpoint yet; one is written every "
                "`ckpt_every` steps and when training ends or stops.")
        return None
    return st.selectbox(label, steps, index=len(steps) - 1, key=key,
                        format_func=lambda s: f"step {s}")
