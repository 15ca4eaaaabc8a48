"""Explore: an interactive generator with one knob per code, a real image read by Q and edited
with the same knobs, a map of real images in code space, latent traversals per code, and the
film of training. What a tab shows is kept in the URL (bind="query-params"), so a link reopens it."""

import streamlit as st
import torch

from app_pages.common import (
    code_map_data,
    encoder,
    film_player,
    inversion,
    link_notice,
    live_charts,
    model,
    picture,
    reading_data,
    reference,
    require_checkpoint,
    require_run,
    share_link,
)
from infogan import film, latent
from infogan.checkpoint import generate_one, load_model
from infogan.data import DataError, image_from_bytes, make_grid, png_bytes, to_pil
from infogan.datasets import record
from infogan.evaluate import category_labels
from infogan.figures import code_map_figure
from infogan.film import all_codes_png, traversal_grid
from infogan.invert import EFFORT, edit, read_codes, traversals_from
from infogan.judge import load_judge
from infogan.quality import nearest_real, training_pool
from infogan.runs import RunError

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
big = 8 if m.cfg.image_size <= 32 else 5
SOURCES = ["from the dataset", "upload"]
TABS = ["Generator", "Real image", "Code map", "Traversals", "Film over training"]
if "open_image" in st.session_state:  # a point clicked on the code map opens in the editor
    st.session_state.update(img=st.session_state.pop("open_image"), src=SOURCES[0], tab="Real image")
gen_tab, real_tab, map_tab, trav_tab, film_tab = st.tabs(TABS, key="tab", bind="query-params")
link_notice(tab=st.session_state.get("tab") or TABS[0])


def knob(c: latent.Code, key: str, label: str = "") -> float | int:
    """One code's control; its value lives in session state under `key`."""
    if c.kind == "cat":
        return st.select_slider(f"{c.name} · categorical, K={c.k}{label}", list(range(c.k)), key=key,
                                bind="query-params" if key == c.name else None)
    if c.circular:  # once round: -1 and 1 are the same angle
        return st.slider(f"{c.name} · circular (-1 and 1 meet){label}", -1.0, 1.0, step=0.05, key=key,
                         bind="query-params" if key == c.name else None)
    return st.slider(f"{c.name} · continuous (trained on -1..1){label}", -3.0, 3.0, step=0.05, key=key,
                     bind="query-params" if key == c.name else None)


def nearest_images(image: torch.Tensor) -> None:
    """The memorisation check: the training images nearest the generated one."""
    k = 8
    if not st.toggle(f"Show the {k} nearest training images", key="nearest", bind="query-params",
                     help="In the judge classifier's features and in pixels, with distances: an image much closer to "
                          "its neighbour than real images are to theirs is a copy. The first search reads the "
                          "training set (seconds)."):
        return
    try:
        judge = load_judge(m.cfg.dataset, m.cfg.resolved_data_dir())
        note = None if judge else (f"No judge classifier trained for {m.cfg.dataset} yet (the first evaluation "
                                   f"trains it, or `python -m infogan judge --dataset {m.cfg.dataset}`): pixels only.")
    except RunError as exc:  # NoJudge (image folders) or an unreadable judge file
        judge, note = None, f"{exc}: pixels only."
    with reading_data(m.cfg):
        with st.spinner("Searching the training images…"):
            found = nearest_real(m.cfg, image, k, judge)
            pool = training_pool(m.cfg)
        for space, res in found.items():
            where = "the judge's features" if space == "features" else "pixels (0-1 per pixel)"
            st.markdown(f"**In {where}** · typical distance from a real image to its nearest other one: "
                        f"{res['typical']:.2f}")
            st.image([to_pil(pool[i].float() / 255, scale) for i in res["index"]],
                     caption=[f"#{i} · {d:.2f}" for i, d in zip(res["index"], res["distance"])])
        if note:
            st.caption(note)


