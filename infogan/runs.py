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
  lease/            who trains and who evaluates the run (lease.py), on any machine

Who owns a run is decided here and nowhere else: `Run.lease` (taken by every trainer and
evaluation), `Run.state` (status.json read through the lease: 'running' without a live holder
is 'interrupted'), `Run.check_free` (what refuses resume, rename and delete, naming the host and
pid, or the unfinished sweep a member is reserved by).

Every file is replaced atomically (files.py), so a kill at any moment leaves the previous
version intact, and a write into a folder that is gone fails rather than recreating it. Nothing
here ever unpickles arbitrary objects. Readers (pages, CLI, summary) need only this module."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import lease, schema
from .config import Config, ConfigError
from .files import FileError, atomic_via_temp, atomic_write, read_json, subfolder, version, write_json
from .lease import Holder, pid_alive

STATES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
LIVE = ("queued", "running")  # a process is (or should be) writing the folder
FORMAT = "infogan-explorer/1"
# resume states kept beside the newest weight files: one spare, so a damaged newest pair
# still resumes from the one before (older weight files are kept for evaluation only)
KEEP_STATES = 2
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_NOTE = 5_000  # characters: a paragraph or two, not a document
MAX_TAGS, MAX_TAG = 12, 32
QUEUE_GRACE = 60.0  # seconds a run queued on another host reads queued without its lease
KINDS = {"train": "training", "eval": "evaluation"}  # a run's leases: one trainer, one evaluation
# (folder, kind, thread) -> [Lease, depth]: the leases each thread of this process holds. Per thread:
# two browser tabs are two threads of one server, and must not share a rename's or delete's lease.
_HELD: dict[tuple[str, str, int], list] = {}


class RunError(FileError):
    """A run folder or one of its files cannot be used; the message says which and why."""


class RunBusy(RunError):
    """Another live process holds the run (its lease), or its unfinished sweep reserves it."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("INFOGAN_RUNS") or "checkpoints")


def is_name(name: Any) -> bool:
    """A plain run or sweep name: a folder directly inside the runs root, never a path."""
    return isinstance(name, str) and bool(_NAME.match(name)) and ".." not in name


def check_name(name: str) -> str:
    """Run names become folder names, so only a safe alphabet is accepted (no paths). Names read
    back from files (sweep.json's members, status.json's sweep) pass the same check."""
    if not is_name(name):
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


def _status_spec() -> dict[str, Any]:
    """status.json's fields as its writers write them; a name in it passes `is_name`."""
    name = schema.Check(str, lambda v: None if is_name(v) else f"{v[:40]!r} is not a run or sweep name")
    state = schema.Check(str, lambda v: None if v in STATES else f"{v[:40]!r} is not a run state")
    null = schema.Null
    return {"state": state, "step": schema.INT, "epoch": schema.NUM, "total_steps": schema.INT,
            "attempts": schema.INT, "checkpoint": schema.INT, "pid": schema.INT, "pid_started": null(schema.NUM),
            "host": str, "sweep": null(name), "node": null(str), "nodes": [str], "error": null(str),
            "started": schema.NUM, "updated": schema.NUM, "finished": null(schema.NUM), "resumed_from": [schema.INT],
            "sample_every": schema.INT, "film_every": schema.INT, "ckpt_every": schema.INT, "stage": null(str),
            "reason": null(str)}


STATUS = _status_spec()
EVAL_JOB = {"state": str, "pid": schema.INT, "pid_started": schema.Null(schema.NUM), "host": str,
            "step": (int, str), "metrics": str, "stage": str, "done": schema.NUM, "started": schema.NUM,
            "finished": schema.Null(schema.NUM), "updated": schema.NUM, "error": schema.Null(str)}


def effective_state(status: dict[str, Any], trainer: Holder | None = None) -> str:
    """The state a reader should show: status.json's, unless its writer is gone. `trainer`: the
    run's live train lease holder (lease.holder), the only proof across machines that one trains.

    'running' without a live holder reads 'interrupted'. 'queued' is a promise: a sweep's member
    waits for its sweep (reserved, never interrupted while the sweep exists); a run queued by a
    process on this host (the dashboard, before its child takes the lease) is queued while that
    process lives; from another host, for QUEUE_GRACE seconds."""
    state = status.get("state", "unknown")
    if trainer is not None:
        return state if state in LIVE else "running"
    if state == "running":
        return "interrupted"
    if state == "queued" and not status.get("sweep"):
        if status.get("host", lease.host()) == lease.host():
            return state if pid_alive(status.get("pid"), status.get("pid_started")) else "interrupted"
        return state if time.time() - float(status.get("updated") or 0) < QUEUE_GRACE else "interrupted"
    return state


