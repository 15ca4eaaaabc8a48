"""Images/s of the project's trainer vs a plain PyTorch reference loop, same process and run.

Same architecture (the paper's MNIST nets from infogan.models), same data (real MNIST), same
batch size and device. The reference is the loop most ports write: a torchvision dataset
through a DataLoader, a D step and a G+Q step, `.item()` on every loss every step. Windows
alternate (ref, ours, ref, ours, ...) after warm-up so machine noise hits all alike; the
median of the windows is reported, with each loop's ratio to the reference. Like for like:
the project's step without the jitter-invariance term (which the reference loop does not have)
in every precision candidate: "fp32", "bf16" (autocast), "auto" (what precision=auto picks
here, probe included) and "fp32_compiled" (G and D under torch.compile; its compile time and
first-step difference from eager are reported too). "defaults" is the MNIST defaults' full step
(with the jitter term, precision auto), and the probe's share of a default 10-epoch run is
computed from its rate.

With `--dataset dsprites[:S]` it times instead the dSprites preset (InfoGAN-CR's recipe: its
nets, spectral norm, two G steps per iteration) before and after the contrastive regulariser
switches on, against the old dSprites preset (the paper's 64x64 nets, one G step) and against a
plain port of the same recipe (`ReferenceCRLoop`, without and with H), and with one draw of
latents per iteration for every update (shared_latents, InfoGAN-CR's own iteration), fp32, the
same windows; batch 64 as the presets have it.

    python benchmarks/throughput.py --batch-size 128 --windows 5 --steps 20
    python benchmarks/throughput.py --dataset dsprites --windows 5 --steps 10"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from infogan.budget import SMOKE_DATA, current
from infogan.config import Config
from infogan.data import DataError, load
from infogan.models import build, build_contrast
from infogan.precision import resolve_device
from infogan.runs import Run, RunError
from infogan.train import Trainer, epoch_permutation

# the smoke budget's batch: bf16 on a CPU without bf16 kernels runs ~13 images/s (docs/results.md)
SMOKE_BATCH = 8
_SCRATCH = tempfile.TemporaryDirectory(prefix="throughput-")  # the trainers' run folders, removed at exit


def forever(loader: DataLoader) -> Iterator[torch.Tensor]:
    """The loader's image batches (the first tensor of each), epoch after epoch."""
    while True:
        for batch in loader:
            yield batch[0]


class ReferenceLoop:
    """A straightforward InfoGAN loop, as commonly written (kept here, not in the product)."""

    def __init__(self, cfg: Config, device: torch.device):
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.G, self.D = build(cfg)
        self.G.to(device)
        self.D.to(device)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        ds = datasets.MNIST(str(cfg.resolved_data_dir()), train=True, download=False,
                            transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]))
        self.loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
        self.images = forever(self.loader)

    def batch(self) -> torch.Tensor:
        return next(self.images).to(self.device)

    def step(self) -> None:
        cfg = self.cfg
        x = self.batch()
        b = x.shape[0]
        z = torch.randn(b, cfg.noise_dim, device=self.device)
        cat = torch.randint(cfg.cat_codes[0], (b,), device=self.device)
        cont = torch.rand(b, cfg.n_cont, device=self.device) * 2 - 1
        inp = torch.cat([z, F.one_hot(cat, cfg.cat_codes[0]).float(), cont], 1)
        fake = self.G(inp)
        ones, zeros = torch.ones(b, device=self.device), torch.zeros(b, device=self.device)

        self.opt_d.zero_grad()
        real_logit, _ = self.D(x)
        fake_logit, q = self.D(fake.detach())
        info = F.cross_entropy(q.logits[0], cat) + cfg.lambda_cont * (
            0.5 * q.logvar + 0.5 * (cont - q.mu) ** 2 * torch.exp(-q.logvar)).sum(1).mean()
        loss_d = (F.binary_cross_entropy_with_logits(real_logit, ones)
                  + F.binary_cross_entropy_with_logits(fake_logit, zeros) + info)
        loss_d.backward()
        self.opt_d.step()

        self.opt_g.zero_grad()
        fake_logit, q = self.D(fake)
        info = F.cross_entropy(q.logits[0], cat) + cfg.lambda_cont * (
            0.5 * q.logvar + 0.5 * (cont - q.mu) ** 2 * torch.exp(-q.logvar)).sum(1).mean()
        loss_g = F.binary_cross_entropy_with_logits(fake_logit, ones) + info
        loss_g.backward()
        self.opt_g.step()
        self.log = (loss_d.item(), loss_g.item(), info.item())  # per-step logging, as most loops do


