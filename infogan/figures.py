"""Plotly figures built from run data. Pages only display them; tests call them directly."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go

from .config import Config
from .losses import CEILING_FIXED, CEILING_FIXED_CIRCLE
from .runs import Run
from .scores import FACTOR_SCORES, GROUND_TRUTH, LABEL_SCORES, LABELS, LOWER_IS_BETTER, QUALITY

PALETTE = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]


def smooth(series: pd.Series, amount: float) -> pd.Series:
    """Exponential moving average; amount 0 = raw, 0.99 = very smooth (TensorBoard's slider)."""
    return series if amount <= 0 else series.ewm(alpha=1 - min(amount, 0.999)).mean()


def line_figure(frames: dict[str, pd.DataFrame], columns: list[str], title: str,
                y_title: str = "", smoothing: float = 0.0, log_y: bool = False,
                ceilings: dict[str, tuple[float, str]] | None = None) -> go.Figure:
    """One line per (run, column); runs keep one colour, columns differ by dash.

    `ceilings` draws a dotted, labelled horizontal line per column: (value, label)."""
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
    for ri, (name, df) in enumerate(frames.items()):
        for ci, col in enumerate(c for c in columns if c in df.columns):
            label = col if len(frames) == 1 else f"{name} · {col}"
            one = df[col].notna().sum() == 1  # a first logged point is a point, not an empty chart
            fig.add_trace(go.Scatter(x=df.index, y=smooth(df[col], smoothing), mode="markers" if one else "lines",
                                     name=label,
                                     line={"color": PALETTE[(ri if len(frames) > 1 else ci) % len(PALETTE)],
                                           "dash": dashes[ci % len(dashes)] if len(frames) > 1 else "solid"}))
    for ci, (col, (value, label)) in enumerate((ceilings or {}).items()):
        fig.add_hline(y=value, line={"dash": "dot", "color": PALETTE[ci % len(PALETTE)], "width": 1},
                      annotation_text=f"{label} = {value:.3f} ({col[3:]})", annotation_position="top left")
    rows = math.ceil(len(fig.data) / 3)  # the legend below: a taller figure, not a squashed plot
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_title, height=300 + 22 * rows,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25},
                      yaxis_type="log" if log_y else "linear", uirevision=title)
    return fig