if gen_tab.open:
    with gen_tab:
        st.caption("Each knob is one latent code; the noise seed fixes everything else.")
        left, right = st.columns([1, 1])
        with left:
            seed = int(st.number_input("Noise seed", value=0, step=1, min_value=0, max_value=2**31 - 1, key="seed",
                                       bind="query-params"))
            for c in codes:
                st.session_state.setdefault(c.name, 0 if c.kind == "cat" else 0.0)
            values = {c.name: knob(c, c.name) for c in codes}
            link_notice(seed=seed, **values)
        with right:
            img = generate_one(m, seed, *latent.split_values(m.cfg, values))
            st.image(to_pil(img, big), caption=f"step {m.step}")
        nearest_images((img * 255).round().to(torch.uint8))


def evaluation(run, step: int) -> dict | None:
    try:
        return run.eval_result(step)
    except RunError:  # an unreadable eval.json: no label names, the reading still shows
        return None


def pick_random() -> None:
    where = (data.labels == st.session_state["pick_label"]).nonzero().flatten()
    st.session_state["img"] = int(where[torch.randint(len(where), ())])


if real_tab.open:
    with real_tab, reading_data(m.cfg):
        st.caption("Q reads a real image's codes; the noise z, which Q does not read, is found by fitting "
                   "G(z, codes) to the image. Then the knobs start from Q's reading and edit the reconstruction.")
        data = reference(m.cfg)
        src = st.radio("Image", SOURCES, horizontal=True, key="src", bind="query-params",
                       help="The dataset's test split where it has one, else its training images")
        link_notice(src=src)
        image = None
        if src == "upload":
            c1, c2 = st.columns([2, 1])
            up = c1.file_uploader("A PNG or JPEG of any size (at most 5 MB)", type=["png", "jpg", "jpeg"],
                                  key="upload")
            bg = c2.radio("Background", ["auto", "make light dark", "keep"], key="upload_bg",
                          help="The run's images are light shapes on black (MNIST, dSprites); auto makes an image "
                               "whose border is light, such as a digit written on paper, dark")
            if up is None:
                st.info("Upload an image, e.g. a photo of a digit you wrote.")
            else:
                try:
                    dark = {"auto": None, "make light dark": True}.get(bg, False)
                    image = image_from_bytes(up.getvalue(), m.cfg, dark)
                except DataError as exc:
                    st.error(f"{up.name}: {exc}")
        else:
            c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
            idx = int(c1.number_input(f"Image index (0 to {len(data) - 1})", 0, len(data) - 1, key="img",
                                      bind="query-params"))  # starts at 0; set by a link or the code map
            link_notice(img=idx)
            if data.labels is not None:
                c2.selectbox("Label", sorted(set(data.labels.tolist())), key="pick_label")
                c3.button("Random image of this label", on_click=pick_random)
            image = data.images[idx]
            if data.labels is not None:
                st.caption(f"Image {idx}: label {int(data.labels[idx])}")
        if image is not None:
            c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
            fit = c1.selectbox("Fit", list(EFFORT), index=1, key="fit", bind="query-params",  # no format_func:
                               help="How hard to search for the noise z: "  # a link holds the option as shown
                                    + "; ".join(f"{e}: {n} random starts x {k} Adam steps"
                                                for e, (n, k) in EFFORT.items()))
            link_notice(fit=fit)
            refine = c2.toggle("Refine the continuous codes too", key="refine",
                               help="Fit the continuous codes with z, starting from Q's reading")
            # the image and Q's reading (milliseconds) are drawn before the inversion (seconds) runs
            left, right = st.columns([1, 2])
            a, b, c = right.columns(3)
            a.image(to_pil(image.float().div(255), big), caption="the image, as the run sees it")
            with left:
                st.markdown("**Q's reading**")
                reading = read_codes(encoder(run, step), image[None])
                st.dataframe(reading.table(m.cfg), hide_index=True, width="stretch",
                             column_order=["code", "kind", "reading"])
                named = category_labels(evaluation(run, step))
                for code in (code for code in codes if code.kind == "cat" and code.name in named):
                    k = int(reading.probs[code.index][0].argmax())
                    st.caption(f"{code.name} = {k} is label **{named[code.name].get(k, '?')}** by this checkpoint's "
                               "evaluation (its Hungarian matching of categories to labels)")
                if any(code.kind == "cat" and code.name not in named for code in codes) and data.labels is not None:
                    st.caption("A category is only a number until this checkpoint is evaluated (Disentanglement "
                               "page): the evaluation matches each category to the label it stands for.")
            found = inversion(run, step, image, refine, *EFFORT[fit])
            key = f"{hash(image.numpy().tobytes())}-{step}-{refine}-{fit}"
            if st.session_state.get("real_for") != key:  # a new image: the knobs start at its codes
                st.session_state["real_for"] = key
                for code in codes:
                    v = (found.lat.cat[0, code.index] if code.kind == "cat"
                         else latent.wrap(found.lat.cont[0, code.index]) if code.circular
                         else found.lat.cont[0, code.index].clamp(-3, 3))
                    st.session_state[f"real_{code.name}"] = (int(v) if code.kind == "cat"
                                                             else round(float(v) / 0.05) * 0.05)
            with left:
                values = {code.name: knob(code, f"real_{code.name}", " (edit)") for code in codes}
            edited = edit(m, found.latent_of(0), *latent.split_values(m.cfg, values))[0]
            with right:
                b.image(to_pil(found.recon[0], big), caption=f"reconstruction · RMS error {float(found.error[0]):.3f}")
                c.image(to_pil(edited, big), caption="edited with the knobs")
                c.download_button("Download the edit (PNG)", png_bytes(edited), f"{run.name}_edit_step{step}.png",
                                  "image/png", on_click="ignore", key="dl_edit")
                st.markdown("**Each code walked from this image** (everything else kept)")
                walks = traversals_from(m, found.latent_of(0), torch.linspace(-2, 2, 9).tolist())
                for name, imgs in walks.items():
                    st.image(to_pil(make_grid(imgs, nrow=len(imgs), padding=1, pad_value=0.5), scale),
                             caption=name + (" · every category" if imgs.shape[0] != 9 else " · -2 → 2"))

