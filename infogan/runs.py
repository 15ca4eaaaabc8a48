"""Run folders: the files that connect a training job to every reader.

checkpoints/<run>/
  config.json     the validated Config
  status.json     state, step, epoch, times, error
  metrics.jsonl   one JSON object per logged step (append-only; a torn tail is skipped)
  samples/step_NNNNNN.png
  ckpt/step_NNNNNN.safetensors   G and D/Q weights, config in the metadata
  ckpt/step_NNNNNN.pt            optimiser + RNG state for resume, loaded weights_only
  eval.json       evaluation results

Every file is replaced atomically (temp file, fsync, os.replace), so a kill at any moment
leaves the previous version intact. Nothing here ever unpickles arbitrary objects."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import Config, ConfigError

STATES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
FORMAT = "infogan-explorer/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunError(Exception):
    """A run folder or one of its files cannot be used; the message says which and why."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("INFOGAN_RUNS") or "checkpoints")


def check_name(name: str) -> str:
    """Run names become folder names, so only a safe alphabet is accepted (no paths)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise RunError(f"invalid run name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit")
    return name


def new_name(cfg: Config) -> str:
    ds = re.sub(r"[^A-Za-z0-9]+", "-", cfg.dataset.split("/")[-1]).strip("-") or "data"
    return f"{ds}-{time.strftime('%Y%m%d-%H%M%S')}-s{cfg.seed}"


# ----- atomic files -----
def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide run files from other users of a shared folder
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2).encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON ({exc})") from None


def pid_alive(pid: Any) -> bool:
    """Signal 0 probes a process without touching it; one owned by another user still exists."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _atomic_via_temp(path: Path, writer) -> None:
    """For libraries that write to a filename: write a temp name, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        writer(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ----- checkpoints -----
def save_weights(path: Path, g: torch.nn.Module, d: torch.nn.Module, cfg: Config, step: int) -> None:
    tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in g.state_dict().items()}
    tensors |= {f"D.{k}": v.detach().cpu().contiguous() for k, v in d.state_dict().items()}
    meta = {"format": FORMAT, "config": cfg.to_json(), "step": str(step), "sha256": _digest(tensors)}
    _atomic_via_temp(path, lambda p: save_file(tensors, p, metadata=meta))


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
    _atomic_via_temp(path, lambda p: torch.save(state, p))


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
            return Config.from_saved(read_json(self.path / "config.json"))
        except ConfigError as exc:
            raise RunError(f"{self.path / 'config.json'} is invalid: {exc}") from None

    def status(self) -> dict[str, Any]:
        try:
            st = read_json(self.path / "status.json")
        except RunError:
            return {"state": "unknown", "step": 0, "epoch": 0, "error": "status.json missing or unreadable"}
        return st if isinstance(st, dict) else {"state": "unknown", "step": 0, "epoch": 0}

    def set_status(self, state: str, **fields: Any) -> None:
        assert state in STATES, state
        st = self.status() if (self.path / "status.json").exists() else {}
        st.update(fields, state=state, updated=time.time())
        if state in ("running", "completed", "stopped") and "error" not in fields:
            st.pop("error", None)
        if state == "running":
            st.pop("finished", None)  # a run trained longer is no longer finished
        write_json(self.path / "status.json", st)

    # metrics
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

    # checkpoints and samples
    def checkpoint_steps(self) -> list[int]:
        return sorted(int(p.stem[5:]) for p in (self.path / "ckpt").glob("step_*.safetensors")
                      if p.stem[5:].isdigit())

    def weights_path(self, step: int) -> Path:
        return self.path / "ckpt" / f"step_{step:06d}.safetensors"

    def state_path(self, step: int) -> Path:
        return self.path / "ckpt" / f"step_{step:06d}.pt"

    def sample_paths(self) -> list[Path]:
        return sorted((self.path / "samples").glob("step_*.png"))

    def prune_checkpoints(self, keep: int) -> None:
        """Keep the newest `keep` weight files and only the newest resume state."""
        steps = self.checkpoint_steps()
        for s in steps[:-keep]:
            self.weights_path(s).unlink(missing_ok=True)
        for p in (self.path / "ckpt").glob("step_*.pt"):
            if p != self.state_path(steps[-1]):
                p.unlink(missing_ok=True)
        for p in (self.path / "ckpt").glob(".*.tmp"):  # left by a process killed mid-write
            pid = p.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not pid_alive(int(pid)):
                p.unlink(missing_ok=True)

    def eval_results(self) -> dict[str, Any] | None:
        p = self.path / "eval.json"
        return read_json(p) if p.exists() else None


def list_runs(root: str | os.PathLike | None = None) -> list[Run]:
    base = runs_root(root)
    if not base.is_dir():
        return []
    return sorted((Run(p) for p in base.iterdir() if p.is_dir() and _NAME.match(p.name)),
                  key=lambda r: r.name)


def delete_run(run: Run) -> None:
    shutil.rmtree(run.path)


def rename_run(run: Run, new: str) -> Run:
    target = run.path.parent / check_name(new)
    if target.exists():
        raise RunError(f"run {new!r} already exists")
    os.replace(run.path, target)
    return Run(target)