class ReferenceCRLoop:
    """InfoGAN-CR's iteration (the dSprites preset's nets from infogan.models) as a straightforward
    port writes it: images through a DataLoader, D on real and fake in separate calls, latents
    from torch.rand, `.item()` on every loss; with H, an H step and H's term in both G steps."""

    def __init__(self, cfg: Config, device: torch.device, with_h: bool):
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.G, self.D = (net.to(device) for net in build(cfg))
        self.H = build_contrast(cfg).to(device) if with_h else None
        def adam(net: torch.nn.Module, lr: float) -> torch.optim.Adam:
            return torch.optim.Adam(net.parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2))

        self.opt_d, self.opt_g = adam(self.D, cfg.lr_d), adam(self.G, cfg.lr_g)
        self.opt_h = adam(self.H, cfg.lr_d) if with_h else None
        data = load(cfg).images  # a ground-truth set is drawn per batch: the loader's collate draws it
        self.loader = DataLoader(range(len(data)), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                 collate_fn=lambda idx: (data[torch.tensor(idx)],))
        self.images = forever(self.loader)

    def batch(self) -> torch.Tensor:
        return next(self.images).to(self.device).float() / 127.5 - 1

    def latent(self, b: int) -> torch.Tensor:
        return torch.rand(b, self.cfg.noise_dim + self.cfg.n_cont, device=self.device) * 2 - 1

    def pairs_loss(self, b: int, through_g: bool = True) -> torch.Tensor:
        """H's cross-entropy on pairs sharing z and one code (the codes are the latent's last n_cont)."""
        cfg = self.cfg
        a, other = self.latent(b), self.latent(b)
        k = torch.randint(cfg.n_cont, (b,), device=self.device)
        shared = F.one_hot(k, cfg.n_cont).bool()
        z, ca, cb = a[:, :cfg.noise_dim], a[:, cfg.noise_dim:], other[:, cfg.noise_dim:]
        with torch.set_grad_enabled(through_g):
            xa, xb = self.G(a), self.G(torch.cat([z, torch.where(shared, ca, cb)], 1))
        return F.cross_entropy(self.H(xa, xb), k)

    def step(self) -> None:
        cfg, x = self.cfg, self.batch()
        b, n = x.shape[0], cfg.noise_dim
        if self.H is not None:
            self.opt_h.zero_grad()
            self.pairs_loss(b, through_g=False).backward()
            self.opt_h.step()
        lat = self.latent(b)
        fake = self.G(lat)
        self.opt_d.zero_grad()
        real_logit, _ = self.D(x)
        fake_logit, q = self.D(fake.detach())
        info = cfg.lambda_cont * (0.5 * (lat[:, n:] - q.mu) ** 2).sum(1).mean()
        loss_d = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)) + info)
        loss_d.backward()
        self.opt_d.step()
        for i in range(cfg.g_steps):
            if i:
                lat = self.latent(b)
                fake = self.G(lat)
            self.opt_g.zero_grad()
            fake_logit, q = self.D(fake)
            info = cfg.lambda_cont * (0.5 * (lat[:, n:] - q.mu) ** 2).sum(1).mean()
            loss_g = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit)) + info
            if self.H is not None:
                loss_g = loss_g + cfg.lambda_cr * self.pairs_loss(b)
            loss_g.backward()
            self.opt_g.step()
        self.log = (loss_d.item(), loss_g.item(), info.item())  # per-step logging, as most loops do


