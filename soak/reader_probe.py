"""A reader that never stops during the distributed soak: does any published day ever show only part of itself?

Every second it lists each zone the way training, scoring and the view do (a day is published
when its folder holds a manifest) and checks each listed day the way readers open it
(:meth:`Lake.data_files`: every file the manifest names, at its size). A day whose check fails
while its manifest is still there is a partial day a reader could have read. One whose manifest
went away between the listing and the check is a republish in flight, which readers see as no
day, never as part of one. Checks made while S3 is cut off are counted apart.

One recursive listing per zone gives every object with its size and ETag (or mtime on local
disk); a day whose objects are exactly those of its last good check is that same day, so only
new or changed days are opened again. That keeps the probe at a few requests a second instead
of several per day, which would make it the busiest client of the S3 server.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from ml_tasks.core import manifest
from ml_tasks.core.lake import Lake, LakeError


class ReaderProbe:
    def __init__(self, lake: Lake, zones: list[tuple[str, str]], every: float = 1.0) -> None:
        self.lake, self.zones, self.every = lake, zones, every
        self.checks = self.opened = self.unreachable = 0
        self._partial: list[str] = []
        self._good: dict[str, tuple] = {}  # day folder -> its objects at its last good check
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
            for path, objects in sorted(self.published_days(zone, pipeline).items()):
                self.checks += 1
                if self._good.get(path) == objects:
                    continue  # the very objects of its last good check
                self.opened += 1
                if self.check(path):
                    self._good[path] = objects

    def published_days(self, zone: str, pipeline: str) -> dict[str, tuple]:
        """Each day folder of the zone that holds a manifest, with (name, size, ETag or mtime) of its objects."""
        base = self.lake.zone(zone, pipeline)
        fs = self.lake.fs
        if not fs.exists(base):
            return {}
        days: dict[str, list] = defaultdict(list)
        for key, info in fs.find(base, detail=True).items():
            folder, name = key.rsplit("/", 1)
            if folder.rsplit("/", 1)[-1].startswith("dt="):
                days[folder].append((name, info.get("size"), info.get("ETag") or info.get("mtime")))
        return {
            folder: tuple(sorted(objects))
            for folder, objects in days.items()
            if any(name == manifest.MANIFEST for name, _, _ in objects)
        }

    def check(self, path: str) -> bool:
        """Open the day as a reader does; a failure while its manifest stays the same is a partial day."""
        fs = self.lake.fs
        listed = manifest.read(fs, path)
        try:
            self.lake.data_files(path)
            return True
        except LakeError as exc:
            fs.invalidate_cache()
            if listed is not None and manifest.read(fs, path) == listed:
                self._partial.append(f"{'/'.join(path.rsplit('/', 3)[-3:])} at {time.strftime('%H:%M:%S')}: {exc}")
            return False