def mi_ceilings(cfg: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """The most each MI bound can reach: ln K for a categorical code; with sigma fixed to 1,
    -0.226 for a U(-1, 1) code and 0.764 for a circular one (losses.CEILING_FIXED*), each drawn
    once, for the first continuous code of its kind, as every such code has it."""
    cats = cfg.get("cat_codes", [])
    out = {f"mi_c{i + 1}": (math.log(k), "ln K") for i, k in enumerate(cats)}
    n_cont = cfg.get("n_cont", 0)
    circ = min(cfg.get("circular_codes", 0), n_cont)
    if cfg.get("fixed_sigma") and circ:
        out[f"mi_c{len(cats) + 1}"] = (CEILING_FIXED_CIRCLE, "circular codes' ceiling with σ = 1")
    if cfg.get("fixed_sigma") and n_cont > circ:
        out[f"mi_c{len(cats) + circ + 1}"] = (CEILING_FIXED, "ceiling with σ = 1")
    return out


def monitor_figures(frames: dict[str, pd.DataFrame], cfg: dict[str, Any], smoothing: float = 0.0,
                    log_y: bool = False) -> dict[str, go.Figure]:
    """The Monitor page's charts: losses, MI bounds (with ln K), D outputs, predicted sigma, and
    the regularisers' terms where a run has them."""
    cols = sorted({c for df in frames.values() for c in df.columns})
    mi = [c for c in cols if c.startswith("mi_")]
    sigma = [c for c in cols if c.startswith("sigma_")]
    figs = {
        # ce_jitter: the categorical codes' cross-entropy on jittered fakes (runs that use it)
        "losses": line_figure(frames, ["loss_d", "loss_g", "loss_info", "ce_jitter"], "D and G losses",
                              "loss", smoothing, log_y),
        "mi": line_figure(frames, mi, "Mutual information lower bound per code", "nats", smoothing,
                          ceilings=mi_ceilings(cfg)),
        "d_outputs": line_figure(frames, ["d_real", "d_fake"], "D(x) vs D(G(z))", "mean probability",
                                 smoothing),
    }
    if sigma:
        figs["sigma"] = line_figure(frames, sigma, "Q's predicted sigma (continuous codes)", "sigma",
                                    smoothing, log_y)
    if "loss_cr" in cols:  # InfoGAN-CR's H: chance accuracy is 1 / number of codes
        figs["contrast"] = line_figure(frames, ["loss_cr", "acc_cr"], "Contrastive regulariser: H's loss and "
                                       f"accuracy (chance {1 / max(len(mi), 1):.2f})", "", smoothing)
    if "hessian" in cols:  # losses.hessian_penalty: 0 when no two inputs interact in any pixel
        figs["hessian"] = line_figure(frames, ["hessian"], "Hessian penalty: how much G's inputs interact", "",
                                      smoothing, log_y)
    if "factor_vae" in cols or "mig" in cols:
        figs["disentanglement"] = live_disentanglement_figure(frames, reference=published_applies(cfg.get("dataset")))
    return figs


def _reference_bands(fig: go.Figure, col: str, label: str, colour: str) -> None:
    """The published dSprites scores of `col` as labelled bands (mean ± sd) in the series' colour."""
    for name, mean, sd in REFERENCE_DSPRITES.get(col, []):
        fig.add_hrect(y0=mean - max(sd, 0.003), y1=mean + max(sd, 0.003), line_width=0,
                      fillcolor=_rgba(colour, 0.2), annotation_text=f"{name} {label} {mean:.2f} (dSprites)",
                      annotation_position="top left", annotation_font_size=10)


def live_disentanglement_figure(frames: dict[str, pd.DataFrame], reference: bool = False) -> go.Figure:
    """FactorVAE and MIG measured while training (live.py), per run; with `reference` (a dSprites
    run) the published dSprites scores as bands. Another dataset's run gets none: dSprites'
    numbers are no yardstick for it."""
    fig = go.Figure()
    dashes = {"factor_vae": "solid", "mig": "dash"}
    for ri, (name, df) in enumerate(frames.items()):
        for ci, col in enumerate(c for c in dashes if c in df.columns):
            colour = PALETTE[(ri if len(frames) > 1 else ci) % len(PALETTE)]
            y = df[col].dropna()
            label = LABELS[col] if len(frames) == 1 else f"{name} · {LABELS[col]}"
            fig.add_trace(go.Scatter(x=y.index, y=y, mode="lines+markers", name=label,
                                     line={"color": colour, "dash": dashes[col]}))
            if ri == 0 and reference:
                _reference_bands(fig, col, LABELS[col], colour)
    title = "FactorVAE and MIG while training" + (" (bands: published on dSprites)" if reference else "")
    fig.update_layout(title=title,
                      xaxis_title="step", yaxis_title="score", yaxis_range=[0, 1.02], height=360,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25},
                      uirevision="live-disentanglement")
    return fig


def live_factor_heatmap(run: Run) -> tuple[go.Figure, str] | None:
    """The code x factor matrix of the newest measurement while training (live.py): the figure
    and a line naming each factor's best code, or None before the first."""
    records, _ = run.metrics()
    rec = next((r for r in reversed(records) if isinstance(r.get("normalized_mi"), list)), None)
    if rec is None:
        return None
    from .datasets import record
    from .live import OWN_FLOOR, own_code_history

    cfg = run.config()
    m, codes, factors = np.asarray(rec["normalized_mi"], float), cfg.code_names, record(cfg.dataset).factors
    fig = heatmap(m, list(factors), codes, f"Normalised MI I(code; factor) / H(factor) while training, step "
                  f"{rec['step']:,} (reduced sample)", "factor", "code", zmin=0, zmax=1)
    best = ", ".join(f"{f} → **{codes[int(m[:, j].argmax())]}** ({m[:, j].max():.2f})"
                     for j, f in enumerate(factors))
    owned = [f"{f} → **{codes[c]}** since step {since:,}"
             for f, (c, since) in zip(factors, own_code_history(records)) if c is not None]
    return fig, (f"Each factor's best code at step {rec['step']:,}: {best}. Codes of their own (holding "
                 f"≥ {OWN_FLOOR:.0%} of one factor and more of it than of any other): "
                 f"{', '.join(owned) if owned else 'none yet'}.")


