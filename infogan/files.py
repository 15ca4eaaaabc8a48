"""Atomic file writes and JSON reading. Imports nothing of the package, so every module
(config, data, runs) can use it without an import circle.

Every write goes to a temp file in the same folder, is fsynced, then renamed over the target:
a kill at any moment leaves either the old or the new file, never a torn one. No write creates
a folder: a late write (a lease's heartbeat, a film panel) into a run folder that was deleted or
renamed meanwhile fails with FileNotFoundError instead of bringing the folder back. Folders are
made on purpose, by `subfolder` below an existing one, or by the caller."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class FileError(Exception):
    """A file is missing or unreadable; the message names it and says why."""


def subfolder(base: Path, *parts: str) -> Path:
    """`base/parts...`, made one level at a time below `base`, which must exist: a writer that
    outlives its run folder gets FileNotFoundError, never a new folder of that name."""
    path = Path(base)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    for part in parts:
        path = path / part
        path.mkdir(exist_ok=True)
    return path


def atomic_write(path: Path, data: bytes) -> None:
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


def atomic_via_temp(path: Path, writer: Callable[[str], None]) -> None:
    """For libraries that write to a filename (safetensors, torch.save): a temp name that
    carries the writer's pid, so a later writer can tell a dead process's leftovers."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        writer(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def version(path: Path) -> tuple[int, int, int]:
    """What tells one content of a file from the next, for caches: its mtime alone does not (two
    writes within one timestamp tick share it); an atomic replace also changes the inode."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2).encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileError(f"{path} is missing") from None
    except IsADirectoryError:
        raise FileError(f"{path} is a folder, not a JSON file") from None
    except UnicodeDecodeError as exc:
        bad = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise FileError(f"{path} is not UTF-8 text ({bad})") from None
    except ValueError as exc:  # JSONDecodeError, or a number too long for Python to read
        raise FileError(f"{path} is not valid JSON ({str(exc).splitlines()[0][:200]})") from None
