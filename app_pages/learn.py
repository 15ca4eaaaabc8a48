"""Learn: what InfoGAN does and why, shown on the selected run (its objective's terms with their
values, its networks layer by layer), on a 2D InfoGAN that trains in seconds beside the same
model without the information term, and by training the run's own config without that term."""

import json
import time

import pandas as pd
import streamlit as st
import torch

from app_pages.common import frame, job_manager, select_run, selected_run, share_link
from infogan import toy
from infogan.config import Config
from infogan.explain import layers, objective, objective_table
from infogan.figures import toy_figure
from infogan.runs import RunError
from infogan.summary import recent_rate

st.title("Learn: what InfoGAN does")
st.markdown(
    "A GAN's generator G turns random noise into images; nothing makes any input mean anything. **InfoGAN** "
    "(Chen et al. 2016) splits G's input into noise **z** and a few **codes c**: categorical (a dial with K "
    "settings) and continuous (a knob from −1 to 1). A third network **Q** reads the codes back from the image. "
    "G is rewarded when Q can, so G must make each code change the image in a way Q can see: the codes come to "
    "mean something (the digit, its slant, its width) without any labels. Q shares D's convolutional trunk, so "
    "reading the codes costs one small head, not a second network.")
st.latex(r"\min_{G,Q}\ \max_D\ V(D, G) - \lambda\, L_I(G, Q), \qquad "
         r"L_I = \mathbb{E}_{c \sim p(c),\, x \sim G(z, c)}[\log Q(c \mid x)] + H(c) \le I(c;\, G(z, c))")

# ----- the 2D toy -----
st.subheader("See it in seconds: a 2D InfoGAN")
st.markdown(
    "Real data: 8 blobs on a ring (grey). G gets 2 noise numbers, a categorical code of 8 values (the colours) "
    "and one continuous code. The shading is D's belief that a point is real (dark: real). **With the "
    "information term** each colour should settle on a blob of its own; **without it** (λ = 0, a plain GAN) G "
    "may still cover the blobs, but the colours stay mixed: the code means nothing. *Purity*: for each colour, "
    "the share of its points on its most common blob.")
