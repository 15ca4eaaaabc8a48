"""Training as a film: the same fixed panel rendered once per checkpoint and kept beside it.

A panel is a handful of PNG grids drawn from fixed inputs, so two frames differ only because
the weights did: `samples` (64 prior draws from one seeded generator) and one traversal per
code (rows = noise seeds 0-7, columns = the code's values: every category, or -2..2 for a
continuous code, as in the paper's figures). The noise of seed s depends only on s and the
layout (latent.fixed), so runs with the same layout get the same z and c: a film of one run
and the frames of several runs at one step are comparable picture for picture.

checkpoints/<run>/film/step_NNNNNN/{samples,c1,c2,...}.png + panel.json
panel.json, written last, marks a complete panel and records the size and mtime of the
weights it was drawn from: a replaced checkpoint makes its panel stale. Panels outlive the
weights that keep_checkpoints prunes (about 100 KB each for MNIST, against 53 MB of
weights), so the film covers the whole run.

Also here: GIF and MP4 encoding of frames, and the overlay/difference of two frames."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import latent
from .checkpoint import Model, load_model
from .config import Config
from .data import make_grid, png_bytes, to_pil
from .files import FileError, atomic_write, read_json, write_json
from .models import generate
from .runs import Run, RunError

SEEDS = list(range(8))
CONT_VALUES = [-2.0, -4 / 3, -2 / 3, 0.0, 2 / 3, 4 / 3, 2.0]
N_SAMPLES = 64
VERSION = 1  # bump when the panel's inputs change: older panels then read as stale


def traversal_grid(g: torch.nn.Module, cfg: Config, code: str, seeds: list[int] | None = None,
                   values: list[float] | None = None, base_cat: dict[str, int] | None = None,
                   base_cont: dict[str, float] | None = None) -> tuple[torch.Tensor, list[float]]:
    """A (3, H, W) grid in [0, 1]: rows = noise seeds, columns = values of `code`."""
    seeds = list(range(8)) if seeds is None else seeds
    dev = next(g.parameters()).device
    lat, values = latent.traversal(cfg, code, seeds, values, base_cat, base_cont, dev)
    return make_grid(generate(g, cfg, lat), nrow=len(values), padding=2, pad_value=0.5), values


def panel_grids(g: torch.nn.Module, cfg: Config) -> dict[str, torch.Tensor]:
    """The panel's pictures, by name: "samples", then one traversal per code."""
    lat = latent.sample(cfg, N_SAMPLES, generator=torch.Generator().manual_seed(0))
    dev = next(g.parameters()).device
    lat = latent.Latent(lat.z.to(dev), lat.cat.to(dev), lat.cont.to(dev))
    grids = {"samples": make_grid(generate(g, cfg, lat), nrow=8, padding=2, pad_value=0.5)}
    for code in latent.codes_of(cfg):
        grids[code.name] = traversal_grid(g, cfg, code.name, SEEDS, CONT_VALUES)[0]
    return grids


@dataclass
class Panel:
    step: int
    folder: Path
    names: list[str]

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.png"


def folder(run: Run, step: int) -> Path:
    return run.path / "film" / f"step_{step:06d}"


def _source(run: Run, step: int) -> dict[str, int] | None:
    """What identifies the weights a panel is drawn from (None once they are pruned)."""
    try:
        st = run.weights_path(step).stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def save(run: Run, step: int, g: torch.nn.Module, cfg: Config) -> Panel:
    """Render and store the panel of the checkpoint at `step` (G as saved there)."""
    out = run.subfolder(*folder(run, step).relative_to(run.path).parts)
    grids = panel_grids(g, cfg)
    for name, grid in grids.items():
        atomic_write(out / f"{name}.png", _png(grid, grey=cfg.channels == 1))
    write_json(out / "panel.json", {"version": VERSION, "step": step, "names": list(grids),
                                    "source": _source(run, step), "seeds": SEEDS, "values": CONT_VALUES})
    return Panel(step, out, list(grids))


def _png(grid: torch.Tensor, grey: bool) -> bytes:
    """A (3, H, W) grid in [0, 1] as PNG, rounded as torchvision's save_image rounds; one-channel
    data as a grey PNG (its three channels are equal), which takes about half the bytes."""
    pixels = grid.mul(255).add(0.5).clamp(0, 255).byte()
    image = Image.fromarray(pixels[0].numpy(), "L") if grey else Image.fromarray(pixels.permute(1, 2, 0).numpy())
    buf = BytesIO()
    image.save(buf, format="png")
    return buf.getvalue()


