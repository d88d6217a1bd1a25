"""Raw data as events: one row per sale, trip, flight or reading, aggregated to the cadence per key.

A spec declares it in ``data.events``, one output column per aggregation::

    events:
      departures: count            # events in the slot (0 when there are none)
      seats: {sum: seats}          # the sum of a column (0 when there are none)
      delay: {mean: dep_delay}     # mean, max or min of a column (null when there are none)
      weather: {last: conditions}  # the last value in the slot, a state (null when there are none)

The raw zone keeps the events as they came, and the raw gate validates them as they came. The
gate's view of a day and the feature job aggregate them to one row per key and slot: every key
seen in the data, every slot of each day, so a slot without events is a row with a count of 0
(and null means and states), never a missing row. The target is one of the outputs.

:func:`aggregate` is the pandas version (the gates, `conveyor validate`, samples);
``spark_jobs.event_slots`` does the same on Spark for the feature job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_tasks.core.cadence import DAY, slots_per_day

if TYPE_CHECKING:  # pandas is imported where frames are made: specs (and DAG files) load without it
    import pandas as pd

OPS = ("count", "sum", "mean", "max", "min", "last")
ZERO_WHEN_EMPTY = {"count", "sum"}


def parse(events: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """``{output: (op, source column or None)}`` from the spec's ``data.events``; a ValueError names a bad entry."""
    out: dict[str, tuple[str, str | None]] = {}
    for name, how in events.items():
        if how == "count":
            out[name] = ("count", None)
        elif isinstance(how, dict) and len(how) == 1 and next(iter(how)) in OPS[1:]:
            op, column = next(iter(how.items()))
            if not isinstance(column, str) or not column:
                raise ValueError(f"data.events.{name}: {op} of what? write {{{op}: COLUMN}}")
            out[name] = (op, column)
        else:
            raise ValueError(
                f"data.events.{name}: {how!r} is not an aggregation; write count, or one of "
                f"{{sum|mean|max|min|last: COLUMN}}"
            )
    if not out:
        raise ValueError("data.events is empty; give at least the target's aggregation, e.g. {target: count}")
    return out


def from_text(text: str) -> dict[str, Any]:
    """The spec's ``data.events`` from the command line's ``departures=count,delay=mean:dep_delay``."""
    out: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, _, how = item.partition("=")
        op, _, column = how.partition(":")
        if not name or not op:
            raise ValueError(f"--events {item!r}: write OUTPUT=count or OUTPUT=sum|mean|max|min|last:COLUMN")
        out[name.strip()] = op.strip() if not column else {op.strip(): column.strip()}
    parse(out)
    return out


def sources(aggregations: dict[str, tuple[str, str | None]]) -> list[str]:
    """The raw event columns the aggregations read."""
    return list(dict.fromkeys(c for _, c in aggregations.values() if c))


def slot_starts(times: pd.Series, step: int) -> pd.Series:
    """Each UTC time's slot: the start of the ``step``-second interval it falls in."""
    import pandas as pd

    return times.dt.floor(pd.Timedelta(seconds=step))


def aggregate(
    frame: pd.DataFrame, aggregations: dict[str, tuple[str, str | None]], timestamp: str, keys: list[str], step: int
) -> pd.DataFrame:
    """Events -> one row per key and slot of every day the events fall on (UTC), zero-filled as the
    module explains. Columns: keys, timestamp, then the outputs in the spec's order."""
    import numpy as np
    import pandas as pd

    times = pd.to_datetime(frame[timestamp], utc=True)
    slots = slot_starts(times, step)
    work = frame.assign(_slot=slots)
    group = [*keys, "_slot"]
    grouped = work.groupby(group, sort=False, dropna=False)
    parts = {}
    for name, (op, column) in aggregations.items():
        if op == "count":
            parts[name] = grouped.size()
        elif op == "last":
            parts[name] = (
                work.sort_values(timestamp, kind="stable").groupby(group, sort=False, dropna=False)[column].last()
            )
        else:
            values = work.assign(_v=pd.to_numeric(work[column], errors="coerce")).groupby(
                group, sort=False, dropna=False
            )
            parts[name] = getattr(values["_v"], op)(**({"min_count": 1} if op == "sum" else {}))
    table = pd.DataFrame(parts)
    if step >= DAY:  # daily or weekly: the slots are the events' own
        grid_slots = pd.DatetimeIndex(sorted(slots.unique()))
    else:  # every slot of every day the events fall on
        days = slots.dt.normalize().unique()
        grid_slots = pd.DatetimeIndex(
            np.concatenate(
                [
                    pd.date_range(d, periods=slots_per_day(step), freq=pd.Timedelta(seconds=step)).to_numpy()
                    for d in days
                ]
                or [np.array([], dtype="datetime64[ns]")]
            ),
            tz="UTC",
        )
    series = work[keys].drop_duplicates() if keys else pd.DataFrame(index=[0])
    grid = series.merge(pd.DataFrame({"_slot": grid_slots}), how="cross")
    out = grid.merge(table.reset_index(), on=group, how="left")
    for name, (op, _) in aggregations.items():
        if op in ZERO_WHEN_EMPTY:
            out[name] = out[name].fillna(0)
        if op == "count":
            out[name] = out[name].astype("int64")
    out = out.rename(columns={"_slot": timestamp})
    return out[[*keys, timestamp, *aggregations]].sort_values([timestamp, *keys], kind="stable").reset_index(drop=True)


def series_view(frame: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """What the features are made from: ``frame`` itself, or for a spec (a ``PipelineSpec``, which
    imports this module) with ``data.events`` its events
    aggregated to the cadence per key (the gates' and `conveyor validate`'s view of raw days)."""
    if not spec.data.events:
        return frame
    d = spec.data
    missing = [c for c in [d.timestamp, *d.keys, *sources(d.aggregations)] if c not in frame.columns]
    if missing:  # the raw gate names missing columns; the view has nothing to aggregate
        import pandas as pd

        return pd.DataFrame(columns=[*d.keys, d.timestamp, *d.aggregations])
    return aggregate(frame, d.aggregations, d.timestamp, list(d.keys), spec.features.step_seconds)
