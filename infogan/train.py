"""The InfoGAN training loop, shared by the CLI, the dashboard's jobs and the benchmarks.

One step (as in the original InfoGAN code): sample z and c, generate G(z, c); then
  D step: loss_d + L_info(Q(G(z, c).detach()))  on D's trunk, D's head and Q's head,
  G step: loss_g + L_info(Q(G(z, c)))           on G (D's weights frozen for that pass).
So the information loss trains Q, the shared trunk and G; none of it is lost to a separate
Q optimiser. With lambda_cat_jitter > 0 both steps add the categorical codes' NLL on a jittered
copy of the fakes (augment.py), which keeps those codes on identity rather than pose.
With g_steps > 1 the G step is repeated (InfoGAN-CR trains G twice per iteration). With the
contrastive regulariser on (lambda_cr > 0, from step cr_start; Lin et al. 2020) each iteration
starts with an H step: H learns which code two generated images share, and every G step also
minimises H's cross-entropy (cooperative, not adversarial). Each G step after the first, H's
step and each G step's H term draw latents of their own; with shared_latents one draw of z, c
and pairs feeds them all (InfoGAN-CR's code), and H's step lends its pass of G to the first G step.
With lambda_hessian > 0 the first G step also pays the Hessian penalty on z and the continuous
codes (losses.hessian_penalty), so a factor drawn from several inputs together costs G.
Statistics stay on the device and are read back once per logging interval. Every file the
loop writes goes through the run folder (runs.py)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from . import film, latent, precision
from .augment import jitter
from .config import Config
from .data import DataError, ImageData, load, png_bytes
from .latent import Latent
from .losses import cat_ces, d_loss, g_loss, hessian_penalty, info_loss, mi_bounds
from .models import QOut, build, build_contrast, generate
from .precision import resolve_device
from .runs import Run, RunBusy, RunError

LogFn = Callable[[dict[str, Any]], None]


class LeaseLost(RunBusy):
    """Another process took this trainer's run over; it must not write the folder again."""

USAGE_IMAGES = 256


class Stop(threading.Event):
    """A request to stop after the current step, with a checkpoint, and why: status.json's
    `reason` for the stopped run ("terminated" for a SIGTERM, the dashboard's Stop, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.reason = "stop requested"

    def request(self, reason: str) -> None:
        self.reason = reason
        self.set()


def stop_reason(stop: threading.Event | None) -> str:
    return stop.reason if isinstance(stop, Stop) else "stop requested"


@dataclass
class Nets:
    """What one step updates: G, D with Q's head, their Adam optimisers, and once the
    contrastive regulariser is on, H and its own."""

    G: torch.nn.Module
    D: torch.nn.Module
    opt_d: torch.optim.Optimizer
    opt_g: torch.optim.Optimizer
    H: torch.nn.Module | None = None
    opt_h: torch.optim.Optimizer | None = None


def adam(params: Any, lr: float, cfg: Config, device: torch.device) -> torch.optim.Optimizer:
    """The project's Adam: fused (one kernel per step) where the device has it."""
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=device.type in ("cpu", "cuda"))


def uses_jitter(cfg: Config) -> bool:
    return cfg.lambda_cat_jitter > 0 and bool(cfg.cat_codes)


def jitter_ce(q_jit: list[QOut], c: Latent) -> list[torch.Tensor]:
    """The categorical codes' summed cross-entropy on the jittered fakes ([] when the term is off)."""
    return [sum(cat_ces(q_jit[0], c))] if q_jit else []


