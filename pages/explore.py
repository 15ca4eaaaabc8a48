"""Explore: an interactive generator with one knob per code, latent traversals per code, and
the film of training (the same panel from every saved checkpoint)."""

import streamlit as st
import torch

from infogan import film, latent
from infogan.data import png_bytes, to_pil
from infogan.evaluate import all_codes_png, generate_one, load_model
from infogan.film import traversal_grid
from infogan.runs import RunError
from pages.common import film_player, model, picture, require_checkpoint, require_run, use_router

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

gen_tab, trav_tab, film_tab = st.tabs(["Generator", "Traversals", "Film over training"])
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
        grid, vals = traversal_grid(m.G, m.cfg, c.name, list(range(rows)), values)
        what = f"categorical, K={c.k}" if c.kind == "cat" else f"continuous, {lo:g} → {hi:g}"
        st.markdown(f"**{c.name}** · {what} · rows = seeds 0-{rows - 1}, columns = "
                    + ", ".join(f"{v:g}" for v in vals))
        st.image(to_pil(grid, scale))
        st.download_button(f"Download {c.name} grid (PNG)", png_bytes(grid), f"{run.name}_{c.name}_step{m.step}.png",
                           "image/png", key=f"dl_{c.name}")

with film_tab:
    st.caption("Every saved checkpoint drew the same pictures from the same noise seeds and code values, so "
               "frame to frame only the weights change: watch when each code takes on its meaning.")
    names = ["samples", *m.cfg.code_names]
    kinds = {c.name: f"categorical, K={c.k}" if c.kind == "cat" else "continuous, -2 → 2" for c in codes}

    def show(at: int) -> None:
        panel = film.load(run, at)
        if panel is None:
            st.warning(f"The frame of step {at} is no longer readable.")
            return
        cols = st.columns(3)
        for i, name in enumerate(n for n in names if n in panel.names):
            what = "64 draws from the prior" if name == "samples" else f"{kinds[name]} · rows = noise seeds 0-7"
            cols[i % 3].image(picture(panel.path(name)), caption=f"{name} · {what} · step {at}")

    film_player(run, "explore_film", show)
    at = st.session_state.get("explore_film_step")
    if at is not None:
        st.markdown("**Download**")
        pick = st.selectbox("Picture", names, key="film_pick", format_func=lambda n: f"{n} ({kinds.get(n, 'samples')})")
        c1, c2, c3 = st.columns(3)
        c1.download_button(f"{pick} over training (GIF)", lambda: film.gif_bytes(film.film_frames(run, pick)),
                           f"{run.name}_{pick}_film.gif", "image/gif", key="dl_film_gif")
        c2.download_button(f"{pick} over training (MP4)", lambda: film.mp4_bytes(film.film_frames(run, pick)),
                           f"{run.name}_{pick}_film.mp4", "video/mp4", key="dl_film_mp4")
        if pick != "samples":
            kept = at in run.checkpoint_steps()

            def walk() -> bytes:
                w = load_model(run, at)
                return film.gif_bytes(film.walk_frames(w.G, w.cfg, pick, at), 120)

            c3.download_button(f"latent walk of {pick} at step {at} (GIF)", walk,
                               f"{run.name}_{pick}_walk_step{at}.gif", "image/gif", key="dl_walk_gif",
                               disabled=not kept,
                               help=None if kept else f"the weights of step {at} were pruned (keep_checkpoints)")
