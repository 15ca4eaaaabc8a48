"""The one configuration type. The CLI, the dashboard form and the trainer all build a
`Config` through `Config.from_dict`, so every input is validated in exactly one place."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .archs import ARCH_NAMES, sizes_of
from .datasets import BUILTIN as BUILTIN_DATASETS
from .datasets import RECORDS, record

IMAGE_SIZES = (28, 32, 64)
# fields added after run folders were first written, with the value that reproduces older runs
ADDED_LATER = {"lambda_cat_jitter": 0.0, "arch": "paper", "d_batchnorm": True, "spectral_norm": False,
               "output": "tanh", "noise_prior": "normal", "lambda_cr": 0.0, "cr_start": 0, "g_steps": 1,
               "disent_every": 0, "shared_latents": False, "cr_gap": 0.0, "lambda_hessian": 0.0,
               "circular_codes": 0}
OUTPUTS = ("tanh", "sigmoid")
NOISE_PRIORS = ("normal", "uniform")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
# auto intervals (Config.intervals): samples, film frames and checkpoints per run
AUTO_SAMPLES, AUTO_FILM, AUTO_CHECKPOINTS = 25, 10, 5
ESTIMATORS = ("fast", "reference")  # of the disentanglement metrics (metrics.evaluate_all)


class ConfigError(ValueError):
    """Invalid configuration; `errors` maps each bad field to a one-line reason."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class Config:
    # data
    dataset: str = "mnist"
    data_dir: str = ""  # "" -> $INFOGAN_DATA or ./data
    download: bool = True
    subset: int = 0  # use only the first N training images (0 = all)
    image_size: int = 28
    channels: int = 1
    # networks: a row of archs.ARCHS (with image_size), and what is not a layer size
    arch: str = "paper"
    d_batchnorm: bool = True  # BatchNorm in D's trunk and Q's head
    spectral_norm: bool = False  # on every layer of D, Q and H
    output: str = "tanh"  # G's last nonlinearity: tanh, or sigmoid (images in [0, 1], as InfoGAN-CR)
    # latent layout: z, then one one-hot block per categorical code, then continuous codes
    noise_dim: int = 62
    cat_codes: tuple[int, ...] = (10,)
    # three continuous codes on MNIST (the paper has two): slant, width and stroke thickness can
    # each get one, where two codes often took slant and thickness (docs/results.md)
    n_cont: int = 3
    # the first N continuous codes are angles: c in [-1, 1) stands for the point (cos pi c, sin pi c)
    # that G reads, so -1 and 1 draw the same image, for a factor that is itself a circle (a hue)
    circular_codes: int = 0
    fixed_sigma: bool = False
    noise_prior: str = "normal"  # z ~ N(0, I), or U(-1, 1) per dimension (InfoGAN-CR)
    # objective
    lambda_cat: float = 1.0
    lambda_cont: float = 0.1
    # weight of the categorical codes' NLL on a jittered copy of G(z, c) (augment.py; 0 = off);
    # on for MNIST only, where a seed sweep measured it (docs/results.md)
    lambda_cat_jitter: float = 1.0
    # InfoGAN-CR's contrastive regulariser (Lin et al. 2020): H guesses which code two images
    # share, and G helps it; on from step cr_start, with H freshly initialised then (0 = off)
    lambda_cr: float = 0.0
    cr_start: int = 0
    # the least difference between a pair's unshared continuous codes (InfoGAN-CR's "gap": 1.9 on
    # its 3D teapots, 0 on dSprites): near 2, every code but the shared one swings across its range
    cr_gap: float = 0.0
    # the Hessian penalty on G's continuous inputs (Peebles et al. 2020; losses.hessian_penalty):
    # inputs that interact in a pixel cost G, so each factor is drawn from one of them (0 = off)
    lambda_hessian: float = 0.0
    # optimisation (Adam): D's optimiser also trains the shared trunk and Q's head
    lr_d: float = 2e-4
    lr_g: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    g_steps: int = 1  # G updates per iteration (after one D/Q update)
    # one draw of z, c and the CR pairs per iteration, fed to every update (InfoGAN-CR's code:
    # one feed_dict for H, D/Q and both G steps); off, each G step after the first and each H
    # or CR term draws its own
    shared_latents: bool = False
    batch_size: int = 128
    # MNIST's budget from the seed sweep in docs/results.md (other presets keep 20)
    epochs: int = 10
    max_steps: int = 0  # stop after this many steps (0 = run all epochs)
    seed: int = 0
    device: str = "auto"
    # bf16: forward passes under torch.autocast (weights, optimiser state and checkpoints stay fp32);
    # auto: time fp32 and bf16 on the run's first batches and keep the fastest whose losses agree
    # with fp32's (precision.py); whether bf16 pays depends on the CPU
    precision: str = "auto"
    # bookkeeping
    log_every: int = 50
    # the fixed-noise samples, a frame of the film (film.py) and a checkpoint (with its own frame)
    # every N steps; 0 = auto, a share of the run's length (`intervals`), so a short run has
    # pictures from its first minute
    sample_every: int = 0
    film_every: int = 0
    ckpt_every: int = 0
    keep_checkpoints: int = 5
    # data with ground-truth factors (dSprites): FactorVAE and MIG every N steps while training
    # (live.py; 0 = off)
    disent_every: int = 0

    # ----- construction and validation -----
    @classmethod
    def from_dict(cls, values: dict[str, Any], base: Config | None = None) -> Config:
        """Build and validate a config; unknown keys and bad values raise `ConfigError`.

        Missing keys come from `base`, or from the preset of the requested dataset, so a
        user who only names a dataset gets that dataset's paper defaults."""
        if not isinstance(values, dict):
            raise ConfigError({"config": f"expected a JSON object, got {type(values).__name__}"})
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError({k: "unknown setting" for k in unknown})
        if base is None:  # one dataset name means one preset, whether from the CLI, a file or the form
            ds = values.get("dataset", cls.dataset)
            base = preset(ds) if isinstance(ds, str) else cls()
        errors: dict[str, str] = {}
        merged: dict[str, Any] = dataclasses.asdict(base)
        for f in dataclasses.fields(cls):
            if f.name in values:
                try:
                    merged[f.name] = _coerce(f.name, values[f.name], type(merged[f.name]))
                except ValueError as exc:
                    errors[f.name] = str(exc)
        ds = merged["dataset"]
        if isinstance(ds, str) and getattr(record(ds), "name", None) == "folder":
            # anchored where it was given: a resume from another folder, a job child or a sweep's
            # worker reads the same images
            merged["dataset"] = "folder:" + os.path.abspath(os.path.expanduser(ds.removeprefix("folder:")))
        cfg = cls(**merged)  # fields that failed to convert keep the base value here
        errors = {**cfg.problems(), **errors}
        if errors:
            raise ConfigError(errors)
        return cfg

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> Config:
        """A config read back from a run folder or checkpoint: a field the run predates takes
        the value it was trained with, not today's default, so old runs resume unchanged."""
        return cls.from_dict({**ADDED_LATER, **values} if isinstance(values, dict) else values)

    def problems(self) -> dict[str, str]:
        """Every invalid field with a one-line reason (empty when the config is valid)."""
        errors: dict[str, str] = {}

        def check(name: str, ok: bool, why: str) -> None:
            if not ok and name not in errors:
                errors[name] = why

        ds = self.dataset
        check("dataset", is_dataset_name(ds),
              f"unknown dataset {ds!r}; use one of {', '.join(BUILTIN_DATASETS)}, dsprites:STRIDE or folder:PATH")
        check("subset", self.subset >= 0, "must be >= 0 (0 = all images)")
        check("image_size", self.image_size in IMAGE_SIZES, f"must be one of {IMAGE_SIZES}")
        check("channels", self.channels in (1, 3), "must be 1 or 3")
        rec = record(ds)
        if rec is not None and not rec.resized:
            check("channels", self.channels == rec.channels, f"{ds} has {rec.channels} channel(s)")
            check("image_size", self.image_size == rec.image_size, f"{ds} images are {rec.image_size}x{rec.image_size}")
        check("arch", self.arch in ARCH_NAMES,
              f"unknown architecture {self.arch!r}; use one of {', '.join(ARCH_NAMES)}")
        sizes = ", ".join(f"{n}x{n}" for n in sizes_of(self.arch))
        check("image_size", self.arch not in ARCH_NAMES or self.image_size in sizes_of(self.arch),
              f"architecture {self.arch!r} has nets for {sizes} images only")
        check("output", self.output in OUTPUTS, f"must be one of {', '.join(OUTPUTS)}")
        check("noise_prior", self.noise_prior in NOISE_PRIORS, f"must be one of {', '.join(NOISE_PRIORS)}")
        check("noise_dim", self.noise_dim >= 0, "must be >= 0")
        for k in self.cat_codes:
            check("cat_codes", k >= 2, f"every categorical code needs K >= 2, got {k}")
            check("cat_codes", k <= 1000, f"K={k} is too large (at most 1000)")
        check("n_cont", self.n_cont >= 0, "must be >= 0")
        check("n_cont", len(self.cat_codes) + self.n_cont >= 1, "need at least one latent code")
        check("circular_codes", 0 <= self.circular_codes <= self.n_cont,
              f"must be between 0 and n_cont ({self.n_cont}): the first continuous codes are the circular ones")
        check("noise_dim", self.noise_dim + sum(self.cat_codes) + self.n_cont >= 1, "input is empty")
        for name in ("lambda_cat", "lambda_cont", "lambda_cat_jitter", "lambda_cr", "lambda_hessian"):
            v = getattr(self, name)
            check(name, math.isfinite(v) and v >= 0, "must be a finite number >= 0")
        check("lambda_cr", self.lambda_cr == 0 or len(self.cat_codes) + self.n_cont >= 2,
              "the contrastive regulariser needs at least two codes")
        check("lambda_hessian", self.lambda_hessian == 0 or self.noise_dim + self.n_cont >= 2,
              "the Hessian penalty needs at least two continuous inputs (noise or codes: it charges "
              "how they interact)")
        check("cr_start", self.cr_start >= 0, "must be >= 0 (the step the regulariser switches on)")
        check("cr_gap", math.isfinite(self.cr_gap) and 0 <= self.cr_gap < 2,
              "must be in [0, 2) (continuous codes are drawn from U(-1, 1))")
        check("g_steps", 1 <= self.g_steps <= 10, "must be between 1 and 10")
        check("disent_every", self.disent_every >= 0, "must be >= 0 (0 = off)")
        check("disent_every", self.disent_every == 0 or bool(rec and rec.factors),
              "measures disentanglement against ground-truth factors, which only dsprites has")
        for name in ("lr_d", "lr_g"):
            v = getattr(self, name)
            check(name, math.isfinite(v) and 0 < v <= 1, "must be in (0, 1]")
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            check(name, math.isfinite(v) and 0 <= v < 1, "must be in [0, 1)")
        check("batch_size", 2 <= self.batch_size <= 65536, "must be between 2 and 65536")
        check("epochs", self.epochs >= 1, "must be >= 1")
        check("max_steps", self.max_steps >= 0, "must be >= 0 (0 = no limit)")
        # data order seeds torch with seed * 1_000_003 + epoch (train.epoch_permutation): a 64-bit value
        check("seed", 0 <= self.seed < 2**32, f"must be between 0 and {2**32 - 1:,}")
        check("device", self.device in DEVICES or re.fullmatch(r"cuda:\d{1,3}", self.device) is not None,
              f"must be one of {', '.join(DEVICES)} or cuda:N")
        check("precision", self.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}")
        check("precision", self.precision != "bf16" or self.device in ("auto", "cpu") or self.device.startswith("cuda"),
              "bf16 autocast runs on cpu and cuda devices only (auto picks fp32 elsewhere)")
        for name in ("log_every", "keep_checkpoints"):
            check(name, getattr(self, name) >= 1, "must be >= 1")
        for name in ("sample_every", "film_every", "ckpt_every"):
            check(name, getattr(self, name) >= 0, "must be >= 0 (0 = auto: a share of the run's length)")
        return errors

    # ----- derived values -----
    @property
    def code_names(self) -> list[str]:
        """Codes are named c1, c2, ... in latent order: categorical first, then continuous."""
        return [f"c{i + 1}" for i in range(len(self.cat_codes) + self.n_cont)]

    @property
    def input_dim(self) -> int:
        return self.noise_dim + sum(self.cat_codes) + self.n_cont + self.circular_codes

    def total_steps(self, images: int) -> int:
        """The run's length on a training set of `images` images (a subset already applied):
        whole batches per epoch, times epochs, capped by max_steps."""
        total = self.epochs * (images // self.batch_size)
        return min(total, self.max_steps) if self.max_steps else total

    def intervals(self, total_steps: int) -> tuple[int, int, int]:
        """(sample_every, film_every, ckpt_every) for a run of `total_steps`: the values set, or
        for 0 (auto) a 25th, a 10th and a 5th of the run, at least 10 steps each, at most 2,000,
        4,000 and 4,000 (a long run still loses at most 4,000 steps to a crash: the cadence of
        InfoGAN-CR's dSprites recipe). The shares keep their cost to a few percent of a run on a
        CPU (docs/results.md) and a default run's 5 checkpoints all kept."""
        def auto(share: int, high: int) -> int:
            return min(max(math.ceil(total_steps / share), 10), high)

        return (self.sample_every or auto(AUTO_SAMPLES, 2000), self.film_every or auto(AUTO_FILM, 4000),
                self.ckpt_every or auto(AUTO_CHECKPOINTS, 4000))

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or os.environ.get("INFOGAN_DATA") or "data")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cat_codes"] = list(self.cat_codes)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def replace(self, **changes: Any) -> Config:
        return Config.from_dict({**self.to_dict(), **changes}, base=self)