def pair_images(nets: Nets, cfg: Config, pairs: tuple[Latent, Latent, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """G's images of a batch of sharing pairs (latent.sharing_pairs), in one pass."""
    a, b, _ = pairs
    return nets.G(torch.cat([a.vector(cfg), b.vector(cfg)])).chunk(2)


def contrast_loss(nets: Nets, images: tuple[torch.Tensor, torch.Tensor], k: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """H's cross-entropy on a batch of pair images whose shared codes are k, and its accuracy."""
    logits = nets.H(*images)
    return F.cross_entropy(logits, k), (logits.argmax(1) == k).float().mean()


def train_step(nets: Nets, x: torch.Tensor, cfg: Config, gen: torch.Generator, precision: str
               ) -> dict[str, torch.Tensor]:
    """One iteration on the real batch x: (with H) an H step, one D step, cfg.g_steps G steps;
    the step's statistics, detached, by name. `precision` is "fp32" or "bf16" (forward passes
    under autocast), never "auto"."""
    b = x.shape[0]
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    stats: dict[str, torch.Tensor] = {}
    fresh = not cfg.shared_latents
    if nets.H is not None:
        # -- Update H: which code do two images share? (G's images as they are: no gradient to G) --
        pairs = latent.sharing_pairs(cfg, b, x.device, gen)
        with autocast:
            # with one draw per step the first G step reuses these images, so G's graph is kept
            with torch.set_grad_enabled(not fresh):
                images = pair_images(nets, cfg, pairs)
            loss_h, acc_h = contrast_loss(nets, (images[0].detach(), images[1].detach()), pairs[2])
        nets.opt_h.zero_grad(set_to_none=True)
        loss_h.backward()
        nets.opt_h.step()
        stats |= {"loss_cr": loss_h, "acc_cr": acc_h}

    c = latent.sample(cfg, b, x.device, gen)
    with autocast:
        fake = nets.G(c.vector(cfg))

        # -- Update D and Q: maximise log D(x) + log(1 - D(G(z, c))), minimise lambda * L_info --
        # real, fake and (with the jitter term) jittered fakes in one stacked pass; Q is never
        # read on real images in training, so its head starts at the fakes (q_from=1)
        jit = [jitter(fake.detach(), gen)] if uses_jitter(cfg) else []
        (real_logit, fake_logit, *_), (q, *q_jit) = nets.D.parts(x, fake.detach(), *jit, q_from=1)
        info_d, _, _ = info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)
        loss_d = d_loss(real_logit, fake_logit)
        loss_d_total = loss_d + info_d + cfg.lambda_cat_jitter * sum(jitter_ce(q_jit, c))
    nets.opt_d.zero_grad(set_to_none=True)
    loss_d_total.backward()
    nets.opt_d.step()

    # -- Update G: maximise log D(G(z, c)) (fakes labelled real), minimise lambda * L_info --
    nets.D.requires_grad_(False)  # gradients flow through D (and H) to G; their own are not needed
    if nets.H is not None:
        nets.H.requires_grad_(False)
    for i in range(cfg.g_steps):
        if i and fresh:  # a further G step on fresh latents
            c = latent.sample(cfg, b, x.device, gen)
        with autocast:
            if i:
                fake = nets.G(c.vector(cfg))
            jit = [jitter(fake, gen)] if uses_jitter(cfg) else []
            (fake_logit_g, *_), (q_g, *q_jit) = nets.D.parts(fake, *jit)
            info_g, ce, nll = info_loss(q_g, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)
            ce_jit = jitter_ce(q_jit, c)
            info_g = info_g + cfg.lambda_cat_jitter * sum(ce_jit)
            loss_g = g_loss(fake_logit_g)
            total_g = loss_g + info_g
            if nets.H is not None:
                if fresh:
                    pairs = latent.sharing_pairs(cfg, b, x.device, gen)
                if fresh or i:  # G has changed since H's step (or the pairs are new)
                    images = pair_images(nets, cfg, pairs)
                total_g = total_g + cfg.lambda_cr * contrast_loss(nets, images, pairs[2])[0]
        if cfg.lambda_hessian and not i:  # once per iteration, as D's update
            hessian = hessian_penalty(nets.G, c.vector(cfg), latent.smooth_inputs(cfg), gen)
            total_g = total_g + cfg.lambda_hessian * hessian
            stats["hessian"] = hessian
        nets.opt_g.zero_grad(set_to_none=True)
        total_g.backward()
        nets.opt_g.step()
    nets.D.requires_grad_(True)
    if nets.H is not None:
        nets.H.requires_grad_(True)

    codes = latent.codes_of(cfg)
    stats |= {"loss_d": loss_d, "loss_g": loss_g, "loss_info": info_g,
              "d_real": torch.sigmoid(real_logit).mean(), "d_fake": torch.sigmoid(fake_logit).mean()}
    stats |= {f"ce_{k.name}": v for k, v in zip((k for k in codes if k.kind == "cat"), ce)}
    stats |= {f"nll_{k.name}": v for k, v in zip((k for k in codes if k.kind == "cont"), nll)}
    if not cfg.fixed_sigma:
        sigma = torch.exp(0.5 * q_g.logvar).mean(0)
        stats |= {f"sigma_{k.name}": sigma[k.index] for k in codes if k.kind == "cont"}
    if ce_jit:
        stats["ce_jitter"] = ce_jit[0]
    return {k: v.detach().float() for k, v in stats.items()}


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """Data order depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class Trainer:
    """The nets, the data on the device and the position in training; writes through `run`."""

    def __init__(self, cfg: Config, run: Run, data: ImageData | None = None):
        self.cfg, self.run = cfg, run
        self.device = resolve_device(cfg.device)
        if cfg.precision == "bf16" and self.device.type not in ("cpu", "cuda"):
            raise RunError(f"precision bf16 runs on cpu and cuda only, not on {self.device.type}")
        torch.manual_seed(cfg.seed)
        self.G, self.D = build(cfg)
        # channels_last suits oneDNN/cuDNN convolutions; fused Adam is one kernel per step
        fmt = torch.channels_last
        self.G.to(self.device, memory_format=fmt)
        self.D.to(self.device, memory_format=fmt)
        self.nets = Nets(self.G, self.D, adam(self.D.parameters(), cfg.lr_d, cfg, self.device),
                         adam(self.G.parameters(), cfg.lr_g, cfg, self.device))
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed)
        data = load(cfg) if data is None else data
        self.images = ImageData(data.images.to(self.device).contiguous(memory_format=fmt))
        self.live = None  # disentanglement while training (live.py), on data with factors
        if cfg.disent_every:
            from .live import LiveScores

            self.live = LiveScores(data, cfg)
        if cfg.batch_size > len(self.images):
            raise DataError(f"batch_size {cfg.batch_size} is larger than the dataset "
                            f"({len(self.images)} images); lower batch_size or subset")
        self.steps_per_epoch = len(self.images) // cfg.batch_size
        self.total_steps = cfg.total_steps(len(self.images))
        self.sample_every, self.film_every, self.ckpt_every = cfg.intervals(self.total_steps)
        self.step_no = 0
        self.elapsed = 0.0
        self.lost: threading.Event | None = None  # set if another process took the run's lease over
        self.usage_index: torch.Tensor | None = None  # the real images code_usage looks at
        # "auto" is settled by a probe when training starts, or by the checkpoint a run resumes from
        self.precision: str | None = None if cfg.precision == "auto" else cfg.precision

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.start_contrast()
        if self.precision is None:
            self.choose_precision()
        return train_step(self.nets, x, self.cfg, self.gen, self.precision)

    def start_contrast(self, now: bool = False) -> None:
        """Switch the contrastive regulariser on once its step is reached: H and its Adam state
        freshly initialised (as the authors do), from the run's seed, so a resumed run makes the
        same H as an uninterrupted one."""
        cfg = self.cfg
        if cfg.lambda_cr == 0 or self.nets.H is not None or (self.step_no < cfg.cr_start and not now):
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            h = build_contrast(cfg).to(self.device, memory_format=torch.channels_last)
        self.nets.H, self.nets.opt_h = h, adam(h.parameters(), cfg.lr_d, cfg, self.device)

    def choose_precision(self) -> str:
        """Settle precision "auto" by timing each candidate on this run's first batches
        (precision.py); the choice and every candidate's images/s go to status.json, and one
        line to stderr (the CLI's first line, the dashboard job's log)."""
        names = precision.candidates(self.device)
        t0 = time.perf_counter()
        if len(names) == 1:
            self.precision, reason, trials = "fp32", precision.sole_reason(self.device), []
        elif precision.probe_steps(len(names)) > precision.MAX_SHARE * self.total_steps:
            self.precision, trials = "fp32", []
            reason = f"fp32: {self.total_steps} steps are too few to pay for a probe"
        else:
            self.run.set_status("running", stage=f"measuring precision: timing {' and '.join(names)} "
                                                 "on the first batches")
            b, n = self.cfg.batch_size, precision.WARMUP + precision.TIMED
            perm = epoch_permutation(self.cfg.seed, 0, len(self.images)).to(self.device)
            batches = [self.images.batch(perm[i * b:(i + 1) * b]) for i in range(min(n, self.steps_per_epoch))]
            trials = precision.measure(train_step, self.nets, batches, self.cfg, self.gen, names)
            self.precision, reason = precision.choose(trials)
        self.run.set_status("running", precision=self.precision, precision_probe=precision.summary(
            trials, self.precision, reason, time.perf_counter() - t0))
        print(f"precision {reason}", file=sys.stderr)
        return self.precision

    # ----- the loop -----
    def fit(self, stop: threading.Event | None = None, on_log: LogFn | None = None, stop_at: int = 0) -> str:
        """Train to the end (or until `stop` is set, or step `stop_at` is done); returns the final state.

        Failures are recorded in status.json with a one-line reason and re-raised."""
        self.run.set_status("running", step=self.step_no, total_steps=self.total_steps, pid=os.getpid(),
                            epoch=self.step_no // self.steps_per_epoch, device=str(self.device),
                            precision=self.precision, sample_every=self.sample_every, film_every=self.film_every,
                            ckpt_every=self.ckpt_every,
                            stage="first steps")
        try:
            self.start_contrast()  # on from step 0: the probe times the step with H
            if self.precision is None:  # before the clock starts: the probe is not training time
                self.choose_precision()
            return self._loop(stop, on_log, stop_at)
        except LeaseLost:
            raise  # the run is another process's now: write nothing
        except Exception as exc:
            self.run.set_status("failed", step=self.step_no, error=f"{type(exc).__name__}: {exc}"[:500])
            raise

    def _loop(self, stop: threading.Event | None, on_log: LogFn | None, stop_at: int) -> str:
        cfg = self.cfg
        names: list[str] = []  # the statistics' names, from the first step
        totals: torch.Tensor | None = None  # their sums over the logging window, on the device
        n, t_window, start = 0, time.perf_counter(), time.perf_counter() - self.elapsed
        perm = None
        try:
            while self.step_no < self.total_steps:
                if self.lost is not None and self.lost.is_set():
                    raise LeaseLost(f"run {self.run.name!r} was taken over by another process at step "
                                    f"{self.step_no} (this one stalled past the lease's stale time); "
                                    "this process stops without writing")
                epoch, pos = divmod(self.step_no, self.steps_per_epoch)
                if perm is None or pos == 0:
                    perm = epoch_permutation(cfg.seed, epoch, len(self.images)).to(self.device)
                stats = self.step(self.images.batch(perm[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]))
                if names and list(stats) != names and n:  # H switched on: the window so far closes here
                    now = time.perf_counter()
                    self.elapsed = now - start
                    self._log_window(dict(zip(names, totals.div(n).tolist())), n, now - t_window, on_log)
                    totals, n, t_window = None, 0, now
                names = names if totals is not None else list(stats)
                vector = torch.stack(list(stats.values()))
                totals = vector if totals is None else totals + vector
                n += 1
                self.step_no += 1
                s, last = self.step_no, self.step_no == self.total_steps
                if s == stop_at and not last:
                    stop = stop if isinstance(stop, Stop) else Stop()
                    stop.request(f"this process's budget of steps (to step {s}) is done")
                stopping = stop is not None and stop.is_set()
                scores = self.live.measure(self.D) if self.live and (s % cfg.disent_every == 0 or last) else {}
                if s % cfg.log_every == 0 or last or stopping or scores:
                    now = time.perf_counter()
                    self.elapsed = now - start
                    self._log_window(dict(zip(names, totals.div(n).tolist())) | scores, n, now - t_window, on_log)
                    totals, n, t_window = None, 0, now
                self.save(samples=s % self.sample_every == 0 or last or stopping,
                          checkpoint=s % self.ckpt_every == 0 or last or stopping, frame=s % self.film_every == 0)
                if stopping:
                    self.run.set_status("stopped", step=s, reason=stop_reason(stop))
                    return "stopped"
        except KeyboardInterrupt:  # a second Ctrl-C or TERM: maybe mid-step, so no checkpoint of this state
            self.run.set_status("stopped", step=(self.run.checkpoint_steps() or [0])[-1],
                                reason="interrupted during a step: resumes from its newest checkpoint")
            return "stopped"
        self.run.set_status("completed", step=self.step_no, finished=time.time())
        return "completed"

    def _log_window(self, means: dict[str, float], n: int, seconds: float, on_log: LogFn | None) -> None:
        """Check the window's mean statistics (read back in one host sync) and append one metrics line."""
        cfg = self.cfg
        rec: dict[str, Any] = {"step": self.step_no, "epoch": self.step_no / self.steps_per_epoch,
                               "time": round(self.elapsed, 3),
                               "images_per_s": n * cfg.batch_size / max(seconds, 1e-9)}
        rec.update(means)
        codes = latent.codes_of(cfg)
        ce = [rec[f"ce_{c.name}"] for c in codes if c.kind == "cat"]
        nll = [rec[f"nll_{c.name}"] for c in codes if c.kind == "cont"]
        rec.update({f"mi_{c.name}": v for c, v in zip(codes, mi_bounds(ce, nll, cfg.cat_codes))})
        bad = [k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"non-finite {bad[0]} at step {self.step_no}; "
                                     "last good checkpoint kept (try lower learning rates)")
        rec.update(self.code_usage())
        self.run.append_metrics([rec])
        self.run.set_status("running", step=self.step_no, epoch=rec["epoch"], elapsed=self.elapsed, stage=None)
        if on_log:
            on_log(rec)

    @torch.no_grad()
    def code_usage(self) -> dict[str, list[float]]:
        """How often Q picks each value of each categorical code on the same USAGE_IMAGES real
        images at every log: a collapsed code shows as an empty bar, two merged values as a doubled
        one, long before the MI bound says so. D sees them as in training (batch statistics of an
        all-real batch); its BatchNorm running averages are put back untouched."""
        codes = [c for c in latent.codes_of(self.cfg) if c.kind == "cat"]
        if not codes:
            return {}
        if self.usage_index is None:
            order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(0))
            self.usage_index = order[:USAGE_IMAGES].to(self.device)
        norms = [m for m in self.D.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        kept = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
        for m in norms:
            m.momentum = 0.0  # running = 1 * running + 0 * batch
        try:
            _, (q,) = self.D.parts(self.images.batch(self.usage_index))
        finally:
            for m, (momentum, tracked) in zip(norms, kept):
                m.momentum = momentum
                m.num_batches_tracked.copy_(tracked)
        n = len(self.usage_index)
        return {f"usage_{c.name}": [round(v / n, 4) for v in
                                    torch.bincount(q.logits[c.index].argmax(1), minlength=c.k).tolist()]
                for c in codes}

    # ----- outputs -----
    def save(self, samples: bool, checkpoint: bool, frame: bool = False) -> None:
        """Write the fixed-noise sample grid, a checkpoint and/or a film frame (every checkpoint
        has one), never from non-finite weights (which would also prune the good checkpoints
        they replace)."""
        if not (samples or checkpoint or frame):
            return
        self._check_finite()
        if samples:
            # rows = noise seeds, columns = values of c1 (pytorch/examples' fixed-noise grid)
            grid, values = latent.traversal(self.cfg, "c1", list(range(8)), values=torch.linspace(-1, 1, 8).tolist(),
                                            device=self.device)
            self.run.save_samples(self.step_no, png_bytes(generate(self.G, self.cfg, grid), nrow=len(values)))
        if checkpoint:
            contrast = {"h": self.nets.H.state_dict(), "opt_h": self.nets.opt_h.state_dict()} if self.nets.H else {}
            self.run.save_checkpoint(self.step_no, self.G, self.D, self.cfg, {
                "step": self.step_no, "elapsed": self.elapsed, "precision": self.precision,
                "opt_d": self.nets.opt_d.state_dict(),
                "opt_g": self.nets.opt_g.state_dict(), "gen": self.gen.get_state(), **contrast})
        if checkpoint or frame:
            film.save(self.run, self.step_no, self.G, self.cfg)

    def _check_finite(self) -> None:
        nets = [("G", self.G), ("D", self.D)] + ([("H", self.nets.H)] if self.nets.H else [])
        tensors = [(f"{net}.{k}", v) for net, m in nets for k, v in m.state_dict().items() if v.is_floating_point()]
        finite = torch.stack([torch.isfinite(v).all() for _, v in tensors])
        if not bool(finite.all()):  # one host sync per save
            name = tensors[int((~finite).nonzero()[0])][0]
            raise FloatingPointError(f"non-finite weights ({name}) at step {self.step_no}; "
                                     "last good checkpoint kept (try lower learning rates)")

    def restore(self) -> int:
        """Load the newest checkpoint whose weights and resume state both read cleanly; returns
        its step. An older one is used when the newest is damaged, and the run says so."""
        errors = []
        for s in self.run.resume_steps():
            try:
                g, d, st = self.run.load_checkpoint(s)
                self.G.load_state_dict(g)
                self.D.load_state_dict(d)
                self.nets.opt_d.load_state_dict(st["opt_d"])
                self.nets.opt_g.load_state_dict(st["opt_g"])
                self.gen.set_state(st["gen"])
                self.nets.H = self.nets.opt_h = None
                if "h" in st:  # past cr_start: H as it was, not a fresh one
                    self.start_contrast(now=True)
                    self.nets.H.load_state_dict(st["h"])
                    self.nets.opt_h.load_state_dict(st["opt_h"])
            except (RunError, RuntimeError, ValueError, TypeError) as exc:
                errors.append(str(exc))
                continue
            if errors:
                print(f"resuming from step {s}: newer checkpoint unusable ({errors[0]})", file=sys.stderr)
            self.step_no, self.elapsed = int(st["step"]), float(st["elapsed"])
            if self.cfg.precision == "auto":  # keep what the probe chose (older states: probe again)
                self.precision = st.get("precision")
            self.run.truncate_metrics(self.step_no)
            return self.step_no
        why = f" ({errors[0]})" if errors else ""
        raise RunError(f"run {self.run.name!r} has no usable checkpoint to resume from{why}")


def train(cfg: Config, name: str | None = None, root: str | None = None,
          stop: threading.Event | None = None, on_log: LogFn | None = None,
          data: ImageData | None = None) -> Run:
    """Create a run folder and train it: the entry point of the CLI."""
    run = Run.create(cfg, name, root)
    train_run(run, stop, on_log, data)
    return run


def train_run(run: Run, stop: threading.Event | None = None, on_log: LogFn | None = None,
              data: ImageData | None = None) -> str:
    """Train an already created run folder (the dashboard creates it first to show it at once),
    holding its lease throughout: RunBusy if another process trains it."""
    with run.lease("train") as held, _ctrl_c_stops(stop) as stop:
        run.set_status("running", pid=os.getpid(), stage="loading data")
        try:
            trainer = Trainer(run.config(), run, data)
        except Exception as exc:
            run.set_status("failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        trainer.lost = held.lost
        return trainer.fit(stop, on_log)


def resume(run: Run, stop: threading.Event | None = None, on_log: LogFn | None = None,
           data: ImageData | None = None, by_sweep: bool = False, steps: int = 0) -> Run:
    """Continue a stopped or interrupted run from its newest readable checkpoint. The lease is
    taken before the check, so a second resume (CLI, dashboard or sweep) is refused, not run
    twice. `by_sweep`: the member's own sweep trial, which its sweep's reservation allows.
    `steps`: at most this many steps in this process, then a stop with a checkpoint (the CLI's
    INFOGAN_SMOKE budget); the run's config keeps its own budget for a later resume."""
    with run.lease("train") as held, _ctrl_c_stops(stop) as stop:
        run.check_resumable(by_sweep)
        run.set_status("running", pid=os.getpid(), stage="loading data")
        trainer = Trainer(run.config(), run, data)
        trainer.restore()
        trainer.lost = held.lost
        trainer.fit(stop, on_log, stop_at=trainer.step_no + steps if steps else 0)
    return run


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event | None) -> Iterator[threading.Event]:
    """In the main thread (the CLI, a dashboard job's process), the first Ctrl-C or SIGTERM asks
    the loop to stop after the step it is in, with a checkpoint, exactly as the dashboard's Stop
    does: a KeyboardInterrupt raised between the D and the G update would save a D one update
    ahead of its step. A second one interrupts at once (the newest checkpoint stays the resume
    point). SIGTERM is taken only where nobody else handles it (a Ray worker does)."""
    stop = stop or Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    signals = [signal.SIGINT] + ([signal.SIGTERM] if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else [])
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def first(sig: int, _: object) -> None:
        print(f"\n{signal.Signals(sig).name}: stopping after this step, with a checkpoint "
              "(again to abandon it)", file=sys.stderr)
        if isinstance(stop, Stop):
            stop.request("terminated" if sig == signal.SIGTERM else "interrupted (Ctrl-C)")
        else:
            stop.set()
        for s in signals:
            signal.signal(s, signal.default_int_handler)

    for sig in signals:
        signal.signal(sig, first)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