def heatmap(matrix: np.ndarray | list, x: list[str], y: list[str], title: str, x_title: str,
            y_title: str, zmin: float | None = None, zmax: float | None = None,
            fmt: str = ".2f") -> go.Figure:
    m = np.asarray(matrix, dtype=float)
    text = [[format(int(v) if fmt == "d" else v, fmt) for v in row] for row in m]
    fig = go.Figure(go.Heatmap(z=m, x=x, y=y, text=text, texttemplate="%{text}", colorscale="Viridis",
                               zmin=zmin, zmax=zmax, hovertemplate=f"{y_title} %{{y}}, {x_title} %{{x}}: %{{z}}"))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=min(520, 140 + 38 * len(y)),
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, xaxis={"type": "category"},
                      yaxis={"autorange": "reversed", "type": "category"})
    return fig


def confusion_figure(confusion: list[list[int]], label_to_code: list[int], code: str) -> go.Figure:
    """Confusion of a categorical code vs the true label, rows reordered by the Hungarian match
    so a good code shows a bright diagonal."""
    conf = np.asarray(confusion)[label_to_code]
    labels = [str(i) for i in range(conf.shape[1])]
    rows = [f"{code}={k}" for k in label_to_code]
    return heatmap(conf, labels, rows, f"{code} vs label (Hungarian-ordered)", "true label",
                   "code value", fmt="d")


def factor_figures(res: dict[str, Any]) -> dict[str, go.Figure]:
    """Heatmaps for a ground-truth evaluation: code x factor normalised MI, DCI importance."""
    codes, factors = res["code_names"], res["factor_names"]
    figs = {"nmi": heatmap(res["normalized_mi"], factors, codes, "Normalised MI: I(code; factor) / H(factor)",
                           "factor", "code", zmin=0, zmax=1)}
    if "dci_importance" in res:
        figs["dci"] = heatmap(res["dci_importance"], factors, codes, "DCI importance (gradient-boosted trees)",
                              "factor", "code", zmin=0)
    return figs


def metric_table(res: dict[str, Any]) -> pd.DataFrame:
    """The scalar metrics that were computed, in a fixed order."""
    return pd.DataFrame([{"metric": k, "score": res[k]} for k in GROUND_TRUTH
                         if isinstance(res.get(k), (int, float)) and not isinstance(res.get(k), bool)])


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def spread_figure(band: pd.DataFrame, metric: str) -> go.Figure:
    """A sweep's metric over training as distributions: per grid point, the median over seeds
    as a line and the min-max over seeds as a shaded band; hover names the members at the edges
    and the number of seeds behind each point (sweeps.spread builds `band`)."""
    fig = go.Figure()
    for i, (point, df) in enumerate(band.groupby("point", sort=True)):
        colour = PALETTE[i % len(PALETTE)]
        df = df.sort_values("epoch")
        n = int(df["n"].max())
        fig.add_trace(go.Scatter(x=pd.concat([df["epoch"], df["epoch"][::-1]]),
                                 y=pd.concat([df["max"], df["min"][::-1]]), fill="toself", mode="lines",
                                 line={"width": 0}, fillcolor=_rgba(colour, 0.18), hoverinfo="skip",
                                 legendgroup=point, showlegend=False))
        fig.add_trace(go.Scatter(
            x=df["epoch"], y=df["median"], mode="lines+markers", name=f"{point} (median of {n} seeds)",
            line={"color": colour}, legendgroup=point,
            customdata=np.stack([df["min"], df["max"], df["n"], df["min_member"], df["max_member"]], 1),
            hovertemplate="epoch %{x}<br>median %{y:.4g}<br>min %{customdata[0]:.4g} (%{customdata[3]})"
                          "<br>max %{customdata[1]:.4g} (%{customdata[4]})<br>%{customdata[2]} seeds<extra></extra>"))
    fig.update_layout(title=f"{metric} over seeds: median and min-max band per setting", xaxis_title="epoch",
                      yaxis_title=metric, height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, uirevision=f"spread-{metric}")
    return fig