def preset(dataset: str) -> Config:
    """Per-dataset defaults (its record in datasets.py): the paper's layouts (Chen et al. 2016,
    appendix C), InfoGAN-CR's recipe for dSprites. A name that is no dataset gets the MNIST
    defaults here and is refused by `problems`."""
    rec = record(dataset)
    if rec is None:
        return dataclasses.replace(Config(), dataset=dataset)
    return dataclasses.replace(Config(), dataset=dataset, image_size=rec.image_size, channels=rec.channels,
                               **rec.preset(dataset))


# what each dataset name means, for `train --help` (the presets say what they set)
DATASET_HELP = {d.usage: d.help for d in RECORDS}


def preset_changes(dataset: str) -> dict[str, Any]:
    """The fields a dataset's preset sets away from Config's defaults (name as in DATASET_HELP)."""
    name = next((d.name if d.name != "folder" else "folder:x" for d in RECORDS if d.usage == dataset), dataset)
    base, got = Config().to_dict(), preset(name).to_dict()
    return {k: v for k, v in got.items() if k != "dataset" and v != base[k]}


def is_dataset_name(name: str) -> bool:
    return record(name) is not None


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Turn JSON/CLI/form values into the field's type, or say plainly why not."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"expected true or false, got {value!r}")
    if kind is int:
        bad = ValueError(f"expected a whole number, got {value!r}")
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise bad
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            out = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(out):
            raise ValueError(f"expected a finite number, got {value!r}")
        return out
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        if "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value
    if kind is tuple:  # categorical code sizes: [10, 5] or "10,5" or "" for none
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            raise ValueError(f"expected a list of category counts like 10,5, got {value!r}")
        return tuple(_coerce(name, p, int) for p in parts)
    raise ValueError(f"unsupported type for {name}")
