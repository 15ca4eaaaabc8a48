"""Run folders: the files that connect a training job to every reader, and the run's lifecycle.

checkpoints/<run>/
  config.json     the validated Config
  status.json     state, step, epoch, times, error, the writing process (pid + start time)
  metrics.jsonl   one JSON object per logged step (append-only; a torn tail is skipped)
  samples/step_NNNNNN.png
  ckpt/step_NNNNNN.safetensors   G and D/Q weights, config in the metadata
  ckpt/step_NNNNNN.pt            optimiser + RNG state for resume, loaded weights_only
  eval.json       evaluation results, by checkpoint step
  eval_job.json   the background evaluation in progress (stage, pid), when there is one
  notes.json      the user's note and tags (notes below)
  film/step_NNNNNN/  the checkpoint's fixed panel of pictures (film.py)

Every file is replaced atomically (files.py), so a kill at any moment leaves the previous
version intact. Nothing here ever unpickles arbitrary objects. Readers (pages, CLI, summary)
need only this module: what state a run is in, whether it can resume, rename or delete."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import Config, ConfigError
from .files import FileError, atomic_via_temp, atomic_write, read_json, write_json

STATES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
LIVE = ("queued", "running")  # a process is (or should be) writing the folder
FORMAT = "infogan-explorer/1"
# resume states kept beside the newest weight files: one spare, so a damaged newest pair
# still resumes from the one before (older weight files are kept for evaluation only)
KEEP_STATES = 2
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_NOTE = 5_000  # characters: a paragraph or two, not a document
MAX_TAGS, MAX_TAG = 12, 32


class RunError(FileError):
    """A run folder or one of its files cannot be used; the message says which and why."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("INFOGAN_RUNS") or "checkpoints")


def check_name(name: str) -> str:
    """Run names become folder names, so only a safe alphabet is accepted (no paths)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise RunError(f"invalid run name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit")
    return name


def new_name(cfg: Config, prefix: str = "", seed: bool = True) -> str:
    """dataset-time-sSEED (a run), or with prefix "sweep-" and no seed (a sweep)."""
    ds = re.sub(r"[^A-Za-z0-9]+", "-", cfg.dataset.split("/")[-1]).strip("-") or "data"
    return f"{prefix}{ds}-{time.strftime('%Y%m%d-%H%M%S')}" + (f"-s{cfg.seed}" if seed else "")


# ----- processes -----
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


def child_pythonpath() -> str:
    """PYTHONPATH for a child process that must import this package (installed or run from a
    checkout): the package's folder first, the caller's entries after it, none twice."""
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _PACKAGE_PARENT]
    return os.pathsep.join([_PACKAGE_PARENT, *rest])


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None if there is none."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def pid_alive(pid: Any, started: Any = None) -> bool:
    """Is the process that wrote `pid` (and, when given, started at `started`) still running?

    The start time tells a reused pid from the original writer: after a reboot or a long
    uptime a new process can get the same number. A zombie has finished its work."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        created, zombie = proc.create_time(), proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process still exists
        return True
    if zombie:
        return False
    return not isinstance(started, (int, float)) or abs(created - started) < 1.0


def effective_state(status: dict[str, Any]) -> str:
    """'running' written by a process that no longer exists means the run was interrupted."""
    state = status.get("state", "unknown")
    if state in LIVE and not pid_alive(status.get("pid"), status.get("pid_started")):
        return "interrupted"
    return state


def _json(path: Path) -> Any:
    try:
        return read_json(path)
    except FileError as exc:
        raise RunError(str(exc)) from None


# ----- checkpoints -----
def save_weights(path: Path, g: torch.nn.Module, d: torch.nn.Module, cfg: Config, step: int) -> None:
    tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in g.state_dict().items()}
    tensors |= {f"D.{k}": v.detach().cpu().contiguous() for k, v in d.state_dict().items()}
    meta = {"format": FORMAT, "config": cfg.to_json(), "step": str(step), "sha256": _digest(tensors)}
    atomic_via_temp(path, lambda p: save_file(tensors, p, metadata=meta))


