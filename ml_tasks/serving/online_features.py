"""Online features by key: the latest published feature partitions, in memory, looked up by series and hour.

A client of ``/predict`` may send only a series' keys and the hour to predict
(``{"store_id": "s1", "item_id": "i3", "ts": "2026-03-02T05:00:00Z"}``); :class:`OnlineFeatures`
fills in that row's features exactly as the batch scorer would read them, from the published
partitions of the last ``days`` days. :meth:`OnlineFeatures.refresh` reloads them when a day is
published (or published again), which the serving app's champion watch calls on its schedule.
A series or an hour with no published row is a problem that names it, never a made-up row.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec

log = logging.getLogger(__name__)


def utc_hour(value: Any) -> datetime:
    """A timestamp as naive UTC (how rows are indexed); ISO strings with or without an offset."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


@dataclass(frozen=True)
class _Snapshot:
    days: tuple[date, ...]
    signature: tuple
    rows: dict[tuple, dict[str, Any]]
    keys_seen: frozenset[tuple]


class OnlineFeatures:
    """The feature rows of the latest ``days`` published days of one pipeline, by (keys..., hour)."""

    def __init__(self, lake: Lake, spec: PipelineSpec, days: int = 3):
        self.lake, self.spec, self.days = lake, spec, days
        self.keys, self.timestamp = list(spec.data.keys), spec.data.timestamp
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def is_key_only(self, row: Any) -> bool:
        """A row that names a series and an hour and nothing else."""
        return isinstance(row, dict) and set(row) == {*self.keys, self.timestamp}

    def _signature(self, days: list[date]) -> tuple:
        """Which files the latest days hold (name, size, modification time): a day published again differs."""
        out = []
        for d in days:
            for entry in self.lake.fs.ls(self.lake.partition("features", self.spec.name, d), detail=True):
                out.append(
                    (
                        d.isoformat(),
                        entry["name"].rsplit("/", 1)[-1],
                        entry.get("size"),
                        str(entry.get("mtime") or entry.get("LastModified") or ""),
                    )
                )
        return tuple(out)

    def refresh(self) -> bool:
        """Reload when the latest published days changed; True when it did. Never raises (serving goes on)."""
        try:
            with self._lock:
                days = self.lake.partitions("features", self.spec.name)[-self.days :]
                signature = self._signature(days)
                if self._snapshot is not None and self._snapshot.signature == signature:
                    return False
                self._snapshot = self._load(days, signature)
                log.info(
                    "online features of %s: %d rows from %s",
                    self.spec.name,
                    len(self._snapshot.rows),
                    ", ".join(d.isoformat() for d in days) or "no published day",
                )
                return True
        except Exception:
            log.exception("could not refresh the online features of %s", self.spec.name)
            return False

    def _load(self, days: list[date], signature: tuple) -> _Snapshot:
        frame = self.lake.read_range("features", self.spec.name, days) if days else pd.DataFrame()
        rows: dict[tuple, dict[str, Any]] = {}
        if len(frame):
            hours = pd.to_datetime(frame[self.timestamp], utc=True).dt.tz_localize(None)
            ids = list(zip(*(frame[k].astype(str) for k in self.keys), hours.dt.to_pydatetime(), strict=True))
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            rows = dict(zip(ids, records, strict=True))  # a day published twice in the window: the later row wins
        return _Snapshot(tuple(days), signature, rows, frozenset(i[:-1] for i in rows))

    def fill(self, rows: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """Each key-only row replaced by its published feature row; full rows pass as they are.

        Problems name the row, the series and the hour: a series never published in the window, or
        an hour outside the published days.
        """
        snapshot = self._snapshot
        if snapshot is None:
            self.refresh()
            snapshot = self._snapshot
        out, problems = [], []
        for i, row in enumerate(rows):
            if not self.is_key_only(row):
                out.append(row)
                continue
            series = tuple(str(row[k]) for k in self.keys)
            named = ", ".join(f"{k}={row[k]!r}" for k in self.keys) or "the series"
            try:
                hour = utc_hour(row[self.timestamp])
            except (ValueError, TypeError):
                problems.append(f"rows[{i}].{self.timestamp}: not a timestamp: {row[self.timestamp]!r}")
                continue
            found = snapshot.rows.get((*series, hour)) if snapshot else None
            if found is not None:
                out.append(found)
            elif snapshot is None or series not in snapshot.keys_seen:
                window = (
                    f"{snapshot.days[0]}..{snapshot.days[-1]}" if snapshot and snapshot.days else "none published yet"
                )
                problems.append(f"rows[{i}]: no history for {named} in the published features ({window})")
            else:
                problems.append(
                    f"rows[{i}]: no published features for {named} at {hour.isoformat()} "
                    f"(published days: {snapshot.days[0]}..{snapshot.days[-1]})"
                )
        return out, problems