def parallel_figure(table: pd.DataFrame, axes: list[str], metric: str) -> go.Figure:
    """One line per member through its grid values (and seed) to a final metric, coloured by it.
    Text values (e.g. a dataset) become ticks in their order of appearance."""
    dims = []
    for col in [*axes, "seed", metric]:
        values = table[col]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            dims.append({"label": col, "values": numeric.to_numpy(float)})
        else:
            labels = list(dict.fromkeys(values.astype(str)))
            dims.append({"label": col, "values": [labels.index(v) for v in values.astype(str)],
                         "tickvals": list(range(len(labels))), "ticktext": labels})
    colour = pd.to_numeric(table[metric], errors="coerce").to_numpy(float)
    fig = go.Figure(go.Parcoords(dimensions=dims, line={"color": colour, "colorscale": "Viridis", "showscale": True,
                                                        "colorbar": {"title": metric}}))
    fig.update_layout(title=f"Grid settings against the final {metric}", height=380,
                      margin={"l": 60, "r": 60, "t": 70, "b": 30}, uirevision=f"parallel-{metric}")
    return fig


def usage_verdict(code: str, shares: list[float]) -> str | None:
    """A one-line warning when Q's use of a categorical code's K values is far from uniform:
    a value Q (almost) never picks is a collapsed category; one picked twice as often as 1/K
    likely holds two classes."""
    k = len(shares)
    empty = [i for i, s in enumerate(shares) if s < 0.25 / k]
    doubled = [i for i, s in enumerate(shares) if s > 1.75 / k]
    parts = []
    if empty:
        parts.append(f"value{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty))} almost never chosen "
                     "(collapsed)")
    if doubled:
        parts.append(f"value{'s' if len(doubled) > 1 else ''} {', '.join(map(str, doubled))} chosen about twice "
                     f"as often as 1/K (merged classes?)")
    return f"{code}: " + "; ".join(parts) if parts else None


def usage_figure(code: str, shares: list[float], mi: float | None, step: int) -> go.Figure:
    """How often Q assigns each value of a categorical code on real images (trainer's
    `usage_<code>`), against the uniform 1/K; the title puts the MI bound against ln K."""
    k = len(shares)
    colour = ["#ef553b" if s < 0.25 / k else "#ffa15a" if s > 1.75 / k else PALETTE[0] for s in shares]
    fig = go.Figure(go.Bar(x=[str(i) for i in range(k)], y=shares, marker_color=colour,
                           hovertemplate=f"{code} = %{{x}}: %{{y:.1%}} of the real images<extra></extra>"))
    fig.add_hline(y=1 / k, line={"dash": "dot", "color": "gray"}, annotation_text=f"uniform 1/K = {1 / k:.1%}",
                  annotation_position="top right")
    bound = f" · MI bound {mi:.2f} of ln K = {math.log(k):.2f} nats ({mi / math.log(k):.0%})" if mi is not None else ""
    fig.update_layout(title=f"{code}: Q's choice on real images, step {step}{bound}", xaxis_title="value",
                      yaxis_title="share", yaxis_tickformat=".0%", height=300, xaxis={"type": "category"},
                      margin={"l": 50, "r": 20, "t": 50, "b": 40}, uirevision=f"usage-{code}")
    return fig


def code_health(df: pd.DataFrame) -> list[tuple[str, go.Figure, str | None]]:
    """(code, histogram, warning) per categorical code from the newest `usage_<code>` in a metrics
    frame; the MI bound logged at the same step goes in the title."""
    out = []
    for col in (c for c in df.columns if c.startswith("usage_")):
        rows = df[col].dropna()
        if rows.empty:
            continue
        code, step, shares = col[6:], int(rows.index[-1]), list(rows.iloc[-1])
        mi = df[f"mi_{code}"].get(step) if f"mi_{code}" in df else None
        out.append((code, usage_figure(code, shares, mi, step), usage_verdict(code, shares)))
    return out


# InfoGAN-CR (Lin et al., ICML 2020), Table 1, dSprites: mean and standard deviation over seeds
REFERENCE_DSPRITES = {
    "factor_vae": [("InfoGAN (modified)", 0.82, 0.01), ("InfoGAN-CR", 0.88, 0.01)],
    "mig": [("InfoGAN (modified)", 0.22, 0.01), ("InfoGAN-CR", 0.37, 0.01)],
    "dci_disentanglement": [("InfoGAN (modified)", 0.60, 0.0)],
}


def published_applies(dataset: Any) -> bool:
    """Whether REFERENCE_DSPRITES is a yardstick for a run of `dataset` (a dSprites set only):
    the one rule for every chart and caption that shows the published scores."""
    from .datasets import dsprites_stride

    return isinstance(dataset, str) and bool(dsprites_stride(dataset))


