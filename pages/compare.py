"""Compare: 2-4 checkpoints side by side with the same noise seeds and code values."""

import pandas as pd
import streamlit as st
import torch

from infogan.data import to_pil
from infogan.evaluate import traversal_grid
from infogan.figures import monitor_figures
from infogan.runs import Run, RunError, list_runs
from pages.common import frame, model, use_router

use_router()

st.title("Compare checkpoints")
options = [f"{r.name} @ {s}" for r in list_runs() for s in r.checkpoint_steps()]
if len(options) < 2:
    st.info("Comparing needs at least two checkpoints (from one run or several).")
    st.stop()
wanted = st.session_state.pop("compare_runs", None)
if wanted:  # arriving from the Runs page: newest checkpoint of each selected run
    st.session_state["compare_pick"] = [[o for o in options if o.startswith(f"{n} @ ")][-1]
                                        for n in wanted if any(o.startswith(f"{n} @ ") for o in options)][:4]
picked = st.multiselect("Checkpoints (2 to 4)", options, key="compare_pick", max_selections=4,
                        default=None if "compare_pick" in st.session_state else options[-2:])
if len(picked) < 2:
    st.info("Pick two to four checkpoints.")
    st.stop()

models = {}
for p in picked:
    name, step = p.rsplit(" @ ", 1)
    try:
        models[p] = (Run.open(name), model(Run.open(name), int(step)))
    except RunError as exc:
        st.error(f"{p}: {exc}")
if len(models) < 2:
    st.stop()

shared = [c for c in next(iter(models.values()))[1].cfg.code_names
          if all(c in m.cfg.code_names for _, m in models.values())]
c1, c2, c3 = st.columns(3)
code = c1.selectbox("Code to traverse", shared)
rows = c2.slider("Rows (noise seeds)", 1, 12, 6)
lo, hi = c3.slider("Continuous range", -4.0, 4.0, (-2.0, 2.0), 0.5)
values = torch.linspace(lo, hi, 7).tolist()

for col, (label, (_run, m)) in zip(st.columns(len(models)), models.items()):
    with col:
        st.markdown(f"**{label}**")
        grid, _ = traversal_grid(m, code, list(range(rows)), values)
        st.image(to_pil(grid, 2), width="stretch")


def metric_row(label: str, run: Run, step: int) -> dict:
    df = frame(run)
    last = df[df.index <= step].iloc[-1].to_dict() if not df.empty and (df.index <= step).any() else {}
    ev = ((run.eval_results() or {}).get("by_step", {}).get(str(step)) or {}).get("categorical") or {}
    return {"checkpoint": label, "dataset": run.config().dataset, "accuracy": ev.get("accuracy"),
            **{k: v for k, v in last.items() if k.startswith(("mi_", "loss_"))}}


st.dataframe(pd.DataFrame([metric_row(lbl, r, m.step) for lbl, (r, m) in models.items()]), hide_index=True,
             column_config={"accuracy": st.column_config.NumberColumn(format="percent")})
st.caption("Accuracy appears once a checkpoint is evaluated on the Disentanglement page.")
frames = {r.name: frame(r) for r, _ in models.values()}
figs = monitor_figures(frames, next(iter(models.values()))[1].cfg.to_dict())
left, right = st.columns(2)
left.plotly_chart(figs["mi"], width="stretch", key="cmp_mi")
right.plotly_chart(figs["losses"], width="stretch", key="cmp_loss")