def load(run: Run, step: int) -> Panel | None:
    """The stored panel of `step`, or None when there is none or it is stale (its checkpoint
    was replaced since, or it was drawn by an older version of this module), or when its
    panel.json names a picture that is not "samples" or a code (a name becomes a file path)."""
    out = folder(run, step)
    try:
        meta = read_json(out / "panel.json")
    except FileError:
        return None
    if not isinstance(meta, dict) or meta.get("version") != VERSION or not isinstance(meta.get("names"), list):
        return None
    source = _source(run, step)
    if source is not None and meta.get("source") != source:
        return None
    if not all(isinstance(n, str) and re.fullmatch(r"samples|c[1-9][0-9]{0,2}", n) for n in meta["names"]):
        return None
    panel = Panel(step, out, meta["names"])
    return panel if all(panel.path(n).is_file() for n in panel.names) else None


def panels(run: Run) -> list[Panel]:
    """The usable panels, in step order: the frames of the run's film."""
    base = run.path / "film"
    found = sorted(int(p.name[5:]) for p in base.glob("step_*") if p.name[5:].isdigit()) if base.is_dir() else []
    return [panel for panel in (load(run, s) for s in found) if panel is not None]


def steps(run: Run) -> list[int]:
    return [panel.step for panel in panels(run)]


def missing(run: Run) -> list[int]:
    """Checkpoints without a usable panel (runs from before films, or replaced weights)."""
    have = set(steps(run))
    return [s for s in run.checkpoint_steps() if s not in have]


def frames(run: Run, name: str) -> list[tuple[int, Path]]:
    """(step, picture) of one panel entry across the film."""
    return [(panel.step, panel.path(name)) for panel in panels(run) if name in panel.names]


def nearest(available: list[int], step: int) -> int | None:
    """The saved step closest to `step` (the earlier one on a tie): Compare's shared slider."""
    return min(available, key=lambda s: (abs(s - step), s)) if available else None


# ----- pictures to files -----
def picture(source: Path | Image.Image, scale: int = 1) -> Image.Image:
    """A stored frame enlarged `scale` times with nearest-neighbour, so pixels stay crisp."""
    image = (Image.open(source) if isinstance(source, Path) else source).convert("RGB")
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def captioned(image: Path | Image.Image, caption: str, scale: int = 1) -> Image.Image:
    """The picture enlarged `scale` times with a caption strip under it (for animation frames)."""
    image = picture(image, scale)
    out = Image.new("RGB", (image.width, image.height + 16), "white")
    out.paste(image, (0, 0))
    ImageDraw.Draw(out).text((4, image.height + 1), caption, fill="black", font=ImageFont.load_default(size=12))
    return out