def published_line() -> str:
    """REFERENCE_DSPRITES as one line for a caption: each model's published means."""
    by_model: dict[str, list[str]] = {}
    for metric, rows in REFERENCE_DSPRITES.items():
        for model, mean, _ in rows:
            by_model.setdefault(model, []).append(f"{LABELS[metric]} {mean:.2f}")
    return "; ".join(f"{model} {', '.join(scores)}" for model, scores in by_model.items())


def eval_figure(df: pd.DataFrame, reference: bool = False) -> go.Figure:
    """Evaluation scores against training step; with `reference` (dSprites) the published
    InfoGAN and InfoGAN-CR scores as labelled bands (mean ± sd) in each metric's colour."""
    fig = go.Figure()
    for i, (col, label) in enumerate((c, LABELS[c]) for c in (*LABEL_SCORES, *FACTOR_SCORES) if c in df):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=df.index, y=df[col], mode="lines+markers", name=label, line={"color": colour}))
        if reference:
            _reference_bands(fig, col, label, colour)
    fig.update_layout(title="Evaluation of each saved checkpoint", xaxis_title="step", yaxis_title="score",
                      yaxis_range=[0, 1.02], height=360, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.25}, uirevision="eval-over-training")
    return fig


QUALITY_PANELS = (("fd", "Fréchet distance (lower is better)"), ("score", "classifier score"),
                  ("precision recall density coverage", "precision · recall · density · coverage"))


