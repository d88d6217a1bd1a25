"""The champion a server holds: loaded from the registry, swapped when `@champion` moves.

A :class:`ChampionHolder` keeps one :class:`Served` model. :meth:`ChampionHolder.refresh` asks the
registry where `@champion` points; a new version is loaded beside the serving one and swapped in
with one reference assignment, so requests in flight finish on the model they started with and
none is dropped. :meth:`ChampionHolder.watch` refreshes on a background thread until stopped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ml_tasks.core import tracking
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.registry import client as registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One loaded model version, its input fields (column -> MLflow type name) and, when the
    model's code has one, its ``predict_rows`` (rows as dicts -> array, no pandas: the online path)."""

    version: str
    model: Any
    fields: dict[str, str]
    predict_rows: Callable[[list[dict]], Any] | None = None


def load_version(settings: ConveyorSettings, pipeline: str, version: str) -> Served:
    """Load a registered version through its pyfunc, with the input schema it was logged with."""
    import mlflow

    tracking.connect(settings)
    model = mlflow.pyfunc.load_model(f"models:/{registry.model_name(pipeline)}/{version}")
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

    def __init__(self, settings: ConveyorSettings, pipeline: str, on_swap: Callable[[Served], None] | None = None):
        self.settings, self.pipeline, self.on_swap = settings, pipeline, on_swap
        self.served: Served | None = None
        self.stop = threading.Event()

    def refresh(self) -> None:
        """Load and swap in the champion if `@champion` points at another version; never raises."""
        try:
            current = registry.version_by_alias(tracking.connect(self.settings), self.pipeline, registry.CHAMPION)
            held = self.served
            if current is not None and (held is None or str(current.version) != held.version):
                fresh = load_version(self.settings, self.pipeline, str(current.version))  # beside the serving one
                self.served = fresh  # one assignment: requests in flight keep their model
                if held is not None and self.on_swap is not None:
                    self.on_swap(fresh)
                log.info("now serving %s v%s", self.pipeline, fresh.version)
        except Exception:  # the registry being away must not take serving down
            log.exception("could not refresh the champion of %s", self.pipeline)

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