class ProjectLoop:
    """The project's Trainer, stepped exactly as its fit() does (minus logging and files).
    precision "auto" runs the probe on the first step, as a run does before its first step;
    `compiled` wraps G and D's stacked pass in torch.compile (timed from its second step on)."""

    def __init__(self, cfg: Config, device: torch.device, compiled: bool = False):
        data = load(cfg)
        self.t = Trainer(cfg, Run.create(cfg, "bench", tempfile.mkdtemp(dir=_SCRATCH.name)), data)
        self.perm = epoch_permutation(cfg.seed, 0, len(data)).to(self.t.device)
        self.i = 0
        self.first: dict[str, float] = {}
        self.compile_s = 0.0
        if compiled:
            self.t.nets.G = torch.compile(self.t.G)
            self.t.D.parts = torch.compile(self.t.D.parts)

    def step(self) -> None:
        t, b = self.t, self.t.cfg.batch_size
        pos = self.i % t.steps_per_epoch
        t0 = time.perf_counter()
        self.acc = t.step(t.images.batch(self.perm[pos * b:(pos + 1) * b]))
        if self.i == 0:  # the first step compiles (or probes): its time and statistics
            self.first = {k: float(v) for k, v in self.acc.items()}
            self.compile_s = time.perf_counter() - t0
        self.i += 1

    def sync(self) -> None:
        torch.stack(list(self.acc.values())).tolist()  # what fit() does once per logging interval