def _same_size(images: list[Image.Image], multiple: int = 1) -> list[Image.Image]:
    """Pad every frame (white, bottom-right) to the largest size, rounded up to `multiple`."""
    w = -(-max(i.width for i in images) // multiple) * multiple
    h = -(-max(i.height for i in images) // multiple) * multiple
    out = []
    for img in images:
        canvas = Image.new("RGB", (w, h), "white")
        canvas.paste(img.convert("RGB"), (0, 0))
        out.append(canvas)
    return out


def gif_bytes(images: list[Image.Image], ms_per_frame: int = 400) -> bytes:
    """An endlessly looping GIF (Pillow), one frame per picture."""
    if not images:
        raise ValueError("a GIF needs at least one frame")
    first, *rest = _same_size(images)
    buf = BytesIO()
    first.save(buf, format="gif", save_all=True, append_images=rest, duration=ms_per_frame, loop=0)
    return buf.getvalue()


def mp4_bytes(images: list[Image.Image], fps: float = 2.5) -> bytes:
    """H.264 MP4 through imageio's bundled ffmpeg; frames padded to multiples of 16 (the codec's
    macroblock), so nothing is rescaled."""
    import imageio.v3 as iio

    if not images:
        raise ValueError("a video needs at least one frame")
    stack = np.stack([np.asarray(i) for i in _same_size(images, 16)])
    return iio.imwrite("<bytes>", stack, extension=".mp4", fps=fps, codec="libx264", macro_block_size=16)


def film_frames(run: Run, name: str, scale: int = 2) -> list[Image.Image]:
    """One entry of the panel (e.g. "c2") over training, each frame captioned with its step."""
    return [captioned(p, f"{run.name} · {name} · step {s}", scale) for s, p in frames(run, name)]


def walk_frames(g: torch.nn.Module, cfg: Config, code: str, step: int, seeds: list[int] | None = None,
                n: int = 24, scale: int = 2) -> list[Image.Image]:
    """The animated latent walk at one checkpoint (disentanglement_lib's traversal animation): one
    frame per value of `code`, the noise seeds side by side; continuous codes go -2 -> 2 -> -2."""
    seeds = SEEDS if seeds is None else seeds
    kind = next(c for c in latent.codes_of(cfg) if c.name == code)
    if kind.kind == "cat":
        values: list[Any] = list(range(kind.k))
    else:
        up = np.linspace(-2, 2, n // 2 + 1).tolist()
        values = up + up[-2:0:-1]
    out = []
    for v in values:
        fixed = {code: v}
        lat = latent.fixed(cfg, seeds, fixed if kind.kind == "cat" else None, None if kind.kind == "cat" else fixed,
                           next(g.parameters()).device)
        grid = make_grid(generate(g, cfg, lat), nrow=len(seeds), padding=2, pad_value=0.5)
        label = f"{code} = {v}" if kind.kind == "cat" else f"{code} = {v:+.2f}"
        out.append(captioned(to_pil(grid), f"step {step} · {label}", scale))
    return out


# ----- two frames as one -----
def _pair(a: Path | Image.Image, b: Path | Image.Image) -> tuple[np.ndarray, np.ndarray]:
    x, y = (np.asarray(picture(p), dtype=np.float32) for p in (a, b))
    if x.shape != y.shape:
        raise ValueError(f"the two pictures differ in size ({x.shape[1]}x{x.shape[0]} vs "
                         f"{y.shape[1]}x{y.shape[0]}): overlay needs runs with the same image size and code")
    return x, y


def overlay(a: Path | Image.Image, b: Path | Image.Image, alpha: float = 0.5) -> Image.Image:
    """`b` laid over `a` at opacity `alpha` (TensorBoard's requested image overlap)."""
    x, y = _pair(a, b)
    return Image.fromarray(np.round((1 - alpha) * x + alpha * y).astype(np.uint8))


def difference(a: Path | Image.Image, b: Path | Image.Image) -> tuple[Image.Image, float]:
    """|a - b| per pixel, stretched so the largest difference is white; and the mean absolute
    difference in [0, 1] (0: the two runs draw the same pictures)."""
    x, y = _pair(a, b)
    d = np.abs(x - y)
    top = float(d.max())
    stretched = d * (255.0 / top) if top > 0 else d
    return Image.fromarray(np.round(stretched).astype(np.uint8)), float(d.mean() / 255.0)


def reorder_columns(source: Path | Image.Image, order: list[int], padding: int = 2) -> Image.Image:
    """A traversal grid (make_grid: one column per code value, `padding` pixels around each cell)
    with its columns laid out in `order` (column j shows the source's column order[j]): one run's
    categories put in another's order before the two are compared."""
    image = picture(source)
    n = len(order)
    cell = (image.width - padding) / n - padding
    if sorted(order) != list(range(n)) or cell != int(cell) or cell < 1:
        raise ValueError(f"a {image.width}-pixel-wide grid does not split into {n} columns in that order")
    step = int(cell) + padding
    out = image.copy()
    for j, src in enumerate(order):
        out.paste(image.crop((src * step, 0, src * step + step + padding, image.height)), (j * step, 0))
    return out


def all_codes_png(model: Model, seeds: list[int], values: list[float], scale: int = 2) -> bytes:
    """Every code's traversal in one picture, one labelled block per code (the categorical ones
    over all their values, the continuous ones over `values`), for the CLI and Explore's download."""
    blocks = []
    for code in latent.codes_of(model.cfg):
        grid, vals = traversal_grid(model.G, model.cfg, code.name, seeds, values)
        what = code.label if code.kind == "cat" else f"{code.label}, {vals[0]:g} to {vals[-1]:g}"
        label = Image.new("RGB", (grid.shape[2] * scale, 18), "white")
        ImageDraw.Draw(label).text((4, 3), f"{code.name}: {what} (rows: noise seeds)", fill="black")
        blocks += [label, to_pil(grid, scale).convert("RGB")]
    out = Image.new("RGB", (max(b.width for b in blocks), sum(b.height for b in blocks)), "white")
    y = 0
    for b in blocks:
        out.paste(b, (0, y))
        y += b.height
    buf = BytesIO()
    out.save(buf, format="png")
    return buf.getvalue()


def render_film(run: Run, progress: Callable[[str, float], None] | None = None) -> list[int]:
    """Draw the film panel of every kept checkpoint that lacks one (runs trained before films,
    or a replaced checkpoint); the trainer draws new ones as it saves. Returns those steps."""
    todo, drawn = missing(run), []
    for i, step in enumerate(todo):
        if progress:
            progress(f"drawing the film panel of step {step} ({i + 1} of {len(todo)})", i / len(todo))
        try:
            model = load_model(run, step)
        except RunError:
            if step in run.checkpoint_steps():
                raise
            continue  # pruned by the trainer meanwhile: no panel to draw
        save(run, step, model.G, model.cfg)
        drawn.append(step)
    return drawn


def save_grid_png(grid: torch.Tensor, path: Path) -> None:
    atomic_write(path, png_bytes(grid))