def sweep_state(path: Path, info: Any = None) -> str | None:
    """A sweep folder's state (None: no such sweep): 'running' while its driver holds the lease,
    'running' in sweep.json without a live driver reads 'interrupted'. `info`: sweep.json as the
    caller already read it."""
    if info is None:
        try:
            info = read_json(path / "sweep.json")
        except FileError:
            return None
    state = info.get("state", "created") if isinstance(info, dict) else None
    if lease.holder(path, "driver") is not None:
        return "running"
    return "interrupted" if state == "running" else state


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


def _conforms(value: Any, spec: Any) -> bool:
    try:
        schema.check(value, spec)
    except schema.SchemaError:
        return False
    return True


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
    def create(cls, cfg: Config, name: str | None = None, root: str | os.PathLike | None = None,
               sweep: str | None = None) -> Run:
        """A new folder, queued: by this process (it or its child trains next), or by `sweep`,
        whose trials will (no pid then: a sweep's member waits for the sweep, not its creator)."""
        name = check_name(name or new_name(cfg))
        path = runs_root(root) / name
        if path.exists():
            raise RunError(f"run {name!r} already exists in {path.parent}")
        path.mkdir(parents=True)
        run = cls(path)
        write_json(path / "config.json", cfg.to_dict())
        run.set_status("queued", step=0, epoch=0, started=time.time(),
                       **({"sweep": sweep} if sweep else {"pid": os.getpid()}))
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
        """status.json, checked (STATUS): a damaged one reads 'unknown' with the reason as its error."""
        try:
            return schema.check(read_json(self.path / "status.json"), STATUS)
        except FileError:
            return {"state": "unknown", "step": 0, "epoch": 0, "error": "status.json missing or unreadable"}
        except schema.SchemaError as exc:
            return {"state": "unknown", "step": 0, "epoch": 0, "error": f"status.json is damaged: {exc}"}

    def set_status(self, state: str, **fields: Any) -> None:
        """Merge `fields` into status.json; a `pid` is stored with its host and start time. An
        unreadable status.json is replaced by what the writer knows, never fatal."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        self._require()
        try:
            st = schema.check(read_json(self.path / "status.json"), STATUS)
        except (FileError, schema.SchemaError):
            st = {}
        if "pid" in fields:
            fields.update(lease.stamp(fields["pid"]))
        st.update(fields, state=state, updated=time.time())
        if state in ("running", "completed", "stopped") and "error" not in fields:
            st.pop("error", None)
        if "reason" not in fields:
            st.pop("reason", None)  # why it stopped: said by the write that stopped it
        if state != "running":
            st.pop("stage", None)  # what a starting trainer is doing
        if state == "running":
            st.pop("finished", None)  # a run trained longer is no longer finished
        write_json(self.path / "status.json", st)

    def _require(self) -> None:
        """Writers call this first: a late write must not recreate a deleted or renamed run."""
        if not self.path.is_dir():
            raise RunError(f"run {self.name!r} no longer exists in {self.path.parent} (deleted or renamed)")

    def subfolder(self, *parts: str) -> Path:
        """A folder inside the run (samples, ckpt, film/step_N), made only while the run exists."""
        try:
            return subfolder(self.path, *parts)
        except FileNotFoundError:
            raise RunError(f"run {self.name!r} no longer exists in {self.path.parent} (deleted or renamed)") from None

    def holder(self, kind: str = "train") -> Holder | None:
        """The live process holding the run's `kind` lease ("train" or "eval"), if any other than
        this one (what this process holds, it may do)."""
        held = _HELD.get((str(self.path.resolve()), kind, threading.get_ident()))
        found = lease.holder(self.path, kind)
        return None if found is None or (held and found.generation == held[0].generation) else found

    def lease(self, kind: str = "train", what: str | None = None) -> contextlib.AbstractContextManager[lease.Lease]:
        """Hold the run's `kind` lease ("train", "eval") while writing it; RunBusy names the holder.
        `what` the holder does, as others will read it (default: training, evaluation)."""
        return hold(self.path, kind, what or KINDS[kind], f"run {self.name!r}")

    def state(self, status: dict[str, Any] | None = None) -> str:
        return effective_state(self.status() if status is None else status, self.holder())

    def is_busy(self) -> bool:
        """A live process (this server's job, a CLI run, another machine's) trains the folder."""
        return self.state() in LIVE

    def resumable(self, status: dict[str, Any] | None = None) -> bool:
        """Stopped, interrupted or failed with a checkpoint to go on from, and not reserved by an
        unfinished sweep (which resumes its own members): what the Train page offers to resume."""
        status = self.status() if status is None else status
        return (self.state(status) in ("stopped", "interrupted", "failed") and bool(self.checkpoint_steps())
                and not self.reserved_by(status))

    def reserved_by(self, status: dict[str, Any] | None = None) -> str | None:
        """The unfinished sweep this run is a member of (its trials alone may train it), if any."""
        name = (self.status() if status is None else status).get("sweep")
        if not is_name(name):
            return None
        state = sweep_state(self.path.parent / name)
        return None if state in (None, "completed") else f"{name} ({state})"

    def check_free(self, what: str, by_sweep: bool = False) -> None:
        """Refuse `what` ("resumed", "deleted", ...) while a live process holds the run or its
        unfinished sweep reserves it (`by_sweep`: the sweep itself asks); the reason names the
        holder's host and pid, or the sweep."""
        for kind in KINDS:
            holder = self.holder(kind)
            if holder is not None:
                verb = "stop it" if holder.what == KINDS["train"] else "wait for it"
                raise RunBusy(f"run {self.name!r} is busy with {holder.describe()}; {verb} before it can be {what}")
        if self.eval_busy():  # a dashboard's evaluation child that has not taken its lease yet
            raise RunBusy(f"run {self.name!r} is being evaluated; wait for it before it can be {what}")
        status = self.status()  # read once; no trainer holds the run (checked above)
        if effective_state(status) == "queued" and not status.get("sweep"):
            raise RunBusy(f"run {self.name!r} is queued to train; wait for it before it can be {what}")
        sweep = None if by_sweep else self.reserved_by(status)
        if sweep:
            raise RunBusy(f"run {self.name!r} is a member of sweep {sweep}; it can be {what} through the sweep, "
                          "or once the sweep has completed")

    def check_resumable(self, by_sweep: bool = False) -> None:
        """`by_sweep`: the caller is the member's own sweep trial (it may resume a queued member)."""
        if not by_sweep:
            self.check_free("resumed")
        state = self.state()
        if state == "running" or (state == "queued" and not by_sweep):
            raise RunBusy(f"run {self.name!r} is {state}; only stopped, interrupted or failed runs resume")
        if state == "completed":
            raise RunError(f"run {self.name!r} is completed; give it more epochs to train it longer")

    def extend(self, epochs: int | str) -> Config:
        """Raise a finished or stopped run's budget to `epochs` and mark it resumable.

        Data order depends only on (seed, epoch) and nothing in the loop depends on the budget,
        so training 5 epochs and extending to 10 gives the same model as training 10 at once.
        The new epoch count is the whole budget: a max_steps limit is lifted."""
        with self.lease("train", "a change of its epochs"):
            self.check_free("given more epochs")
            status = self.status()
            state = self.state(status)
            cfg = self.config()
            new = Config.from_dict({**cfg.to_dict(), "epochs": epochs, "max_steps": 0})  # validates
            if new.epochs < cfg.epochs or (new.epochs == cfg.epochs and not cfg.max_steps):
                raise RunError(f"run {self.name!r} already has epochs = {cfg.epochs}; ask for more to train it longer")
            write_json(self.path / "config.json", new.to_dict())
            if state == "completed":
                # steps per epoch from the old budget, so progress reads right before the child starts
                per_epoch = 0 if cfg.max_steps else status.get("total_steps", 0) // cfg.epochs
                self.set_status("stopped", **({"total_steps": per_epoch * new.epochs} if per_epoch else {}))
        return new

    def rename(self, new: str) -> Run:
        target = self.path.parent / check_name(new)
        with self._exclusive("renamed") as leases:
            if target.exists():
                raise RunError(f"run {new!r} already exists")
            sweep = self.status().get("sweep")
            os.replace(self.path, target)
            for held in leases:  # given back where the folder now is
                held.folder = target
            _member_moved(self.path.parent, sweep, self.name, new)
        return Run(target)

    def delete(self, by_sweep: bool = False) -> None:
        """`by_sweep`: its own sweep deletes it (Sweep.delete), which its reservation allows.

        Only a run folder is ever removed: a plain run name (so directly inside the runs root it
        was opened from), a real folder and not a link, holding a run's config.json or
        status.json (a run whose config was damaged can still go) and no sweep.json. Anything
        else is refused, naming it, and nothing is removed."""
        if not is_name(self.name) or self.path.is_symlink() or (self.path / "sweep.json").exists() \
                or not any((self.path / f).is_file() for f in ("config.json", "status.json")):
            raise RunError(f"{self.path} is not a run folder (a plain run name holding config.json or "
                           "status.json); nothing was deleted")
        with self._exclusive("deleted", by_sweep):
            sweep = self.status().get("sweep")
            shutil.rmtree(self.path)
            _member_moved(self.path.parent, sweep, self.name, None)

    @contextlib.contextmanager
    def _exclusive(self, what: str, by_sweep: bool = False) -> Iterator[list[lease.Lease]]:
        """Both leases held and nothing reserving the run: no trainer or evaluation can start
        on it (from any machine) until the rename or delete is done."""
        self.check_free(what, by_sweep)  # the reason with the remedy; again under the leases, for a race
        doing = "a rename" if what == "renamed" else "a deletion"
        with self.lease("train", doing) as train, self.lease("eval", doing) as ev:
            self.check_free(what, by_sweep)
            yield [train, ev]

    # ----- metrics -----
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        self._require()
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
        atomic_write(self.subfolder("samples") / f"step_{step:06d}.png", png)

    def save_checkpoint(self, step: int, g: torch.nn.Module, d: torch.nn.Module, cfg: Config,
                        resume_state: dict[str, Any]) -> None:
        # resume state first: a weights file on disk always has its state beside it
        self.subfolder("ckpt")
        save_state(self.state_path(step), resume_state)
        save_weights(self.weights_path(step), g, d, cfg, step)
        self.prune_checkpoints(cfg.keep_checkpoints)
        self.set_status("running", checkpoint=step)  # the trainer writes its final state after this

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
        """eval.json, each evaluation in it checked (schema.EVAL); a damaged one raises RunError
        naming the field."""
        p = self.path / "eval.json"
        if not p.exists():
            return None
        raw = _json(p)
        try:
            schema.check(raw, {**schema.EVAL, "by_step": {"*": schema.EVAL}})
            if not all(str(k).isdigit() for k in raw.get("by_step", {})):
                raise schema.SchemaError("by_step: a key is not a step")
        except schema.SchemaError as exc:
            raise RunError(f"{p} is damaged ({exc}); evaluate again to replace it") from None
        return raw

    def eval_result(self, step: int) -> dict[str, Any] | None:
        """The saved evaluation of the checkpoint at `step`, if any."""
        ev = self.eval_results()
        by_step = ev.get("by_step") if isinstance(ev, dict) else None
        res = by_step.get(str(step)) if isinstance(by_step, dict) else None
        return res if isinstance(res, dict) else None

    def save_eval(self, result: dict[str, Any]) -> None:
        """Merge one checkpoint's evaluation into eval.json. Its top level is the evaluation of
        the newest evaluated checkpoint, whichever was evaluated last (the Runs table and `runs`
        read it); entries that are not a step's evaluation are dropped."""
        try:
            previous = read_json(self.path / "eval.json")
        except FileError:
            previous = {}  # an unreadable eval.json is replaced, not fatal
        by_step = previous.get("by_step", {}) if isinstance(previous, dict) else {}
        by_step = {k: v for k, v in by_step.items() if k.isdigit() and _conforms(v, schema.EVAL)} \
            if isinstance(by_step, dict) else {}  # a damaged entry is dropped, the others kept
        by_step[str(result["step"])] = result
        newest = by_step[max(by_step, key=int)]
        self._require()
        write_json(self.path / "eval.json", {**newest, "by_step": by_step})

    def eval_job(self) -> dict[str, Any] | None:
        """The background evaluation's progress file, as written by its process (None: none, or damaged)."""
        try:
            job = read_json(self.path / "eval_job.json")
        except FileError:
            return None
        return job if _conforms(job, EVAL_JOB) else None

    def set_eval_job(self, **fields: Any) -> None:
        """Merge `fields` into eval_job.json; a `pid` is stored with its start time, as in status.json."""
        if "pid" in fields:
            fields.update(lease.stamp(fields["pid"]))
        self._require()
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
        tags = raw.get("tags", [])
        return {"note": check_note(raw.get("note", "")),  # the checks a note and its tags passed when set
                "tags": parse_tags([t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [])}

    def set_notes(self, note: str, tags: str | list[str]) -> None:
        """Validate, then replace notes.json atomically (a bad note changes nothing)."""
        self._require()
        write_json(self.path / "notes.json", {"note": check_note(note), "tags": parse_tags(tags),
                                              "updated": time.time()})

    def eval_busy(self, job: dict[str, Any] | None = None) -> bool:
        """Is an evaluation process at work: one holds the eval lease, or a dashboard here has
        just started one (eval_job.json names its child before the child takes the lease)?
        `job`: eval_job.json already read by the caller."""
        if self.holder("eval") is not None:
            return True
        job = self.eval_job() if job is None else job
        return (bool(job) and job.get("state") == "running" and job.get("host", lease.host()) == lease.host()
                and pid_alive(job.get("pid"), job.get("pid_started")))


@contextlib.contextmanager
def hold(folder: Path, kind: str, what: str, label: str) -> Iterator[lease.Lease]:
    """Hold `folder`'s `kind` lease for `what`; RunBusy names the live holder. Re-entrant in one
    thread (a sweep trial holds a member's lease around the trainer, which takes it too); another
    thread of the same process is refused like any other holder."""
    key = (str(folder.resolve()), kind, threading.get_ident())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield _HELD[key][0]
        finally:
            _HELD[key][1] -= 1
        return
    held = lease.Lease(folder, kind, what)
    try:
        held.acquire()
    except lease.Busy as exc:
        raise RunBusy(f"{label} is busy: {exc}") from None
    except FileNotFoundError:
        raise RunError(f"{label} no longer exists in {folder.parent}") from None
    _HELD[key] = [held, 1]
    try:
        yield held
    finally:
        del _HELD[key]
        held.release()


def _member_moved(root: Path, sweep: Any, old: str, new: str | None) -> None:
    """A completed sweep's member was renamed (`new`) or deleted (None): sweep.json follows (no
    member left pointing at a missing folder), and its ranking, which compared the old members,
    is dropped (rank the sweep again)."""
    if not is_name(sweep) or not (root / sweep / "sweep.json").is_file():
        return  # status.json names no sweep folder of this runs root: nothing to update
    path = root / sweep
    try:
        with hold(path, "driver", f"the update of sweep.json for member {old}", f"sweep {sweep!r}"):
            info = read_json(path / "sweep.json")
            members = [m if m.get("name") != old else {**m, "name": new} for m in info["members"] if
                       new is not None or m.get("name") != old]
            write_json(path / "sweep.json", {**info, "members": members, "selection": None, "updated": time.time()})
    except (FileError, KeyError, TypeError, AttributeError):  # RunError, RunBusy are FileErrors
        pass  # no such sweep (any more), or not a sweep file: nothing points at the member


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
                   if p.is_dir() and is_name(p.name) and not (p / "sweep.json").exists()),
                  key=lambda r: r.name)


def newest_run(runs: list[Run]) -> Run | None:
    """The run whose status.json changed last: the one training now or the last to finish, which
    is what someone opening the dashboard most likely came to see (names order the picker). A run
    without a readable status.json counts as oldest."""
    def changed(run: Run) -> int:
        try:
            return version(run.path / "status.json")[0]
        except OSError:
            return 0

    return max(runs, key=changed, default=None)