def timed(loop, steps: int, batch: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.step()
    if hasattr(loop, "sync"):
        loop.sync()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="steps per timing window")
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--dataset", default="mnist", help="mnist, or dsprites[:S] for the InfoGAN-CR preset")
    a = p.parse_args()
    if a.dataset != "mnist":
        return dsprites_rates(a)
    if current().smoke:  # one short window per loop on small batches of a few images: it runs, it measures nothing
        a.steps, a.windows, a.warmup, a.batch_size = 2, 1, 1, SMOKE_BATCH
    defaults = Config.from_dict({"dataset": "mnist", "batch_size": a.batch_size, "device": a.device,
                                 "subset": SMOKE_DATA["subset"] if current().smoke else 0})
    cfg = defaults.replace(lambda_cat_jitter=0.0)
    try:
        device = resolve_device(cfg.device)
        project = {"fp32": ProjectLoop(cfg.replace(precision="fp32"), device),  # first: the project's data message
                   "bf16": ProjectLoop(cfg.replace(precision="bf16"), device),
                   "auto": ProjectLoop(cfg.replace(precision="auto"), device),
                   "defaults": ProjectLoop(defaults, device)}
    except (DataError, RunError) as exc:
        raise SystemExit(f"throughput.py: {exc}") from None
    loops = {"reference": ReferenceLoop(cfg, device), **project}
    if not current().smoke:  # torch.compile takes most of a minute to compile on 2 CPU cores
        loops["fp32_compiled"] = ProjectLoop(cfg.replace(precision="fp32"), device, compiled=True)
    for loop in loops.values():
        timed(loop, a.warmup, a.batch_size, device)
    rates: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(a.windows):
        for name, loop in loops.items():
            rates[name].append(timed(loop, a.steps, a.batch_size, device))
    med = {k: statistics.median(v) for k, v in rates.items()}
    auto, defaults_loop = loops["auto"].t, loops["defaults"].t
    probe = auto.run.status()["precision_probe"]
    # a default MNIST run (10 epochs) at the defaults' measured rate, for the probe's share of it
    default_run_s = defaults.epochs * defaults_loop.steps_per_epoch * a.batch_size / med["defaults"]
    out = {
        "machine": platform.node(), "device": str(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "batch_size": a.batch_size,
        "steps_per_window": a.steps, "windows": a.windows,
        "images_per_s": {k: round(v, 1) for k, v in med.items()},
        "vs_reference": {k: round(v / med["reference"], 3) for k, v in med.items() if k != "reference"},
        "bf16_vs_fp32": round(med["bf16"] / med["fp32"], 3),
        "auto_choice": auto.precision, "auto_reason": probe["reason"], "probe_s": probe["seconds"],
        "defaults_choice": defaults_loop.precision,
        "probe_share_of_default_run": round(
            defaults_loop.run.status()["precision_probe"]["seconds"] / default_run_s, 4),
        "windows_images_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()}}
    if "fp32_compiled" in loops:
        c, e = loops["fp32_compiled"], loops["fp32"]
        out |= {"compile_s": round(c.compile_s, 1), "compiled_vs_fp32": round(med["fp32_compiled"] / med["fp32"], 3),
                "compiled_first_step_max_diff": max(abs(c.first[k] - e.first[k]) for k in e.first)}
    print(json.dumps(out))

# the dSprites preset before InfoGAN-CR's recipe (the paper's 64x64 nets): what it replaced
OLD_DSPRITES = {"arch": "paper", "d_batchnorm": True, "spectral_norm": False, "output": "tanh",
                "noise_prior": "normal", "fixed_sigma": False, "lambda_cont": 0.1, "lr_d": 2e-4, "g_steps": 1,
                "lambda_cr": 0.0, "cr_start": 0}


def dsprites_rates(a: argparse.Namespace) -> None:
    """Images/s of the dSprites preset without and with H, with fresh or shared latents
    (shared_latents), of a plain port of it, and of the old preset, alternating."""
    if current().smoke:
        a.steps, a.windows, a.warmup, a.dataset = 2, 1, 1, "dsprites:8"
    base = Config.from_dict({"dataset": a.dataset, "device": a.device, "precision": "fp32", "disent_every": 0,
                             **({"batch_size": SMOKE_BATCH} if current().smoke else {})})
    try:
        device = resolve_device(base.device)
        loops = {"old_preset": ProjectLoop(base.replace(**OLD_DSPRITES), device),
                 "reference_cr": ReferenceCRLoop(base, device, with_h=False),
                 "infogan_cr": ProjectLoop(base.replace(lambda_cr=0.0), device),
                 "reference_cr_with_h": ReferenceCRLoop(base, device, with_h=True),
                 "infogan_cr_with_h": ProjectLoop(base.replace(cr_start=0), device),
                 # one draw of latents per iteration (InfoGAN-CR's code): H's step lends G's pass
                 "infogan_cr_shared": ProjectLoop(base.replace(lambda_cr=0.0, shared_latents=True), device),
                 "infogan_cr_with_h_shared": ProjectLoop(base.replace(cr_start=0, shared_latents=True), device)}
    except (DataError, RunError) as exc:
        raise SystemExit(f"throughput.py: {exc}") from None
    b = base.batch_size
    for loop in loops.values():
        timed(loop, a.warmup, b, device)
    rates: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(a.windows):
        for name, loop in loops.items():
            rates[name].append(timed(loop, a.steps, b, device))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(json.dumps({
        "machine": platform.node(), "device": str(device), "dataset": a.dataset, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "batch_size": b, "steps_per_window": a.steps, "windows": a.windows,
        "precision": "fp32", "images_per_s": {k: round(v, 1) for k, v in med.items()},
        "vs_old_preset": {k: round(v / med["old_preset"], 3) for k, v in med.items()},
        "vs_reference": {"infogan_cr": round(med["infogan_cr"] / med["reference_cr"], 3),
                         "infogan_cr_with_h": round(med["infogan_cr_with_h"] / med["reference_cr_with_h"], 3)},
        "shared_vs_fresh": {"before_cr": round(med["infogan_cr_shared"] / med["infogan_cr"], 3),
                            "with_h": round(med["infogan_cr_with_h_shared"] / med["infogan_cr_with_h"], 3)},
        "windows_images_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()}}))


if __name__ == "__main__":
    main()
