"""Leases: who may write a folder (a run, a sweep), valid across machines that share it.

A lease is one small JSON file per generation, `<folder>/lease/<kind>.<generation>.json`,
recording the holder's host, pid, process start time and a heartbeat the holder renews every
`PERIOD` seconds. The newest generation is the lease; a claimant creates generation n + 1 with
`os.link` of a fully written temp file, which fails when that name exists (atomic on local
filesystems and on NFS, unlike O_EXCL on old NFS clients). So two claimants that both found
generation n dead try the same name and exactly one wins; a winner that finds a newer generation
than its own after linking (it had read an old listing) gives up. This is also how a stale
lease is taken over: no one deletes another's lease, they outnumber it.

Live means: on this host, the holder's process exists (pid and start time, so a reused pid does
not count); from another host, where pids mean nothing, the heartbeat is under `STALE` seconds
old. Hosts sharing a folder must agree on the time to within a few seconds (NTP, as a Ray cluster
needs anyway). Imports nothing of the package but files.py."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from .files import write_json

PERIOD = 2.0  # seconds between heartbeats
STALE = 3 * PERIOD  # a heartbeat older than this, from another host, is a dead holder's


class Busy(Exception):
    """The lease is held by a live process; `holder` says whose."""

    def __init__(self, holder: Holder):
        super().__init__(f"held by {holder.describe()}")
        self.holder = holder


def host() -> str:
    return socket.gethostname()


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None if there is none."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def stamp(pid: int) -> dict[str, Any]:
    """What a file that names a process records beside its pid (status.json, eval_job.json,
    sweep.json): its start time (a reused pid is told apart) and host (a pid means nothing on
    another machine)."""
    return {"pid_started": process_started(pid), "host": host()}


def pid_alive(pid: Any, started: Any = None) -> bool:
    """Is the process `pid` (and, when given, the one started at `started`) still running here?

    The start time tells a reused pid from the original: after a reboot or a long uptime a new
    process can get the same number. A zombie has finished its work."""
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


@dataclass(frozen=True)
class Holder:
    """One generation's record."""

    generation: int
    host: str
    pid: int
    started: float | None
    heartbeat: float
    what: str
    released: bool = False

    def live(self) -> bool:
        if self.released:
            return False
        if self.host == host():
            return pid_alive(self.pid, self.started)
        return time.time() - self.heartbeat < STALE

    def describe(self) -> str:
        where = "this host" if self.host == host() else f"host {self.host}"
        return f"{self.what} (pid {self.pid} on {where})"


def _files(folder: Path, kind: str) -> list[tuple[int, Path]]:
    try:
        names = os.listdir(folder / "lease")
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names:
        stem, _, gen = name.removesuffix(".json").rpartition(".")
        if stem == kind and name.endswith(".json") and gen.isdigit():
            out.append((int(gen), folder / "lease" / name))
    return sorted(out)


def _read(gen: int, path: Path) -> Holder | None:
    try:
        raw = json.loads(path.read_text())
        return Holder(gen, str(raw["host"]), int(raw["pid"]), raw.get("started"), float(raw["heartbeat"]),
                      str(raw.get("what", "")), bool(raw.get("released")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):  # damaged: its writer cannot be told alive
        return Holder(gen, "?", 0, None, 0.0, "an unreadable lease", released=True)


def newest(folder: Path, kind: str) -> Holder | None:
    """The newest generation's record, live or not (None: never leased)."""
    for gen, path in reversed(_files(folder, kind)):
        record = _read(gen, path)
        if record is not None:
            return record
    return None


def holder(folder: Path, kind: str) -> Holder | None:
    """The live holder of the lease, or None when it is free."""
    record = newest(folder, kind)
    return record if record is not None and record.live() else None


class Lease:
    """Hold `folder`'s `kind` lease: `with Lease(folder, "train", "training"):`. A thread renews
    it every PERIOD seconds; `lost` is set if another process took it over (this process paused
    past STALE, or a clock jumped), and the holder must then stop writing."""

    def __init__(self, folder: Path, kind: str, what: str):
        self.folder, self.kind, self.what = Path(folder), kind, what
        self.generation: int | None = None
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self, **extra: Any) -> dict[str, Any]:
        pid = os.getpid()
        return {"host": host(), "pid": pid, "started": process_started(pid), "heartbeat": time.time(),
                "what": self.what, **extra}

    def _path(self, gen: int) -> Path:
        return self.folder / "lease" / f"{self.kind}.{gen:08d}.json"

    def acquire(self) -> Lease:
        """Take the lease or raise Busy naming the live holder."""
        (self.folder / "lease").mkdir(exist_ok=True)
        while True:
            files = _files(self.folder, self.kind)
            top = _read(*files[-1]) if files else None
            if top is not None and top.live():
                raise Busy(top)
            gen = files[-1][0] + 1 if files else 1
            tmp = self.folder / "lease" / f".{self.kind}.{os.getpid()}.{threading.get_ident()}.tmp"
            write_json(tmp, self._record())
            try:
                os.link(tmp, self._path(gen))
            except FileExistsError:
                continue  # another claimant took this generation: read it again
            finally:
                tmp.unlink(missing_ok=True)
            if _files(self.folder, self.kind)[-1][0] != gen:  # we had read an old listing
                self._path(gen).unlink(missing_ok=True)
                continue
            self.generation = gen
            for old, path in _files(self.folder, self.kind):
                if old < gen:
                    path.unlink(missing_ok=True)
            self._thread = threading.Thread(target=self._beat, name=f"lease-{self.kind}", daemon=True)
            self._thread.start()
            return self

    def renew(self) -> bool:
        """Rewrite the heartbeat if the lease is still ours; False (and `lost` set) if not."""
        files = _files(self.folder, self.kind)
        if not files or files[-1][0] != self.generation:
            self.lost.set()
            return False
        write_json(self._path(self.generation), self._record())
        return True

    def _beat(self) -> None:
        while not self._done.wait(PERIOD):
            try:
                if not self.renew():
                    return
            except OSError:  # a shared folder briefly unreachable: try again next period
                continue

    def release(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self.generation is not None and not self.lost.is_set():
            files = _files(self.folder, self.kind)
            if files and files[-1][0] == self.generation:
                with contextlib.suppress(OSError):  # the folder is gone: nothing to release
                    write_json(self._path(self.generation), self._record(released=True))
        self.generation = None

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
