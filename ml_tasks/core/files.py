"""Files written whole or not at all: configuration, suites, specs and generated secrets.

A process killed while writing in place leaves a truncated file: an empty secret every later
start reads as the key, a suite cut mid-JSON that fails every gate. Both writers here write a
temporary file in the same folder, flush it to disk, then put it in place with one atomic
operation (``os.replace``, or ``os.link`` when the file must not exist yet), and flush the folder
so the new name survives a crash too. A reader sees the old file or the new one, never a part.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _staged(path: Path, data: str | bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Replace (or create) ``path`` with ``data`` in one step; readers never see a partial file."""
    path = Path(path)
    staged = _staged(path, data, mode)
    try:
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def create_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` (``mode`` from the first byte) unless it exists; True when this
    call created it. Two processes racing: one wins, the other keeps the winner's file."""
    path = Path(path)
    staged = _staged(path, data, mode)
    try:
        os.link(staged, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        staged.unlink(missing_ok=True)
    if created:
        _sync_folder(path.parent)
    return created
