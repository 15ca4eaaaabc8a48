"""Plotly figures built from run data. Pages only display them; tests call them directly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .runs import Run

PALETTE = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]


def metrics_frame(run: Run) -> pd.DataFrame:
    """metrics.jsonl as a DataFrame indexed by step (empty when nothing is logged yet)."""
    records, _ = run.metrics()
    if not records:
        return pd.DataFrame()
    return pd.DataFrame.from_records(records).drop_duplicates("step", keep="last").set_index("step")


def recent_rate(df: pd.DataFrame, windows: int = 5) -> float | None:
    """Images/s over the last few logging windows (the last one alone may be a short stop window)."""
    return float(df["images_per_s"].tail(windows).median()) if "images_per_s" in df else None


def smooth(series: pd.Series, amount: float) -> pd.Series:
    """Exponential moving average; amount 0 = raw, 0.99 = very smooth (TensorBoard's slider)."""
    return series if amount <= 0 else series.ewm(alpha=1 - min(amount, 0.999)).mean()


def line_figure(frames: dict[str, pd.DataFrame], columns: list[str], title: str,
                y_title: str = "", smoothing: float = 0.0, log_y: bool = False,
                ceilings: dict[str, float] | None = None) -> go.Figure:
    """One line per (run, column); runs keep one colour, columns differ by dash.

    `ceilings` draws a dotted horizontal line per column, e.g. ln K for a categorical MI."""
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
    for ri, (name, df) in enumerate(frames.items()):
        for ci, col in enumerate(c for c in columns if c in df.columns):
            label = col if len(frames) == 1 else f"{name} · {col}"
            fig.add_trace(go.Scatter(x=df.index, y=smooth(df[col], smoothing), mode="lines", name=label,
                                     line={"color": PALETTE[(ri if len(frames) > 1 else ci) % len(PALETTE)],
                                           "dash": dashes[ci % len(dashes)] if len(frames) > 1 else "solid"}))
    for ci, (col, value) in enumerate((ceilings or {}).items()):
        fig.add_hline(y=value, line={"dash": "dot", "color": PALETTE[ci % len(PALETTE)], "width": 1},
                      annotation_text=f"ln K = {value:.3f} ({col[3:]})", annotation_position="top left")
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_title, height=320,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25},
                      yaxis_type="log" if log_y else "linear", uirevision=title)
    return fig


def mi_ceilings(cfg: dict[str, Any]) -> dict[str, float]:
    """ln K for every categorical code: the most a categorical MI bound can reach."""
    return {f"mi_c{i + 1}": math.log(k) for i, k in enumerate(cfg.get("cat_codes", []))}


def monitor_figures(frames: dict[str, pd.DataFrame], cfg: dict[str, Any], smoothing: float = 0.0,
                    log_y: bool = False) -> dict[str, go.Figure]:
    """The Monitor page's charts: losses, MI bounds (with ln K), D outputs, predicted sigma."""
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
    return figs


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


METRIC_KEYS = ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap",
               "modularity", "explicitness")


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
    return pd.DataFrame([{"metric": k, "score": res[k]} for k in METRIC_KEYS if k in res])


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