if map_tab.open:
    with map_tab, reading_data(m.cfg):
        df, thumbs = code_map_data(run, step)
        cats = [c.name for c in codes if c.kind == "cat"]
        conts = [c.name for c in codes if c.kind == "cont"]
        names = [c.name for c in codes]
        truth = record(m.cfg.dataset)
        colours = (["label"] if "label" in df else []) + [f for f in truth.factors if f in df] + cats + ["none"]
        c1, c2, c3 = st.columns(3)
        # opens on the categorical code against a continuous one, coloured by the label: a good
        # run's columns each take one label's colour (two continuous codes alone make one blob)
        x0, y0 = list(dict.fromkeys([*cats[:1], *conts, *names]))[:2] if len(names) > 1 else names * 2
        x = c1.selectbox("x axis", names, index=names.index(x0), key="map_x", bind="query-params")
        y = c2.selectbox("y axis", names, index=names.index(y0), key="map_y", bind="query-params")
        colour = c3.selectbox("Colour by", colours, key="map_colour", bind="query-params")
        link_notice(map_x=x, map_y=y, map_colour=colour)
        st.caption(f"Q's reading of {len(df)} real images, one point each; hover a point to see its image, click it "
                   "to open it in the **Real image** tab.")
        figure = code_map_figure(df, x, y, None if colour == "none" else colour, cats, truth.swatch)
        clicked = live_charts({"map": figure},
                              key="code_map", columns=1, images={"map": thumbs})
        if clicked and clicked.get("point") is not None and clicked != st.session_state.get("map_clicked"):
            st.session_state.update(map_clicked=clicked, open_image=int(clicked["point"]))
            st.rerun()  # the widgets above take the image before they are drawn

