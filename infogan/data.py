"""Datasets as in-memory uint8 tensors, and the few picture helpers every page and command uses.

Small image datasets fit in memory (MNIST is 47 MB as uint8), so the trainer keeps one
tensor on the training device and shuffles indices each epoch instead of running a
DataLoader with workers. Pixels are scaled to [-1, 1] per batch, matching G's tanh.

MNIST and Fashion-MNIST are read from their idx files here (the format is a 16-byte header and
raw bytes), and grids and PIL conversion follow torchvision's `make_grid` / `to_pil_image`
exactly: importing torchvision costs 1.2 s per process on the 2-core machine (it loads its
models and ops), and every CLI command, dashboard child and Ray worker would pay it. torchvision
is still what downloads the datasets, reads SVHN and image folders and resizes uploads: those
paths import it when they run."""

from __future__ import annotations

import gzip
import math
import socket
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from .config import Config
from .datasets import record


class DataError(Exception):
    """The dataset cannot be loaded; the message says what to put where."""


class Rendered:
    """A ground-truth dataset's images, drawn when indexed: rows of its factor grid (all of them,
    or a subset's) -> uint8 images, so a process holds the batch it uses, never the set
    (dSprites' 737,280 images are 2.9 GB as uint8, 3D Shapes' 480,000 are 5.9 GB). Indexing
    gives what a (N, C, H, W) uint8 tensor would give; `subset` gives fewer rows, still undrawn."""

    dtype = torch.uint8

    def __init__(self, draw: Callable[[np.ndarray], np.ndarray], sizes: tuple[int, ...], image: tuple[int, ...],
                 rows: np.ndarray | None = None, device: torch.device | str = "cpu",
                 memory_format: torch.memory_format = torch.contiguous_format):
        self.draw, self.sizes, self.image, self.rows = draw, sizes, image, rows
        self.device, self.memory_format = torch.device(device), memory_format

    def __len__(self) -> int:
        return math.prod(self.sizes) if self.rows is None else len(self.rows)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.image))

    def grid_rows(self, idx: Any) -> np.ndarray:
        """Positions in this view (int, slice, list, array or tensor) -> rows of the factor grid."""
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        pos = np.arange(*idx.indices(len(self))) if isinstance(idx, slice) else np.asarray(idx, np.int64).reshape(-1)
        if pos.size and (pos.min() < -len(self) or pos.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} images")
        pos = pos % max(len(self), 1)
        return pos if self.rows is None else self.rows[pos]

    def __getitem__(self, idx: Any) -> torch.Tensor:
        rows = self.grid_rows(idx)
        images = torch.from_numpy(self.draw(np.stack(np.unravel_index(rows, self.sizes), 1)))
        images = images.to(self.device).contiguous(memory_format=self.memory_format)
        one = isinstance(idx, (int, np.integer)) or (isinstance(idx, torch.Tensor) and idx.dim() == 0)
        return images[0] if one else images

    def _with(self, **changes: Any) -> Rendered:
        fields = {"rows": self.rows, "device": self.device, "memory_format": self.memory_format} | changes
        return Rendered(self.draw, self.sizes, self.image, **fields)

    def subset(self, idx: Any) -> Rendered:
        return self._with(rows=self.grid_rows(idx))

    def to(self, device: torch.device | str) -> Rendered:
        return self._with(device=device)

    def contiguous(self, memory_format: torch.memory_format = torch.contiguous_format) -> Rendered:
        return self._with(memory_format=memory_format)


