"""A soak run's result and its report: invariants per day, faults and recovery, disk use, verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from soak.embedded_faults import FaultRecord
from soak.invariants import Invariant, Snapshot, disk_growth, table
from soak.plan import PIPELINES, SoakPlan


@dataclass
class SoakResult:
    plan: SoakPlan
    rows: list[tuple[str, list[Invariant]]] = field(default_factory=list)  # ("<day> <pipeline>", invariants)
    snapshots: list[Snapshot] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    seconds: float = 0.0
    champions: list[str | None] = field(default_factory=list)  # @champion at the end of each day
    fingerprint: dict[str, str] = field(default_factory=dict)  # zone -> digest of every published row
    retrains: dict[str, int] = field(default_factory=dict)  # pipeline -> training runs a retrain request started
    messy: dict[date, dict[str, int]] = field(default_factory=dict)  # a messy day's raw partition, as landed

    @property
    def held(self) -> bool:
        return (
            len(self.rows) == len(PIPELINES) * len(self.plan.days)
            and all(i.held for _, invs in self.rows for i in invs)
            and disk_growth(self.snapshots).held
        )


def summary(result: SoakResult) -> str:
    """The invariants per day, the faults and their recovery, disk use per day, the verdict."""
    lines = [table(result.rows), "", "| day | fault | what it hit | recovery |", "|---|---|---|---|"]
    lines += [f"| {r.day} | {r.fault.describe()} | {r.hit} | {r.recovery} |" for r in result.faults]
    if result.snapshots:
        kinds = sorted(result.snapshots[0].disk_bytes)
        lines += ["", "| day | champion | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
        for s in result.snapshots:
            lines.append(
                f"| {s.day} | v{s.champion} | " + " | ".join(f"{s.disk_bytes[k] / 2**20:.1f} MB" for k in kinds) + " |"
            )
    moves = [
        f"{'v' + str(a['from_version']) if a['from_version'] else 'none'} -> v{a['to_version']}"
        for a in (result.snapshots[-1].audit if result.snapshots else [])
    ]
    lines += [
        "",
        f"champion history (demand): {', '.join(moves) or 'no move'}; at the end of each day: "
        f"{', '.join('v' + str(c) for c in result.champions)}",
        "retraining started by drift checks: " + ", ".join(f"{p} {n}" for p, n in result.retrains.items()),
        "lake fingerprint (same seed, same digests): " + ", ".join(f"{z} {h}" for z, h in result.fingerprint.items()),
    ]
    growth = disk_growth(result.snapshots)
    kinds_hit = sorted({r.fault.kind for r in result.faults if not r.hit.startswith(("nothing", "skipped"))})
    lines += [
        "",
        f"disk growth: {'about linear' if growth.held else 'NOT linear: ' + growth.detail}",
        f"{len(result.rows) // len(PIPELINES)}/{len(result.plan.days)} days, {len(result.faults)} faults "
        f"({len(kinds_hit)} kinds hit: {', '.join(kinds_hit)}), "
        f"{'every invariant held' if result.held else 'INVARIANTS BROKEN'}, {result.seconds / 60:.1f} min, "
        f"finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]
    return "\n".join(lines)
