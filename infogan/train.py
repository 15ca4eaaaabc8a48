"""The InfoGAN training loop, shared by the CLI, the dashboard's jobs and the benchmarks.

One step (as in the original InfoGAN code): sample z and c, generate G(z, c); then
  D step: loss_d + L_info(Q(G(z, c).detach()))  on D's trunk, D's head and Q's head,
  G step: loss_g + L_info(Q(G(z, c)))           on G (D's weights frozen for that pass).
So the information loss trains Q, the shared trunk and G; none of it is lost to a separate
Q optimiser. With lambda_cat_jitter > 0 both steps add the categorical codes' NLL on a jittered
copy of the fakes (augment.py), which keeps those codes on identity rather than pose.
Statistics stay on the device and are read back once per logging interval."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import latent
from .augment import jitter
from .config import Config
from .data import DataError, ImageData, load, png_bytes, to_unit
from .losses import cat_ces, d_loss, g_loss, info_loss, mi_bounds
from .models import build
from .runs import Run, RunError, atomic_write, load_state, load_weights, pid_alive, save_state, save_weights, write_json

LogFn = Callable[[dict[str, Any]], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"device {name!r} requested but CUDA is not available on this machine")
    return torch.device(name)


def stat_names(cfg: Config) -> list[str]:
    """Per-step scalars, in the order `Trainer.step` returns them."""
    codes = latent.codes_of(cfg)
    names = ["loss_d", "loss_g", "loss_info", "d_real", "d_fake"]
    names += [f"ce_{c.name}" if c.kind == "cat" else f"nll_{c.name}" for c in codes]
    names += [f"sigma_{c.name}" for c in codes if c.kind == "cont" and not cfg.fixed_sigma]
    return names + (["ce_jitter"] if uses_jitter(cfg) else [])


def uses_jitter(cfg: Config) -> bool:
    return cfg.lambda_cat_jitter > 0 and bool(cfg.cat_codes)


@dataclass
class Trainer:
    cfg: Config
    run: Run
    data: ImageData | None = None  # preloaded training data (else loaded from cfg)

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.G, self.D = build(cfg)
        # channels_last suits oneDNN/cuDNN convolutions; fused Adam is one kernel per step
        fmt = torch.channels_last
        self.G.to(self.device, memory_format=fmt)
        self.D.to(self.device, memory_format=fmt)
        fused = self.device.type in ("cpu", "cuda")
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=fused)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=fused)
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed)
        if cfg.precision == "bf16" and self.device.type not in ("cpu", "cuda"):
            raise RunError(f"precision bf16 runs on cpu and cuda only, not on {self.device.type}")
        if self.data is None:
            self.data = load(cfg)
        self.images = ImageData(self.data.images.to(self.device).contiguous(memory_format=fmt))
        if cfg.batch_size > len(self.images):
            raise DataError(f"batch_size {cfg.batch_size} is larger than the dataset "
                            f"({len(self.images)} images); lower batch_size or subset")
        self.steps_per_epoch = len(self.images) // cfg.batch_size
        total = cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        self.step_no = 0
        self.elapsed = 0.0

    # ----- one optimisation step -----
    def autocast(self) -> torch.autocast:
        """bf16 autocast for forward passes when cfg.precision asks for it (losses reduce in fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16")

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One D step and one G step on real batch x; returns the detached stats vector."""
        cfg = self.cfg
        c = latent.sample(cfg, x.shape[0], self.device, self.gen)
        with self.autocast():
            fake = self.G(c.vector(cfg.cat_codes))
            # D step: real, fake and (with the jitter term) a jittered fake in one stacked D pass
            jit = [jitter(fake.detach(), self.gen)] if uses_jitter(cfg) else []
            (real_logit, fake_logit, *_), (q, *q_jit) = self.D.parts(x, fake.detach(), *jit, q_from=1)
            info_d, _, _ = info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont)
            if q_jit:
                info_d = info_d + cfg.lambda_cat_jitter * sum(cat_ces(q_jit[0], c))
            loss_d = d_loss(real_logit, fake_logit)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + info_d).backward()
        self.opt_d.step()

        self.D.requires_grad_(False)  # gradients flow through D to G, but D's are not needed
        with self.autocast():
            jit = [jitter(fake, self.gen)] if uses_jitter(cfg) else []
            (fake_logit_g, *_), (q_g, *q_jit) = self.D.parts(fake, *jit)
            info_g, ce, nll = info_loss(q_g, c, cfg.lambda_cat, cfg.lambda_cont)
            extra = [sum(cat_ces(q_jit[0], c))] if q_jit else []
            if extra:
                info_g = info_g + cfg.lambda_cat_jitter * extra[0]
            loss_g = g_loss(fake_logit_g)
        self.opt_g.zero_grad(set_to_none=True)
        (loss_g + info_g).backward()
        self.opt_g.step()
        self.D.requires_grad_(True)

        sig = [] if cfg.fixed_sigma else list(torch.exp(0.5 * q_g.logvar).mean(0).unbind())
        return torch.stack([loss_d, loss_g, info_g, torch.sigmoid(real_logit).mean(),
                            torch.sigmoid(fake_logit).mean(), *ce, *nll, *sig, *extra]).float().detach()

    # ----- the loop -----
    def fit(self, stop: threading.Event | None = None, on_log: LogFn | None = None) -> str:
        """Train to the end (or until `stop` is set); returns the final state.

        Failures are recorded in status.json with a one-line reason and re-raised."""
        cfg, run = self.cfg, self.run
        run.set_status("running", step=self.step_no, total_steps=self.total_steps, pid=os.getpid(),
                       epoch=self.step_no // self.steps_per_epoch, device=str(self.device))
        names = stat_names(cfg)
        acc = torch.zeros(len(names), device=self.device)
        n_acc, t_window, start = 0, time.perf_counter(), time.perf_counter() - self.elapsed
        perm = None
        try:
            while self.step_no < self.total_steps:
                epoch, pos = divmod(self.step_no, self.steps_per_epoch)
                if perm is None or pos == 0:
                    perm = epoch_permutation(cfg.seed, epoch, len(self.images)).to(self.device)
                idx = perm[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]
                acc += self.step(self.images.batch(idx))
                n_acc += 1
                self.step_no += 1
                s, last = self.step_no, self.step_no == self.total_steps
                stopping = stop is not None and stop.is_set()
                if s % cfg.log_every == 0 or last or stopping:
                    now = time.perf_counter()
                    self.elapsed = now - start
                    rec = self._record(names, (acc / n_acc).tolist(), n_acc, now - t_window)
                    acc.zero_()
                    n_acc, t_window = 0, now
                    bad = [k for k, v in rec.items() if not math.isfinite(v)]
                    if bad:
                        raise FloatingPointError(f"non-finite {bad[0]} at step {s}; "
                                                 "last good checkpoint kept (try lower learning rates)")
                    run.append_metrics([rec])
                    run.set_status("running", step=s, epoch=rec["epoch"], elapsed=self.elapsed)
                    if on_log:
                        on_log(rec)
                if s % cfg.sample_every == 0 or last or stopping:
                    self.save_samples()
                if s % cfg.ckpt_every == 0 or last or stopping:
                    self.save_checkpoint()
                if stopping:
                    run.set_status("stopped", step=s)
                    return "stopped"
            run.set_status("completed", step=self.step_no, finished=time.time())
            return "completed"
        except KeyboardInterrupt:  # Ctrl-C in the CLI: stop like the dashboard's Stop button
            self.save_samples()
            self.save_checkpoint()
            run.set_status("stopped", step=self.step_no)
            return "stopped"
        except Exception as exc:
            run.set_status("failed", step=self.step_no, error=f"{type(exc).__name__}: {exc}"[:500])
            raise

    def _record(self, names: list[str], means: list[float], n: int, seconds: float) -> dict[str, Any]:
        cfg = self.cfg
        rec: dict[str, Any] = {"step": self.step_no, "epoch": self.step_no / self.steps_per_epoch,
                               "time": round(self.elapsed, 3),
                               "images_per_s": n * cfg.batch_size / max(seconds, 1e-9)}
        rec.update(zip(names, means))
        codes = latent.codes_of(cfg)
        ce = [rec[f"ce_{c.name}"] for c in codes if c.kind == "cat"]
        nll = [rec[f"nll_{c.name}"] for c in codes if c.kind == "cont"]
        rec.update({f"mi_{c.name}": v for c, v in zip(codes, mi_bounds(ce, nll, cfg.cat_codes))})
        return rec

    # ----- outputs -----
    def save_samples(self) -> None:
        """The fixed-noise grid: rows = noise seeds, columns = values of code c1."""
        grid_latent, values = latent.traversal(self.cfg, "c1", list(range(8)),
                                               values=torch.linspace(-1, 1, 8).tolist(),
                                               device=self.device)
        imgs = generate(self.G, self.cfg, grid_latent)
        atomic_write(self.run.path / "samples" / f"step_{self.step_no:06d}.png",
                     png_bytes(imgs, nrow=len(values)))

    def save_checkpoint(self) -> None:
        s = self.step_no
        # resume state first: a weights file on disk always has its state beside it
        save_state(self.run.state_path(s), {
            "step": s, "elapsed": self.elapsed, "opt_d": self.opt_d.state_dict(),
            "opt_g": self.opt_g.state_dict(), "gen": self.gen.get_state()})
        save_weights(self.run.weights_path(s), self.G, self.D, self.cfg, s)
        self.run.prune_checkpoints(self.cfg.keep_checkpoints)
        self.run.set_status(self.run.status().get("state", "running"), checkpoint=s)

    def restore(self) -> int:
        """Load the newest checkpoint that reads cleanly; returns its step."""
        errors = []
        for s in reversed(self.run.checkpoint_steps()):
            try:
                _, _, g, d = load_weights(self.run.weights_path(s))
                st = load_state(self.run.state_path(s))
                self.G.load_state_dict(g)
                self.D.load_state_dict(d)
                self.opt_d.load_state_dict(st["opt_d"])
                self.opt_g.load_state_dict(st["opt_g"])
                self.gen.set_state(st["gen"])
            except (RunError, KeyError, RuntimeError) as exc:
                errors.append(str(exc))
                continue
            self.step_no, self.elapsed = int(st["step"]), float(st["elapsed"])
            self.run.truncate_metrics(self.step_no)
            return self.step_no
        why = f" ({errors[0]})" if errors else ""
        raise RunError(f"run {self.run.name!r} has no usable checkpoint to resume from{why}")


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """Data order depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


@torch.no_grad()
def generate(g: torch.nn.Module, cfg: Config, lat: latent.Latent) -> torch.Tensor:
    """Images in [0, 1] from G in eval mode (BatchNorm running statistics)."""
    was_training = g.training
    g.eval()
    try:
        return to_unit(g(lat.vector(cfg.cat_codes))).cpu()
    finally:
        g.train(was_training)


def train(cfg: Config, name: str | None = None, root: str | None = None,
          stop: threading.Event | None = None, on_log: LogFn | None = None,
          data: ImageData | None = None) -> Run:
    """Create a run folder and train it: the entry point of the CLI."""
    run = Run.create(cfg, name, root)
    train_run(run, stop, on_log, data)
    return run


def train_run(run: Run, stop: threading.Event | None = None, on_log: LogFn | None = None,
              data: ImageData | None = None) -> str:
    """Train an already created run folder (the dashboard creates it first to show it at once)."""
    try:
        trainer = Trainer(run.config(), run, data)
    except Exception as exc:
        run.set_status("failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    return trainer.fit(stop, on_log)


def resume(run: Run, stop: threading.Event | None = None, on_log: LogFn | None = None,
           data: ImageData | None = None) -> Run:
    """Continue a stopped or interrupted run from its newest readable checkpoint."""
    check_resumable(run)
    trainer = Trainer(run.config(), run, data)
    trainer.restore()
    trainer.fit(stop, on_log)
    return run


def extend(run: Run, epochs: int | str) -> Config:
    """Raise a finished or stopped run's budget to `epochs` and mark it resumable.

    Data order depends only on (seed, epoch) and nothing in the loop depends on the budget, so
    training 5 epochs and extending to 10 gives the same model as training 10 at once. The new
    epoch count is the whole budget: a max_steps limit is lifted."""
    status = run.status()
    state = effective_state(status)
    if state in ("queued", "running"):
        raise RunError(f"run {run.name!r} is {state}; stop it before changing its epochs")
    cfg = run.config()
    new = Config.from_dict({**cfg.to_dict(), "epochs": epochs, "max_steps": 0})  # validates, as the form does
    if new.epochs < cfg.epochs or (new.epochs == cfg.epochs and not cfg.max_steps):
        raise RunError(f"run {run.name!r} already has epochs = {cfg.epochs}; ask for more to train it longer")
    write_json(run.path / "config.json", new.to_dict())
    if state == "completed":
        # steps per epoch from the old budget, so progress reads right before the child starts
        per_epoch = 0 if cfg.max_steps else status.get("total_steps", 0) // cfg.epochs
        run.set_status("stopped", **({"total_steps": per_epoch * new.epochs} if per_epoch else {}))
    return new


def check_resumable(run: Run) -> None:
    state = effective_state(run.status())
    if state in ("queued", "running"):
        raise RunError(f"run {run.name!r} is {state}; only stopped, interrupted or failed runs resume")
    if state == "completed":
        raise RunError(f"run {run.name!r} is completed; give it more epochs to train it longer")


def effective_state(status: dict[str, Any]) -> str:
    """'running' written by a process that no longer exists means the run was interrupted."""
    state = status.get("state", "unknown")
    if state in ("running", "queued") and not pid_alive(status.get("pid")):
        return "interrupted"
    return state