@dataclass
class ImageData:
    images: torch.Tensor | Rendered  # (N, C, H, W) uint8: in memory, or drawn per batch
    labels: torch.Tensor | None = None  # (N,) long class labels, when the dataset has them
    factors: torch.Tensor | None = None  # (N, F) ground-truth factor indices (dsprites, shapes3d)
    factor_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        return to_float(self.images[idx])

    def subset(self, idx: torch.Tensor) -> ImageData:
        """The images at `idx` (a drawn set stays undrawn), with their labels or factors."""
        images = self.images.subset(idx) if isinstance(self.images, Rendered) else self.images[idx]
        pick = lambda t: None if t is None else t[idx]
        return ImageData(images, pick(self.labels), pick(self.factors), self.factor_names)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float images in [-1, 1] on the same device."""
    return images.float().div_(127.5).sub_(1.0)


PIXELS_PER_PASS = 2**17  # image pixels per forward pass that keeps no gradients, on a CPU


def inference_batch(size: int, device: torch.device | str = "cpu") -> int:
    """Images per forward pass of a net that only reads images (the judge, Q, G drawing for a
    metric), sized by pixels: on a CPU the widest activation (32-64 channels near full size)
    stays at ~16-32 MB at any image size, where a fixed 1,000 images of 64x64 made ~0.5 GB
    activations. Small blocks bound the process's peak and are reused by the allocator instead
    of being mapped and faulted in afresh each pass (docs/results.md, "Inference in blocks of
    pixels"). A GPU holds activations in its own memory and idles on small passes: 32 times as
    many pixels there (1,024 images of 64x64)."""
    pixels = PIXELS_PER_PASS * (1 if torch.device(device).type == "cpu" else 32)
    return max(1, pixels // (size * size))


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 0.0) -> torch.Tensor:
    """torchvision.utils.make_grid's layout: a batch (B, C, H, W) as one (3, H', W') picture,
    `nrow` images per row, one-channel images as three equal channels; a single (C, H, W) image
    is returned as it is (three channels)."""
    if images.dim() == 3:
        return images.expand(3, -1, -1) if images.shape[0] == 1 else images
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    b, c, h, w = images.shape
    cols = min(nrow, b)
    rows = math.ceil(b / cols)
    out = images.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for k in range(b):
        y, x = divmod(k, cols)
        top, left = y * (h + padding) + padding, x * (w + padding) + padding
        out[:, top:top + h, left:left + w] = images[k]
    return out


def png_bytes(images: torch.Tensor, nrow: int = 8) -> bytes:
    """A batch (B, C, H, W) or one grid (C, H, W) in [0, 1] as PNG bytes (torchvision's save_image:
    its layout and its rounding)."""
    pixels = make_grid(images, nrow).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    buf = BytesIO()
    Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(buf, format="png")
    return buf.getvalue()


def read_idx(path: Path) -> torch.Tensor:
    """An idx file (MNIST's format; `path` or `path`.gz): magic 0 0 8 N (unsigned bytes, N
    dimensions), N big-endian int32 sizes, the bytes. Anything else raises ValueError."""
    raw = path.read_bytes() if path.exists() else gzip.decompress(path.with_name(path.name + ".gz").read_bytes())
    if len(raw) < 4 or raw[:3] != b"\0\0\x08":
        raise ValueError(f"{path.name} is not an idx file of unsigned bytes")
    dims = np.frombuffer(raw, ">i4", count=raw[3], offset=4)
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3])
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path.name} holds {body.size} bytes for a shape of {tuple(dims)}")
    return torch.from_numpy(body.reshape(tuple(int(d) for d in dims)).copy())


def load(cfg: Config, train: bool = True, test_images: int | None = None) -> ImageData:
    """Load the configured dataset; `train=False` gives the labelled test split (or raises), its
    first `test_images` only when given (a budget's cap, budget.py)."""
    # a training subset is a fixed pseudo-random sample, so a subset of dSprites still covers
    # every factor; generated and folder data decode only its rows (the server's 20,000-image
    # reference of dSprites is 80 MB, not the 3 GB of the whole set)
    pick = (lambda n: _subset(n, cfg.subset)) if train and cfg.subset else (lambda n: None)
    data = LOADERS[record(cfg.dataset).name](cfg, train, pick)
    if not train and test_images is not None:
        data = ImageData(data.images[:test_images], None if data.labels is None else data.labels[:test_images])
    if len(data) < 2:
        raise DataError(f"dataset {cfg.dataset!r} has {len(data)} image(s); need at least 2")
    return data


def has_test_split(cfg: Config) -> bool:
    rec = record(cfg.dataset)
    return rec is not None and rec.labels > 0


def available(dataset: str, root: Path) -> bool:
    """True when the dataset's files are already in the data folder (no download needed; a
    generated set is drawn on demand)."""
    rec = record(dataset)
    return rec is not None and all((root / rec.folder / f).exists() or (root / rec.folder / f"{f}.gz").exists()
                                   for f in rec.files)


@contextmanager
def _network_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _load_torchvision(cfg: Config, train: bool, pick: Callable[[int], torch.Tensor | None]) -> ImageData:
    """MNIST, Fashion-MNIST and SVHN: the idx files read here, .mat files and downloads by torchvision."""
    name, root = cfg.dataset, cfg.resolved_data_dir()
    data = _read_labelled(name, root, train, cfg.download)
    keep = pick(len(data))
    return data if keep is None else ImageData(data.images[keep], data.labels[keep])


def _read_labelled(name: str, root: Path, train: bool, download: bool) -> ImageData:
    rec = record(name)
    sub, files = rec.folder, rec.files
    need_download = download and not available(name, root)
    try:
        if name != "svhn" and not need_download:  # idx files, read here (the module doc says why)
            prefix = "train" if train else "t10k"
            images = read_idx(root / sub / f"{prefix}-images-idx3-ubyte").unsqueeze(1)
            labels = read_idx(root / sub / f"{prefix}-labels-idx1-ubyte")
            if len(labels) != len(images):
                raise ValueError(f"{len(images)} images but {len(labels)} labels")
            return ImageData(images.contiguous(), labels.long())
        from torchvision import datasets

        with _network_timeout(30):
            if name == "svhn":
                ds = datasets.SVHN(str(root / "SVHN"), split="train" if train else "test",
                                   download=need_download)
                images, labels = torch.from_numpy(ds.data), torch.from_numpy(ds.labels)
            else:
                cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
                ds = cls(str(root), train=train, download=need_download)
                images, labels = ds.data.unsqueeze(1), ds.targets
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError/...
        if available(name, root) and not need_download:  # there, but torchvision cannot read them
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise DataError(f"{name}: the files in {(root / sub).resolve()} are unreadable or corrupt "
                            f"({type(exc).__name__}{': ' + first if first else ''}); replace {', '.join(files)}"
                            ) from None
        how = "the download failed" if need_download else "the files are missing"
        raise DataError(f"{name}: {how} ({type(exc).__name__}); put {', '.join(files)} "
                        f"in {(root / sub).resolve()} or set INFOGAN_DATA / --data-dir") from None
    return ImageData(images.contiguous(), labels.long())


def _subset(n: int, size: int) -> torch.Tensor | None:
    """The rows of a `size`-image training subset of n images, sorted (None: all of them)."""
    if not size or size >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:size].sort().values


def _load_folder(path: Path, size: int, channels: int,
                 pick: Callable[[int], torch.Tensor | None] = lambda n: None) -> ImageData:
    """Any folder of images: class subfolders (ImageFolder, labels kept) or a flat folder; only
    the files `pick` (given the number of files) chooses are decoded."""
    from torchvision import datasets

    if not path.is_dir():
        raise DataError(f"image folder {path} does not exist")
    try:
        labelled = datasets.ImageFolder(str(path))
        items = labelled.samples
    except (FileNotFoundError, RuntimeError):
        items = [(str(p), -1) for p in sorted(path.iterdir())
                 if p.suffix.lower() in datasets.folder.IMG_EXTENSIONS]
    if not items:
        raise DataError(f"image folder {path} holds no images ({', '.join(datasets.folder.IMG_EXTENSIONS)})")
    if (keep := pick(len(items))) is not None:
        items = [items[i] for i in keep.tolist()]
    images = []
    for file, _ in items:
        try:
            with Image.open(file) as pil:
                images.append(_fit(pil, size, channels))
        except OSError as exc:
            raise DataError(f"cannot read image {file} ({exc})") from None
    labels = torch.tensor([y for _, y in items]) if items[0][1] >= 0 else None
    return ImageData(torch.stack(images), labels)


def _fit(pil: Image.Image, size: int, channels: int) -> torch.Tensor:
    """One image as a run's training data is made: 8-bit, grey or RGB, the shorter side resized
    to `size` and centre-cropped (uint8 (C, size, size)). 16-bit greys are scaled, not clipped,
    and a transparent background becomes white, as the image looks in a viewer."""
    if pil.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(pil, dtype=np.float64)
        top = 65535.0 if pil.mode.startswith("I;16") or arr.max() > 255 else 255.0
        pil = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        pil = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    from torchvision import transforms

    pil = pil.convert("L" if channels == 1 else "RGB")
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    return tf(pil)


MAX_UPLOAD_BYTES = 5 * 2**20
MAX_UPLOAD_PIXELS = 40_000_000



def image_from_bytes(raw: bytes, cfg: Config, invert: bool | None = None) -> torch.Tensor:
    """A user's PNG or JPEG (any size, any colour mode) as one of the run's images, uint8 (C, H, W).

    `invert`: make a light background dark; None decides from the border for datasets of light
    shapes on black (a digit written on paper is dark on light). Raises DataError with a
    one-line reason for an empty or oversized file, a file that is not an image, or one too big."""
    if not raw:
        raise DataError("the file is empty")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise DataError(f"the file is {len(raw) / 2**20:.1f} MB; at most {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        pil = Image.open(BytesIO(raw))
        if pil.format not in ("PNG", "JPEG"):
            raise DataError(f"the file is {pil.format or 'an unknown format'}, not a PNG or JPEG image")
        w, h = pil.size
        if w * h > MAX_UPLOAD_PIXELS:
            raise DataError(f"the image is {w}x{h} pixels; at most {MAX_UPLOAD_PIXELS // 1_000_000} megapixels")
        pil.load()
        pil = ImageOps.exif_transpose(pil)  # a phone's photo as it was held, not as its sensor stored it
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"the file is not a readable PNG or JPEG image ({type(exc).__name__})") from None
    img = _fit(pil, cfg.image_size, cfg.channels)
    if invert is None:
        border = torch.cat([img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1]], 1).float().mean()
        invert = record(cfg.dataset).dark_background and bool(border > 127)
    return 255 - img if invert else img


