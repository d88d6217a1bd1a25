"""A reader that never stops during the distributed soak: does any published day ever show only part of itself?

Every second it lists the published days of each zone the way training, scoring and the view do
(:meth:`Lake.partitions`: days with a manifest) and checks each listed day the way readers open it
(:meth:`Lake.data_files`: every file the manifest names, at its size). A day whose check fails
while its manifest is still there is a partial day a reader could have read. One whose manifest
went away between the listing and the check is a republish in flight, which readers see as no
day, never as part of one. Checks made while S3 is cut off are counted apart.
"""

from __future__ import annotations

import threading
import time

from ml_tasks.core import manifest
from ml_tasks.core.lake import Lake, LakeError


class ReaderProbe:
    def __init__(self, lake: Lake, zones: list[tuple[str, str]], every: float = 1.0) -> None:
        self.lake, self.zones, self.every = lake, zones, every
        self.checks = self.unreachable = 0
        self._partial: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="reader-probe")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def take_partial(self) -> list[str]:
        """The partial days seen since the last call."""
        seen, self._partial = self._partial, []
        return seen

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.look()
            except Exception:  # noqa: BLE001  (S3 cut off, a connection reset: not a reader's view of a day)
                self.unreachable += 1

    def look(self) -> None:
        fs = self.lake.fs
        fs.invalidate_cache()
        for zone, pipeline in self.zones:
            for day in self.lake.partitions(zone, pipeline):
                path = self.lake.partition(zone, pipeline, day)
                listed = manifest.read(fs, path)
                try:
                    self.lake.data_files(path)
                except LakeError as exc:
                    fs.invalidate_cache()
                    if listed is not None and manifest.read(fs, path) == listed:
                        self._partial.append(f"{zone}/{pipeline}/{day} at {time.strftime('%H:%M:%S')}: {exc}")
                self.checks += 1
