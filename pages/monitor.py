"""Monitor: live charts of the losses and MI bounds, refreshed about once a second."""

import contextlib

import streamlit as st

from infogan.figures import recent_rate
from infogan.runs import Run, RunError, effective_state
from pages.common import csv_bytes, figures, frame, require_run, run_names, use_router

use_router()

st.title("Monitor")
run = require_run()

c1, c2, c3 = st.columns([3, 2, 1])
overlay = c1.multiselect("Overlay runs", [n for n in run_names() if n != run.name],
                         help="Draw other runs' curves on the same charts")
smoothing = c2.slider("Smoothing", 0.0, 0.99, 0.0, 0.01, help="Exponential moving average")
log_y = c3.toggle("Log scale", help="Log y-axis for losses and sigma")


@st.fragment(run_every=1)
def live() -> None:
    status = run.status()
    state = effective_state(status)
    try:
        cfg = run.config().to_dict()
    except RunError as exc:
        st.error(str(exc))
        return
    runs = [run]
    for name in overlay:
        with contextlib.suppress(RunError):
            runs.append(Run.open(name))
    df = frame(run)
    total = status.get("total_steps")
    st.markdown(f"**{run.name}** · {state} · step {status.get('step', 0)}"
                + (f" / {total}" if total else "")
                + (f" · {recent_rate(df):.0f} images/s" if "images_per_s" in df else "")
                + (f" · {status['precision']}" if isinstance(status.get("precision"), str) else ""))
    probe = status.get("precision_probe")
    if isinstance(probe, dict) and probe.get("reason"):
        st.caption(f"Precision chosen at the start (precision = auto): {probe['reason']}")
    if status.get("error"):
        st.error(status["error"])
    if df.empty:
        st.info("No metrics logged yet: the first point appears after `log_every` steps.")
        return
    figs = figures(runs, cfg, smoothing, log_y)  # rebuilt only when a metrics file changed
    left, right = st.columns(2)
    for i, (key, fig) in enumerate(figs.items()):
        (left if i % 2 == 0 else right).plotly_chart(fig, key=f"chart_{key}", width="stretch")
    samples = run.sample_paths()
    if samples:
        st.image(str(samples[-1]), width=420,
                 caption=f"Fixed noise, {samples[-1].stem.replace('_', ' ')}: rows = noise seeds, "
                         "columns = values of c1")
    st.download_button("Download metrics (CSV)", csv_bytes(run), f"{run.name}_metrics.csv",
                       "text/csv", key="csv")


live()
