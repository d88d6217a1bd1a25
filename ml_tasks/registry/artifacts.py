"""Verified model artifacts: a digest recorded at registration, checked before every load.

Loading an MLflow pyfunc runs code from its artifacts (the models-from-code file, pickles), so
whoever can write the artifact store could otherwise run code wherever a model is loaded: the
server, the scoring and drift tasks, the promotion gate. The registry's metadata (tags) lives in
MLflow's database, a separate trust domain from its artifact store, so at registration
:func:`record_digest` puts the sha256 of every file of the model (and one digest over them all)
on the version as tags; :func:`load_verified` downloads the version's files once, checks them
against those tags and loads the pyfunc from exactly the files it checked. A mismatch, or a
version without a digest while ``model_digest_required`` is on, is refused with
:class:`UnverifiedModelError` naming the files that changed, and alerted (``model_unverified``)
once per version and process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from ml_tasks.core import tracking
from ml_tasks.core.alerts import Alert, send
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.registry import client as registry

log = logging.getLogger(__name__)
DIGEST_TAG = "conveyor.artifact_sha256"
FILES_TAG = "conveyor.artifact_files"
MAX_TAG_CHARS = 5000  # MLflow's limit on a model version tag's value
_alerted: set[tuple[str, str, str]] = set()


class UnverifiedModelError(RuntimeError):
    """A model version's files do not match the digest recorded at registration, or it has none."""


def file_digests(root: Path) -> dict[str, str]:
    """The sha256 of every file under ``root``, by its path relative to ``root`` (POSIX separators)."""
    digests = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digests[path.relative_to(root).as_posix()] = h.hexdigest()
    return digests


def tree_digest(files: dict[str, str]) -> str:
    """One sha256 over the files' names and digests: any added, removed, renamed or changed file changes it."""
    return hashlib.sha256("".join(f"{d}  {name}\n" for name, d in sorted(files.items())).encode()).hexdigest()


def download_version(settings: ConveyorSettings, pipeline: str, version: str | int, into: Path) -> Path:
    """The files of a registered version, downloaded into ``into``; returns the model's folder."""
    import mlflow

    tracking.connect(settings)
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{registry.model_name(pipeline)}/{version}", dst_path=str(into)
        )
    )


def record_digest(settings: ConveyorSettings, pipeline: str, version: str | int) -> str:
    """Download ``version``'s files, tag the version with their digests; returns the tree digest.

    Never replaces a digest already recorded (a retried registration finds its own): the tags are
    what later loads trust, so only a version without one gets one.
    """
    client = tracking.connect(settings)
    name, version = registry.model_name(pipeline), str(version)
    recorded = client.get_model_version(name, version).tags.get(DIGEST_TAG)
    if recorded:
        return recorded
    with tempfile.TemporaryDirectory(prefix="conveyor-digest-") as tmp:
        files = file_digests(download_version(settings, pipeline, version, Path(tmp)))
    digest = tree_digest(files)
    listing = json.dumps(files, sort_keys=True, separators=(",", ":"))
    if len(listing) <= MAX_TAG_CHARS:  # a model of very many files keeps the tree digest only
        client.set_model_version_tag(name, version, FILES_TAG, listing)
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    log.info("recorded the artifact digest of %s v%s: sha256 %s over %d files", name, version, digest, len(files))
    return digest


def verify(settings: ConveyorSettings, pipeline: str, version: str | int, local: Path) -> str:
    """Check the downloaded files of ``version`` at ``local`` against its tags; raise
    :class:`UnverifiedModelError` (and alert) when they differ or none were recorded."""
    client = tracking.connect(settings)
    name, version = registry.model_name(pipeline), str(version)
    tags = client.get_model_version(name, version).tags
    expected, files = tags.get(DIGEST_TAG), file_digests(local)
    if not expected:
        if not settings.model_digest_required:
            log.warning(
                "%s v%s has no recorded artifact digest; loading it unverified (model_digest_required is off)",
                name,
                version,
            )
            return tree_digest(files)
        _refuse(
            settings,
            pipeline,
            version,
            "none",
            (
                f"model {name!r} version {version} carries no artifact digest (tag {DIGEST_TAG}): it was registered "
                f"outside Conveyor or before digests were recorded. Check its files, then record one with "
                f"`conveyor verify-model {pipeline} {version} --record`"
            ),
        )
    actual = tree_digest(files)
    if actual != expected:
        listed = json.loads(tags.get(FILES_TAG) or "{}")
        changed = sorted(n for n in set(listed) | set(files) if listed.get(n) != files.get(n)) if listed else []
        _refuse(
            settings,
            pipeline,
            version,
            actual,
            (
                f"model {name!r} version {version}: its artifacts do not match the sha256 recorded at registration "
                f"(recorded {expected[:16]}..., found {actual[:16]}...)"
                + (f"; changed, added or removed: {', '.join(changed[:10])}" if changed else "")
                + "; refusing to load it. Someone or something wrote to the artifact store after registration."
            ),
        )
    return actual


def check_version(settings: ConveyorSettings, pipeline: str, version: str | int) -> str:
    """Download ``version`` and :func:`verify` it without loading it (before an alias points at it)."""
    with tempfile.TemporaryDirectory(prefix="conveyor-check-") as tmp:
        return verify(settings, pipeline, version, download_version(settings, pipeline, version, Path(tmp)))


def _refuse(settings: ConveyorSettings, pipeline: str, version: str, found: str, message: str) -> None:
    log.error("%s", message)
    if (pipeline, version, found) not in _alerted:
        _alerted.add((pipeline, version, found))
        send(
            settings,
            Alert(
                "model_unverified",
                pipeline,
                f"refused to load model version {version}: its artifacts are not the ones registered",
                {"version": version, "error": message},
            ),
        )
    raise UnverifiedModelError(message)


def load_verified(settings: ConveyorSettings, pipeline: str, version: str | int) -> Any:
    """The pyfunc of ``version``, loaded from files checked against the digest recorded at registration.

    The files are downloaded once and the model is loaded from that checked copy, so nothing written
    to the store between the check and the load is used. The copy lives as long as the model.
    """
    import mlflow

    tmp = Path(tempfile.mkdtemp(prefix="conveyor-model-"))
    try:
        local = download_version(settings, pipeline, version, tmp)
        verify(settings, pipeline, version, local)
        model = mlflow.pyfunc.load_model(str(local))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    weakref.finalize(model, shutil.rmtree, tmp, True)
    return model
