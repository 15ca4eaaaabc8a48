"""Explore: latent traversals per code, and an interactive generator with one knob per code."""

import streamlit as st
import torch

from infogan import latent
from infogan.data import png_bytes, to_pil
from infogan.evaluate import all_codes_png, generate_one, traversal_grid
from infogan.runs import RunError
from pages.common import model, require_checkpoint, require_run, use_router

use_router()

st.title("Explore latent codes")
run = require_run()
step = require_checkpoint(run)
try:
    m = model(run, step)
except RunError as exc:
    st.error(str(exc))
    st.stop()
codes = latent.codes_of(m.cfg)
scale = 3 if m.cfg.image_size <= 32 else 2

gen_tab, trav_tab = st.tabs(["Generator", "Traversals"])
with gen_tab:
    st.caption("Each knob is one latent code; the noise seed fixes everything else.")
    left, right = st.columns([1, 1])
    with left:
        seed = int(st.number_input("Noise seed", value=0, step=1, min_value=0))
        cat, cont = {}, {}
        for c in codes:
            if c.kind == "cat":
                cat[c.name] = st.select_slider(f"{c.name} · categorical, K={c.k}", list(range(c.k)), value=0)
            else:
                cont[c.name] = st.slider(f"{c.name} · continuous (trained on -1..1)", -3.0, 3.0, 0.0, 0.05)
    with right:
        img = generate_one(m, seed, cat, cont)
        st.image(to_pil(img, 8 if m.cfg.image_size <= 32 else 5), caption=f"step {m.step}")

with trav_tab:
    c1, c2, c3 = st.columns(3)
    rows = c1.slider("Rows (noise seeds)", 1, 16, 8)
    lo, hi = c2.slider("Continuous range", -4.0, 4.0, (-2.0, 2.0), 0.5,
                       help="The prior is U(-1, 1); the paper shows -2..2 to test generalisation")
    n = c3.slider("Columns (continuous codes)", 3, 15, 9)
    values = torch.linspace(lo, hi, n).tolist()
    st.download_button("Download every code in one picture (PNG)", lambda: all_codes_png(m, list(range(rows)), values),
                       f"{run.name}_codes_step{m.step}.png", "image/png", key="dl_all")  # drawn on click only
    for c in codes:
        grid, vals = traversal_grid(m, c.name, list(range(rows)), values)
        what = f"categorical, K={c.k}" if c.kind == "cat" else f"continuous, {lo:g} → {hi:g}"
        st.markdown(f"**{c.name}** · {what} · rows = seeds 0-{rows - 1}, columns = "
                    + ", ".join(f"{v:g}" for v in vals))
        st.image(to_pil(grid, scale))
        st.download_button(f"Download {c.name} grid (PNG)", png_bytes(grid), f"{run.name}_{c.name}_step{m.step}.png",
                           "image/png", key=f"dl_{c.name}")
