"""Two nights of both pipelines on the distributed deployment with all eight of its fault kinds.

The same runner as `make soak-distributed` (:mod:`soak.distributed`): Celery workers on queues
``default`` and ``gpu``, PostgreSQL, Redis, a Spark standalone cluster and S3 on loopback. Over
two nights a Celery worker is killed mid-training, PostgreSQL restarted, S3 cut off, a publish to
S3 and a promotion killed at their worst moments, a cut-short model registered as challenger, a
published features file corrupted and the alert receiver stopped. Every invariant must hold
after each night (both pipelines): the embedded soak's, no reader ever saw part of a day, every
alias move has its completed record, the corrupt file and model refused loudly and never used,
every fault recovered, Lightning on the gpu worker and everything else on default.
"""

from __future__ import annotations

import pytest

from soak.distributed import run_distributed, summary
from soak.distributed_faults import FAULT_KINDS

from .browser import artifacts_dir

# In `make test-e2e` (CI); alone: `make test-soak-distributed`.
pytestmark = [pytest.mark.slow, pytest.mark.distributed, pytest.mark.timeout(3000)]
SEED, DAYS = 7, 2  # every kind once over the two nights (`make soak-distributed DAYS=2` prints the same plan)


def test_two_nights_on_the_distributed_stack_with_every_fault_kind_keep_every_invariant(tmp_path):
    result, records = run_distributed(DAYS, SEED, tmp_path)
    report = summary(result, records)
    print(report)
    (artifacts_dir("soak-distributed") / "summary.md").write_text(report + "\n")
    assert result.held, report
    assert {r.fault.kind for r in records if r.landed} == set(FAULT_KINDS), report
    assert all(r.seconds is not None for r in records), report  # each one recovered, timed
    refusals = [r for r in records if r.fault.kind in ("corrupt_features", "truncated_challenger")]
    assert refusals and all(r.refused for r in refusals), report