def quality_figure(frames: dict[str, pd.DataFrame]) -> go.Figure:
    """Sample quality against training step, one panel per scale (FD, the classifier score, and
    the four k-NN numbers), one colour per number, a dashed line at real data's value (the
    floor), and one line style per run when several are drawn (`frames`: run -> summary.eval_table)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in QUALITY_PANELS], horizontal_spacing=0.07)
    dashes = ["solid", "dot", "dashdot", "longdash"]
    for r, (run, df) in enumerate(frames.items()):
        for col, (names, _) in enumerate(QUALITY_PANELS, start=1):
            for i, name in enumerate(n for n in names.split() if n in df):
                colour = PALETTE[(i + 2 * (col - 1)) % len(PALETTE)]
                label = name if len(frames) == 1 else f"{run}: {name}"
                fig.add_trace(go.Scatter(x=df.index, y=df[name], mode="lines+markers", name=label,
                                         line={"color": colour, "dash": dashes[r % len(dashes)]}), row=1, col=col)
                floor = df.get(f"{name}_floor")
                if r == 0 and floor is not None and floor.notna().any():
                    # the four k-NN numbers' floors sit together: their colours say which, no label
                    label = {"annotation_text": "real data", "annotation_font_size": 10,
                             "annotation_position": "top right"} if " " not in names else {}
                    fig.add_hline(y=float(floor.dropna().iloc[-1]), line_dash="dash", line_color=colour,
                                  opacity=0.6, row=1, col=col, **label)
    fig.update_yaxes(type="log", row=1, col=1)  # FD falls by orders of magnitude early on
    evaluated = {int(s) for df in frames.values() for s in df.index}
    if len(evaluated) == 1:  # one checkpoint: plotly's axis would span step ± 1; show it from the start
        fig.update_xaxes(range=[0, max(evaluated) * 1.1 + 1])
    fig.update_layout(title="Sample quality per evaluated checkpoint (judge's features; dashed: real data)", height=380,
                      margin={"l": 50, "r": 20, "t": 70, "b": 40}, legend={"orientation": "h", "y": -0.2},
                      uirevision="quality-over-training")
    fig.update_xaxes(title_text="step")
    return fig


def quality_table(q: dict[str, Any]) -> pd.DataFrame:
    """One evaluation's quality numbers beside real data's (eval.json's `quality`)."""
    floor = q.get("floor") or {}
    return pd.DataFrame([{"number": k, "generated": q[k], "real data": floor.get(k),
                          "better": "lower" if k in LOWER_IS_BETTER else "higher"}
                         for k in QUALITY if isinstance(q.get(k), (int, float))])


def code_map_frame(cfg: dict[str, Any], indices: np.ndarray, probs: list, mu: np.ndarray,
                   labels: np.ndarray | None, factors: np.ndarray | None = None,
                   factor_names: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per real image read by Q: its index, label (when the data has labels) or
    ground-truth factor indices, and each code's point estimate (the most probable category,
    the mean of a continuous code)."""
    names = Config.from_dict(cfg).code_names
    cols = [np.asarray(p).argmax(1) for p in probs] + [np.asarray(mu)[:, j] for j in range(cfg["n_cont"])]
    df = pd.DataFrame(dict(zip(names, cols)))
    df.insert(0, "index", indices)
    if labels is not None:
        df.insert(1, "label", np.asarray(labels))
    for j, name in enumerate(factor_names if factors is not None else ()):
        df.insert(1 + j, name, np.asarray(factors)[:, j])
    return df


def code_map_figure(df: pd.DataFrame, x: str, y: str, color: str | None, categorical: list[str],
                    swatch: Callable[[str, int], str | None] = lambda column, value: None) -> go.Figure:
    """Q's reading of real images over two codes, one point per image, coloured by `color` (the
    label, a ground-truth factor or a categorical code); a value with a colour of its own (a hue
    factor's, by `swatch`) is drawn in it. A categorical axis is jittered within its category so
    the points of one category do not all sit on one spot. customdata holds each image's index."""
    rng = np.random.default_rng(0)

    def axis(code: str) -> np.ndarray:
        v = df[code].to_numpy(dtype=float)
        return v + rng.uniform(-0.3, 0.3, len(v)) if code in categorical else v

    xs, ys = axis(x), axis(y)
    fig = go.Figure()
    groups = [(None, np.ones(len(df), bool))] if color is None else \
        [(g, (df[color] == g).to_numpy()) for g in sorted(df[color].unique())]
    colours = plotly.colors.qualitative.Plotly + plotly.colors.qualitative.Dark24  # 10 distinct, then 24 more
    for gi, (g, m) in enumerate(groups):
        own = None if g is None else swatch(color, int(g))
        label = "images" if g is None else f"{color} = {g}" + (f" ({own})" if own else "")
        fig.add_trace(go.Scattergl(
            x=xs[m], y=ys[m], mode="markers", name=label, customdata=df["index"].to_numpy()[m],
            marker={"size": 5, "opacity": 0.7, "color": own or colours[gi % len(colours)]},
            hovertemplate=f"image %{{customdata}}<br>{label}<br>{x} %{{x:.2f}}, {y} %{{y:.2f}}<extra></extra>"))
    fig.update_layout(xaxis_title=x + (" (category, jittered)" if x in categorical else " (Q's mean)"),
                      yaxis_title=y + (" (category, jittered)" if y in categorical else " (Q's mean)"),
                      height=520, margin={"l": 50, "r": 20, "t": 30, "b": 40}, uirevision=f"{x}{y}{color}",
                      legend={"itemsizing": "constant"}, clickmode="event")
    return fig


def toy_figure(snap: Any, real: np.ndarray, title: str) -> go.Figure:
    """The 2D InfoGAN (toy.py) at one snapshot: D's probability of "real" as a shaded surface,
    real points in grey, generated points coloured by their categorical code's value."""
    from .toy import EXTENT, GRID, MODES

    axis = np.linspace(-EXTENT, EXTENT, GRID)
    fig = go.Figure(go.Heatmap(x=axis, y=axis, z=snap.surface.numpy(), zmin=0, zmax=1, colorscale="Greys",
                               reversescale=True, opacity=0.45, showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=real[:, 0], y=real[:, 1], mode="markers", name="real",
                             marker={"size": 3, "color": "#444"}))
    points, values = snap.points.numpy(), snap.values.numpy()
    for k in range(MODES):
        m = values == k
        fig.add_trace(go.Scatter(x=points[m, 0], y=points[m, 1], mode="markers", name=f"c = {k}",
                                 marker={"size": 5, "color": PALETTE[k % len(PALETTE)], "opacity": 0.8}))
    fig.update_layout(title=f"{title}<br><sup>step {snap.step} · purity {snap.purity:.2f} · modes covered "
                            f"{snap.modes_covered} of 8</sup>",
                      height=440, margin={"l": 30, "r": 10, "t": 60, "b": 30}, showlegend=False,
                      xaxis={"range": [-EXTENT, EXTENT], "constrain": "domain"},
                      yaxis={"range": [-EXTENT, EXTENT], "scaleanchor": "x"})
    return fig
