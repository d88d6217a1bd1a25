"""A published day's manifest: which files make the day, their sizes and sha256, written last.

On an object store a "move" is a copy of every object and a delete, so a day being published,
or a publish killed midway, is a folder holding part of its files. The manifest
(``_manifest.json``) is what makes a folder a published day: it is computed over the staged
files before the publish, copied after every file it lists and deleted before any of them, so
a folder that has one holds everything it lists. Readers (:class:`ml_tasks.core.lake.Lake`)
list and read only days with a manifest, read only the files it names, and refuse a file whose
size or sha256 differs (a corrupted or truncated file) with an error naming it. The same rule
holds on local disk, where the moves are renames, so one code path serves both.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MANIFEST = "_manifest.json"
VERSION = 1


class ManifestError(RuntimeError):
    """A published day's files are not the ones its manifest lists."""


def data_files(fs, folder: str) -> list[str]:
    """The data files under a folder: hidden (``.``) and side (``_``) files are not data."""
    base = folder.rstrip("/")
    return sorted(
        f
        for f in fs.find(base)
        if not any(part.startswith(("_", ".")) for part in f[len(fs._strip_protocol(base)) + 1 :].split("/"))
    )


def sha256_of(fs, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(fs, folder: str) -> dict[str, Any]:
    """The manifest of a (staged) folder: every data file's path relative to it, size and sha256."""
    base = fs._strip_protocol(folder.rstrip("/"))
    files = {}
    for path in data_files(fs, folder):
        files[path[len(base) + 1 :]] = {"size": int(fs.info(path)["size"]), "sha256": sha256_of(fs, path)}
    return {"version": VERSION, "files": files}


def seal(fs, folder: str) -> dict[str, Any]:
    """Write the manifest of ``folder`` into it (unless it has one) and return it."""
    existing = read(fs, folder)
    if existing is not None:
        return existing
    manifest = build(fs, folder)
    if not manifest["files"]:
        raise ManifestError(f"{folder} holds no data files: nothing to publish")
    with fs.open(f"{folder.rstrip('/')}/{MANIFEST}", "w") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest


def read(fs, folder: str) -> dict[str, Any] | None:
    """The manifest of a folder, or None when it has none (not a published day, or one cut short)."""
    path = f"{folder.rstrip('/')}/{MANIFEST}"
    try:
        with fs.open(path, "r") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def listed_files(fs, folder: str, manifest: dict[str, Any]) -> list[str]:
    """The files the manifest lists, each checked to exist with its listed size."""
    base = folder.rstrip("/")
    paths = []
    for name, facts in sorted(manifest["files"].items()):
        path = f"{base}/{name}"
        try:
            size = int(fs.info(path)["size"])
        except FileNotFoundError:
            raise ManifestError(f"{path}: listed in the day's manifest but missing") from None
        if size != facts["size"]:
            raise ManifestError(
                f"{path}: {size} bytes, the day's manifest says {facts['size']}: "
                "the file was changed or cut after the day was published"
            )
        paths.append(path)
    return paths


def check_bytes(path: str, data: bytes, facts: dict[str, Any]) -> bytes:
    """``data`` read from ``path`` when its sha256 is the manifest's; else a :class:`ManifestError`."""
    if hashlib.sha256(data).hexdigest() != facts["sha256"]:
        raise ManifestError(
            f"{path}: its sha256 is not the one in the day's manifest: the file was changed "
            "after the day was published (corrupt); restore the day or publish it again"
        )
    return data