if trav_tab.open:
    with trav_tab:
        c1, c2, c3 = st.columns(3)
        rows = c1.slider("Rows (noise seeds)", 1, 16, 8, key="rows", bind="query-params")
        lo, hi = c2.slider("Continuous range", -4.0, 4.0, (-2.0, 2.0), 0.5, key="range", bind="query-params",
                           help="The prior is U(-1, 1); the paper shows -2..2 to test generalisation")
        n = c3.slider("Columns (continuous codes)", 3, 15, 9, key="cols", bind="query-params")
        link_notice(rows=rows, range=(lo, hi), cols=n)
        cat_codes = [c for c in codes if c.kind == "cat"]
        held = {}
        if cat_codes:  # a continuous code's walk is drawn at one setting of each categorical code
            named = category_labels(evaluation(run, step))
            cols = st.columns(max(3, len(cat_codes)))
            for col, c in zip(cols, cat_codes):
                labels = named.get(c.name, {})
                held[c.name] = col.selectbox(
                    f"Hold {c.name} at", list(range(c.k)), key=f"hold_{c.name}", bind="query-params",
                    format_func=lambda v, labels=labels: f"{v} (label {labels[v]})" if v in labels else str(v),
                    help="The categorical value every other code's traversal is drawn with (an evaluation names "
                         "each value's label)")
            link_notice(**{f"hold_{k}": v for k, v in held.items()})
        values = torch.linspace(lo, hi, n).tolist()
        st.download_button("Download every code in one picture (PNG)",  # drawn on click only
                           lambda: all_codes_png(m, list(range(rows)), values),
                           f"{run.name}_codes_step{m.step}.png", "image/png", on_click="ignore", key="dl_all")
        for c in codes:
            grid, vals = traversal_grid(m.G, m.cfg, c.name, list(range(rows)), values, base_cat=held)
            what = c.label if c.kind == "cat" else f"{c.label}, {lo:g} → {hi:g}"
            st.markdown(f"**{c.name}** · {what} · rows = seeds 0-{rows - 1}, columns = "
                        + ", ".join(f"{v:g}" for v in vals))
            st.image(to_pil(grid, scale))
            st.download_button(f"Download {c.name} grid (PNG)", png_bytes(grid),
                               f"{run.name}_{c.name}_step{m.step}.png", "image/png", on_click="ignore",
                               key=f"dl_{c.name}")

if film_tab.open:
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

        film_player(run, "explore_film", show, live=run.is_busy())
        at = st.session_state.get("explore_film_step")
        if at is not None:
            st.markdown("**Download**")
            pick = st.selectbox("Picture", names, key="film_pick",
                                format_func=lambda n: f"{n} ({kinds.get(n, 'samples')})")
            c1, c2, c3 = st.columns(3)
            c1.download_button(f"{pick} over training (GIF)", lambda: film.gif_bytes(film.film_frames(run, pick)),
                               f"{run.name}_{pick}_film.gif", "image/gif", on_click="ignore", key="dl_film_gif")
            c2.download_button(f"{pick} over training (MP4)", lambda: film.mp4_bytes(film.film_frames(run, pick)),
                               f"{run.name}_{pick}_film.mp4", "video/mp4", on_click="ignore", key="dl_film_mp4")
            if pick != "samples":
                kept = at in run.checkpoint_steps()

                def walk() -> bytes:
                    w = load_model(run, at)
                    return film.gif_bytes(film.walk_frames(w.G, w.cfg, pick, at), 120)

                c3.download_button(f"latent walk of {pick} at step {at} (GIF)", walk,
                                   f"{run.name}_{pick}_walk_step{at}.gif", "image/gif", on_click="ignore",
                                   key="dl_walk_gif",
                                   disabled=not kept,
                                   help=None if kept else f"the weights of step {at} were pruned (keep_checkpoints)")
share_link()