c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
steps = c1.number_input("Steps", 200, 5000, 1000, 100, key="toy_steps", help="About 4 s per 1,000 on 2 CPU cores")
seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key="toy_seed")
go_toy = c3.button("Train both, side by side", type="primary")
left, right = st.columns(2)
slots = {1.0: left.empty(), 0.0: right.empty()}
titles = {1.0: "information term on (λ = 1)", 0.0: "information term off (λ = 0)"}
real = toy.real_batch(512, torch.Generator().manual_seed(0)).numpy()
if go_toy:
    for lam, slot in slots.items():
        result = toy.train_toy(lam, int(steps), int(seed), every=max(50, int(steps) // 20),
                               on_snapshot=lambda s, lam=lam, slot=slot: slot.plotly_chart(
                                   toy_figure(s, real, titles[lam]), key=f"toy_{lam}_{s.step}"))
        st.session_state[f"toy_result_{lam}"] = result
for lam, slot in slots.items():
    result = st.session_state.get(f"toy_result_{lam}")
    if result is not None and not go_toy:
        slot.plotly_chart(toy_figure(result.snapshots[-1], real, titles[lam]), key=f"toy_final_{lam}")
    elif result is None:
        slot.info(f"Not trained yet: {titles[lam]}.")
done = [st.session_state.get(f"toy_result_{lam}") for lam in slots]
if all(done):
    on, off = done
    st.success(f"With the term: purity **{on.purity:.2f}**, {on.modes_covered}/8 blobs covered, MI bound "
               f"{on.mi_cat:.2f} of ln 8 = 2.08 nats ({on.seconds:.1f} s). Without: purity **{off.purity:.2f}** "
               f"(1/8 = 0.125 when the colours are fully mixed), {off.modes_covered}/8 blobs "
               f"({off.seconds:.1f} s). The same from a terminal: `python -m infogan toy --lambda-info 0`.")

# ----- the selected run -----
run = selected_run()
st.subheader("Your run" + (f": {run.name}" if run else ""))
if run is None:
    st.info("Select a run in the sidebar (or start the MNIST demo on the Runs page) to see its objective's terms "
            "and its networks here.")
    share_link()
    st.stop()
try:
    cfg = run.config()
except RunError as exc:
    st.error(str(exc))
    st.stop()
df = frame(run)
last = df.iloc[-1].to_dict() if not df.empty else {}
st.markdown(f"**The objective's terms now** (step {int(df.index[-1]) if not df.empty else 0}; λ = "
            f"{cfg.lambda_cat} for categorical codes, {cfg.lambda_cont} for continuous ones)")
st.markdown(objective_table(objective(cfg, last)))
st.markdown(
    "**Reading the Monitor's charts.** *Mutual information lower bound per code*: how much of each code the image "
    "gives away; a categorical code that reaches its dotted ceiling ln K is read back perfectly. *D(x) vs D(G(z))*: "
    "D's mean belief on real and fake batches; two lines far apart for long means D is winning and G learns "
    "little. *Q's predicted σ*: Q's uncertainty on each continuous code; a σ that falls means the code shows in "
    "the image. *Categorical code health*: how often Q picks each value on real images; an empty bar is a value "
    "G stopped using.")

st.markdown(f"**The networks of {run.name}**, read from the modules (G's input: {cfg.noise_dim} noise + "
            f"{sum(cfg.cat_codes)} one-hot + {cfg.n_cont} continuous"
            f"{f' (a cosine and a sine for each of {cfg.circular_codes} circular)' if cfg.circular_codes else ''}"
            f" = {cfg.input_dim} numbers)")


@st.cache_data(show_spinner=False, max_entries=16)
def layer_table(cfg_json: str) -> pd.DataFrame:
    """The networks' table, built once per config (building MNIST's G and D takes a moment)."""
    return pd.DataFrame([{"network": layer.net, "layer": layer.kind, "output": " x ".join(map(str, layer.shape)),
                          "parameters": layer.params} for layer in layers(Config.from_dict(json.loads(cfg_json)))])


table = layer_table(cfg.to_json())
st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 600))
per_net = table.groupby("network", sort=False)["parameters"].sum()
st.caption(" · ".join(f"{net}: {n:,} parameters" for net, n in per_net.items())
           + ". Q's head is small beside D: reading the codes costs little because it reuses D's features.")

# ----- the ablation on the real run -----
st.markdown("**The same ablation on your run**: train its config, same seed, with every information weight at 0, "
            "then compare the two on the Compare page (each code's traversal; the accuracy once both are "
            "evaluated). Without the term, a code's traversal should change nothing in particular.")
rate = recent_rate(df)
c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
minutes = c1.number_input("Minutes", 1, 60, 5, key="ablation_minutes")
steps_for = int(minutes * 60 * rate / cfg.batch_size) if rate else 1000
c2.caption(f"{steps_for:,} steps" + (f" at this run's {rate:,.0f} images/s." if rate else
                                     " (this run has no measured speed yet)."))
if st.button("Train without the information term, then compare", disabled=job_manager().is_running(run.name)):
    try:
        plain = cfg.replace(lambda_cat=0.0, lambda_cont=0.0, lambda_cat_jitter=0.0, lambda_cr=0.0,
                            max_steps=steps_for)
        job = job_manager().start(plain, f"{run.name[:70]}-no-info-{time.strftime('%H%M%S')}")
    except RunError as exc:
        st.error(f"Not started: {exc}")
    else:
        st.session_state["compare_runs"] = [run.name, job.run.name]
        select_run(job.run.name)
        st.switch_page("app_pages/compare.py")
share_link()
