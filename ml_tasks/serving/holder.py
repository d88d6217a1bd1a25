"""The champion a server holds: loaded from the registry, swapped when `@champion` moves.

A :class:`ChampionHolder` keeps one :class:`Served` model. :meth:`ChampionHolder.refresh` asks the
registry where `@champion` points; a new version is loaded beside the serving one and swapped in
with one reference assignment, so requests in flight finish on the model they started with and
none is dropped. :meth:`ChampionHolder.watch` refreshes on a background thread until stopped.

A new champion that fails to load leaves the old one serving: :attr:`ChampionHolder.reload_error`
names the version and the error (the server's health says "degraded"), ``on_reload_failed`` is
called once per version (a metric, an alert), and the load is retried with a doubling back-off
(up to ``MAX_BACKOFF_SECONDS``) instead of a full download at every refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml_tasks.core import tracking
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.registry import client as registry
from ml_tasks.registry.artifacts import load_verified

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 600.0


@dataclass(frozen=True)
class Served:
    """One loaded model version, its input fields (column -> MLflow type name) and, when the
    model's code has one, its ``predict_rows`` (rows as dicts -> array, no pandas: the online path)."""

    version: str
    model: Any
    fields: dict[str, str]
    predict_rows: Callable[[list[dict]], Any] | None = None


def load_version(settings: ConveyorSettings, pipeline: str, version: str) -> Served:
    """Load a registered version through its pyfunc (its files checked against the digest recorded at
    registration), with the input schema it was logged with."""
    model = load_verified(settings, pipeline, version)
    schema = model.metadata.get_input_schema()
    fields = {c.name: str(c.type).split(".")[-1].lower() for c in schema.inputs} if schema else {}
    try:  # versions logged before the online path existed have no predict_rows: they go through pandas
        fast = getattr(model.unwrap_python_model(), "predict_rows", None)
    except Exception:  # not a Python model (a flavour's own pyfunc)
        fast = None
    return Served(version=str(version), model=model, fields=fields, predict_rows=fast)


def load_champion(settings: ConveyorSettings, pipeline: str) -> Served | None:
    """The version behind `@champion`, loaded; None while the pipeline has none."""
    current = registry.version_by_alias(tracking.connect(settings), pipeline, registry.CHAMPION)
    return None if current is None else load_version(settings, pipeline, str(current.version))


class ChampionHolder:
    """Holds the served champion of one pipeline and swaps it when the alias moves."""

    def __init__(
        self,
        settings: ConveyorSettings,
        pipeline: str,
        on_swap: Callable[[Served], None] | None = None,
        on_reload_failed: Callable[[str, str], None] | None = None,
        backoff_seconds: float = 5.0,
    ):
        self.settings, self.pipeline, self.on_swap = settings, pipeline, on_swap
        self.on_reload_failed, self.backoff_seconds = on_reload_failed, backoff_seconds
        self.served: Served | None = None
        self.reload_error: dict[str, Any] | None = None  # version, error, since, failures
        self._retry_at = 0.0
        self.stop = threading.Event()

    def refresh(self) -> None:
        """Load and swap in the champion if `@champion` points at another version; never raises."""
        try:
            current = registry.version_by_alias(tracking.connect(self.settings), self.pipeline, registry.CHAMPION)
        except Exception:  # the registry being away must not take serving down
            log.exception("could not ask the registry for the champion of %s", self.pipeline)
            return
        held = self.served
        if current is None or (held is not None and str(current.version) == held.version):
            return
        version, failed = str(current.version), self.reload_error
        if failed is not None and failed["version"] == version and time.monotonic() < self._retry_at:
            return  # backing off: no full download at every refresh
        try:
            fresh = load_version(self.settings, self.pipeline, version)  # beside the serving one
        except Exception as exc:
            self._failed(version, f"{type(exc).__name__}: {str(exc)[:300]}")
            return
        self.served, self.reload_error = fresh, None  # one assignment: requests in flight keep their model
        if held is not None and self.on_swap is not None:
            self.on_swap(fresh)
        log.info("now serving %s v%s", self.pipeline, fresh.version)

    def _failed(self, version: str, error: str) -> None:
        before = self.reload_error if self.reload_error and self.reload_error["version"] == version else None
        failures = (before["failures"] if before else 0) + 1
        self.reload_error = {
            "version": version,
            "error": error,
            "failures": failures,
            "since": before["since"] if before else datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._retry_at = time.monotonic() + min(self.backoff_seconds * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        log.error(
            "could not load %s v%s (attempt %d; still serving %s): %s",
            self.pipeline,
            version,
            failures,
            f"v{self.served.version}" if self.served else "nothing",
            error,
        )
        if before is None and self.on_reload_failed is not None:
            self.on_reload_failed(version, error)

    def watch(self, every_seconds: float, *also: Callable[[], Any]) -> threading.Thread:
        """Refresh every ``every_seconds`` on a daemon thread until :attr:`stop` is set, and call
        ``also`` (other refreshes that must not raise, such as the online features) each time."""

        def loop() -> None:
            while not self.stop.wait(every_seconds):
                self.refresh()
                for other in also:
                    other()

        thread = threading.Thread(target=loop, daemon=True, name=f"champion-watch-{self.pipeline}")
        thread.start()
        return thread