def load_weights(path: Path) -> tuple[Config, int, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """-> (config, step, G state dict, D state dict); a bad file raises RunError naming it."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise RunError(f"checkpoint {path} is missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RunError(f"checkpoint {path} is unreadable or corrupt ({_short(exc)})") from None
    if meta.get("format") != FORMAT:
        raise RunError(f"checkpoint {path} was not written by InfoGAN Explorer")
    if meta.get("sha256") != _digest(tensors):
        raise RunError(f"checkpoint {path} is corrupt (checksum mismatch)")
    try:
        cfg = Config.from_saved(json.loads(meta["config"]))
        step = int(meta["step"])
    except (KeyError, ValueError, ConfigError) as exc:
        raise RunError(f"checkpoint {path} has bad metadata ({_short(exc)})") from None
    g = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
    d = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
    return cfg, step, g, d


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    """safetensors has no checksum of its own; this one catches flipped bits in the data."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_state(path: Path, state: dict[str, Any]) -> None:
    atomic_via_temp(path, lambda p: torch.save(state, p))


def load_state(path: Path) -> dict[str, Any]:
    """Resume state: tensors and plain containers only (weights_only=True refuses pickles)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"resume state {path} is missing") from None
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise RunError(f"resume state {path} is unreadable or unsafe ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


# ----- the run folder -----
@dataclass
class Run:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, cfg: Config, name: str | None = None, root: str | os.PathLike | None = None) -> Run:
        name = check_name(name or new_name(cfg))
        path = runs_root(root) / name
        if path.exists():
            raise RunError(f"run {name!r} already exists in {path.parent}")
        path.mkdir(parents=True)
        run = cls(path)
        write_json(path / "config.json", cfg.to_dict())
        run.set_status("queued", step=0, epoch=0, started=time.time(), pid=os.getpid())
        return run

    @classmethod
    def open(cls, name: str, root: str | os.PathLike | None = None) -> Run:
        path = runs_root(root) / check_name(name)
        if not (path / "config.json").is_file():
            raise RunError(f"no run named {name!r} in {path.parent}")
        return cls(path)

    def config(self) -> Config:
        try:
            return Config.from_saved(_json(self.path / "config.json"))
        except ConfigError as exc:
            raise RunError(f"{self.path / 'config.json'} is invalid: {exc}") from None

    # ----- status and lifecycle -----
    def status(self) -> dict[str, Any]:
        try:
            st = read_json(self.path / "status.json")
        except FileError:
            return {"state": "unknown", "step": 0, "epoch": 0, "error": "status.json missing or unreadable"}
        return st if isinstance(st, dict) else {"state": "unknown", "step": 0, "epoch": 0}

    def set_status(self, state: str, **fields: Any) -> None:
        """Merge `fields` into status.json; a `pid` is stored with its process's start time."""
        assert state in STATES, state
        st = self.status() if (self.path / "status.json").exists() else {}
        if "pid" in fields:
            fields["pid_started"] = process_started(fields["pid"])
        st.update(fields, state=state, updated=time.time())
        if state in ("running", "completed", "stopped") and "error" not in fields:
            st.pop("error", None)
        if state == "running":
            st.pop("finished", None)  # a run trained longer is no longer finished
        write_json(self.path / "status.json", st)

    def state(self) -> str:
        return effective_state(self.status())

    def is_busy(self) -> bool:
        """A live process (this server's job, a CLI run, another server's) writes the folder."""
        return self.state() in LIVE

    def check_resumable(self) -> None:
        state = self.state()
        if state in LIVE:
            raise RunError(f"run {self.name!r} is {state}; only stopped, interrupted or failed runs resume")
        if state == "completed":
            raise RunError(f"run {self.name!r} is completed; give it more epochs to train it longer")

    def extend(self, epochs: int | str, max_steps: int = 0) -> Config:
        """Raise a finished or stopped run's budget to `epochs` and mark it resumable.

        Data order depends only on (seed, epoch) and nothing in the loop depends on the budget,
        so training 5 epochs and extending to 10 gives the same model as training 10 at once.
        The new epoch count is the whole budget: a max_steps limit is lifted, or replaced by
        `max_steps` (the CLI's tiny INFOGAN_SMOKE budget)."""
        status = self.status()
        state = effective_state(status)
        if state in LIVE:
            raise RunError(f"run {self.name!r} is {state}; stop it before changing its epochs")
        cfg = self.config()
        new = Config.from_dict({**cfg.to_dict(), "epochs": epochs, "max_steps": max_steps})  # validates, as forms do
        if new.epochs < cfg.epochs or (new.epochs == cfg.epochs and not cfg.max_steps):
            raise RunError(f"run {self.name!r} already has epochs = {cfg.epochs}; ask for more to train it longer")
        write_json(self.path / "config.json", new.to_dict())
        if state == "completed":
            # steps per epoch from the old budget, so progress reads right before the child starts
            per_epoch = 0 if cfg.max_steps else status.get("total_steps", 0) // cfg.epochs
            self.set_status("stopped", **({"total_steps": per_epoch * new.epochs} if per_epoch else {}))
        return new

    def rename(self, new: str) -> Run:
        self._refuse_if_busy("renamed")
        target = self.path.parent / check_name(new)
        if target.exists():
            raise RunError(f"run {new!r} already exists")
        os.replace(self.path, target)
        return Run(target)

    def delete(self) -> None:
        self._refuse_if_busy("deleted")
        shutil.rmtree(self.path)

    def _refuse_if_busy(self, what: str) -> None:
        status = self.status()
        if effective_state(status) in LIVE:
            raise RunError(f"run {self.name!r} is training (pid {status.get('pid')}); stop it before it can be {what}")
        if self.eval_busy():
            raise RunError(f"run {self.name!r} is being evaluated; wait for it before it can be {what}")

    # ----- metrics -----
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())

    def metrics(self) -> tuple[list[dict[str, Any]], int]:
        """-> (records, number of skipped lines). A torn or garbage line is skipped, not fatal."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return [], 0
        good, bad = [], 0
        for line in path.read_bytes().decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(rec, dict) and isinstance(rec.get("step"), int):
                good.append(rec)
            else:
                bad += 1
        return good, bad

    def truncate_metrics(self, last_step: int) -> None:
        """Drop records logged after `last_step` (the checkpoint we resume from)."""
        keep, _ = self.metrics()
        text = "".join(json.dumps(r) + "\n" for r in keep if r["step"] <= last_step)
        atomic_write(self.path / "metrics.jsonl", text.encode())

    # ----- checkpoints and samples -----
    def checkpoint_steps(self) -> list[int]:
        return sorted(int(p.stem[5:]) for p in (self.path / "ckpt").glob("step_*.safetensors")
                      if p.stem[5:].isdigit())

    def weights_path(self, step: int) -> Path:
        return self.path / "ckpt" / f"step_{step:06d}.safetensors"

    def state_path(self, step: int) -> Path:
        return self.path / "ckpt" / f"step_{step:06d}.pt"

    def sample_paths(self) -> list[Path]:
        return sorted((self.path / "samples").glob("step_*.png"))

    def save_samples(self, step: int, png: bytes) -> None:
        atomic_write(self.path / "samples" / f"step_{step:06d}.png", png)

    def save_checkpoint(self, step: int, g: torch.nn.Module, d: torch.nn.Module, cfg: Config,
                        resume_state: dict[str, Any]) -> None:
        # resume state first: a weights file on disk always has its state beside it
        save_state(self.state_path(step), resume_state)
        save_weights(self.weights_path(step), g, d, cfg, step)
        self.prune_checkpoints(cfg.keep_checkpoints)
        self.set_status(self.status().get("state", "running"), checkpoint=step)

    def resume_steps(self) -> list[int]:
        """Steps with both weights and a resume state, newest first: where training can go on."""
        return [s for s in reversed(self.checkpoint_steps()) if self.state_path(s).is_file()]

    def load_checkpoint(self, step: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
        """-> (G state dict, D state dict, resume state); RunError names the bad file."""
        _, _, g, d = load_weights(self.weights_path(step))
        st = load_state(self.state_path(step))
        missing = {"step", "elapsed", "opt_d", "opt_g", "gen"} - set(st if isinstance(st, dict) else ())
        if missing:
            raise RunError(f"resume state {self.state_path(step)} lacks {', '.join(sorted(missing))}")
        return g, d, st

    def prune_checkpoints(self, keep: int) -> None:
        """Keep the newest `keep` weight files, resume states for the newest KEEP_STATES of
        them, and remove temp files left by processes killed mid-write."""
        steps = self.checkpoint_steps()
        for s in steps[:-keep]:
            self.weights_path(s).unlink(missing_ok=True)
        with_state = {self.state_path(s) for s in steps[-KEEP_STATES:]}
        for p in (self.path / "ckpt").glob("step_*.pt"):
            if p not in with_state:
                p.unlink(missing_ok=True)
        for p in (self.path / "ckpt").glob(".*.tmp"):
            pid = p.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not pid_alive(int(pid)):
                p.unlink(missing_ok=True)

    # ----- evaluation -----
    def eval_results(self) -> dict[str, Any] | None:
        p = self.path / "eval.json"
        return _json(p) if p.exists() else None

    def eval_result(self, step: int) -> dict[str, Any] | None:
        """The saved evaluation of the checkpoint at `step`, if any."""
        ev = self.eval_results()
        by_step = ev.get("by_step") if isinstance(ev, dict) else None
        res = by_step.get(str(step)) if isinstance(by_step, dict) else None
        return res if isinstance(res, dict) else None

    def save_eval(self, result: dict[str, Any]) -> None:
        """Merge one checkpoint's evaluation into eval.json (the newest also at the top level)."""
        try:
            previous = self.eval_results() or {}
        except RunError:
            previous = {}  # an unreadable eval.json is replaced, not fatal
        by_step = previous.get("by_step", {}) if isinstance(previous, dict) else {}
        by_step[str(result["step"])] = result
        write_json(self.path / "eval.json", {**result, "by_step": by_step})

    def eval_job(self) -> dict[str, Any] | None:
        """The background evaluation's progress file, as written by its process."""
        try:
            job = read_json(self.path / "eval_job.json")
        except FileError:
            return None
        return job if isinstance(job, dict) else None

    def set_eval_job(self, **fields: Any) -> None:
        """Merge `fields` into eval_job.json; a `pid` is stored with its start time, as in status.json."""
        if "pid" in fields:
            fields["pid_started"] = process_started(fields["pid"])
        write_json(self.path / "eval_job.json", {**(self.eval_job() or {}), **fields, "updated": time.time()})

    # ----- notes -----
    def notes(self) -> dict[str, Any]:
        """{"note": str, "tags": [str]}; empty when there is no notes.json. A damaged file raises
        RunError naming it (the runs table shows the reason and keeps the run)."""
        path = self.path / "notes.json"
        try:
            if path.stat().st_size > 4 * MAX_NOTE + 4096:  # UTF-8 and JSON escapes stay well under
                raise RunError(f"{path} is too large to be notes ({path.stat().st_size:,} bytes)")
        except FileNotFoundError:
            return {"note": "", "tags": []}
        raw = _json(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("note", ""), str):
            raise RunError(f"{path} is not a notes file (expected {{'note': text, 'tags': [text]}})")
        return {"note": raw.get("note", ""), "tags": [str(t) for t in raw.get("tags", []) if isinstance(t, str)]}

    def set_notes(self, note: str, tags: str | list[str]) -> None:
        """Validate, then replace notes.json atomically (a bad note changes nothing)."""
        write_json(self.path / "notes.json", {"note": check_note(note), "tags": parse_tags(tags),
                                              "updated": time.time()})

    def eval_busy(self, job: dict[str, Any] | None = None) -> bool:
        """Is an evaluation process at work? `job`: eval_job.json already read by the caller."""
        job = self.eval_job() if job is None else job
        return bool(job) and job.get("state") == "running" and pid_alive(job.get("pid"), job.get("pid_started"))


def parse_tags(text: str | list[str] | None) -> list[str]:
    """Tags from "a, b" (the table's cell) or a list: trimmed, empty ones dropped, no repeats."""
    items = text.split(",") if isinstance(text, str) else list(text or [])
    tags = list(dict.fromkeys(str(t).strip() for t in items if str(t).strip()))
    if len(tags) > MAX_TAGS:
        raise RunError(f"{len(tags)} tags; at most {MAX_TAGS} per run")
    for t in tags:
        if len(t) > MAX_TAG or any(ch in t for ch in "\n\r\t"):
            raise RunError(f"tag {t[:40]!r}: at most {MAX_TAG} characters on one line")
    return tags


def check_note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise RunError(f"the note has {len(note):,} characters; at most {MAX_NOTE:,} are kept per run")
    return note


def list_runs(root: str | os.PathLike | None = None) -> list[Run]:
    base = runs_root(root)
    if not base.is_dir():
        return []
    # a sweep's folder (sweep.json, sweeps.py) is not a run; its members are
    return sorted((Run(p) for p in base.iterdir()
                   if p.is_dir() and _NAME.match(p.name) and not (p / "sweep.json").exists()),
                  key=lambda r: r.name)