def pil_image(image: torch.Tensor) -> Image.Image:
    """torchvision's to_pil_image for (1 or 3, H, W): floats in [0, 1] times 255, truncated, as
    it does; uint8 as it is. One channel -> mode L, three -> RGB."""
    pixels = image if image.dtype == torch.uint8 else image.mul(255).to(torch.uint8)
    pixels = pixels.cpu().numpy()
    return Image.fromarray(pixels[0], "L") if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0))


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """(C, H, W) in [0, 1] -> PIL image, enlarged with nearest-neighbour so pixels stay crisp."""
    pil = pil_image(image.clamp(0, 1))
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST) if scale > 1 else pil


def thumbnails(images: torch.Tensor, scale: int = 2) -> list[str]:
    """uint8 images (B, C, H, W) as PNG data URIs, for pictures shown on hover in the browser."""
    import base64

    out = []
    for img in images:
        pil = pil_image(img)
        buf = BytesIO()
        pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST).save(buf, format="png")
        out.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    return out


def _rendered(cfg: Config, train: bool, pick: Callable[[int], torch.Tensor | None]) -> ImageData:
    """A ground-truth set drawn per batch (its record's `draw`), with its factors; a subset keeps
    `pick`'s rows of the factor grid. No files: nothing is downloaded, drawn ahead or cached."""
    rec = record(cfg.dataset)
    sizes = rec.factor_sizes(cfg.dataset)
    rows = pick(math.prod(sizes))
    images = Rendered(lambda f: rec.draw(cfg.dataset, f), sizes, (rec.channels, rec.image_size, rec.image_size),
                      None if rows is None else rows.numpy())
    index = np.arange(math.prod(sizes)) if rows is None else rows.numpy()
    factors = torch.from_numpy(np.stack(np.unravel_index(index, sizes), 1))
    return ImageData(images, None, factors, rec.factors)


def _folder(cfg: Config, train: bool, pick: Callable[[int], torch.Tensor | None]) -> ImageData:
    return _load_folder(Path(cfg.dataset[7:]), cfg.image_size, cfg.channels, pick)


# a dataset record's loader (datasets.py): (config, training split?, the subset's rows given the
# number of images) -> the images, and their labels or factors
LOADERS: dict[str, Callable[[Config, bool, Callable[[int], torch.Tensor | None]], ImageData]] = {
    "mnist": _load_torchvision, "fashion-mnist": _load_torchvision, "svhn": _load_torchvision,
    "dsprites": _rendered, "shapes3d": _rendered, "folder": _folder}
