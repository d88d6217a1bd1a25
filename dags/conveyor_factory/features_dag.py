"""`<pipeline>_features`: gate the raw day, build its features with Spark, gate and publish them."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from airflow.sdk import DAG, task, teardown
from airflow.timetables.interval import CronDataIntervalTimetable

from conveyor_factory.assets import features_asset
from conveyor_factory.callbacks import ConveyorNotifier, deadline_missed
from conveyor_factory.dag_defaults import pipeline_dag
from conveyor_factory.links import linked_task, push_links, view_url
from conveyor_factory.runtime import fail_without_retry_on_bad_data, partition_date, settings_and_spec

if TYPE_CHECKING:  # the payload types; the DAG file itself imports no task logic when parsed
    from ml_tasks.data.gate_records import GateRecord, RawGateOutcome

DOC = """
### {name}_features

One run per daily data interval (or the day given as param `dt`):

1. **gate_raw**: the `{raw_suite}` Great Expectations suite on `raw/{name}/dt=<day>/`, calibrated to
   the day's size (columns no feature uses only warn; the log shows the day's coverage). A day short
   only of rows or series is still arriving: the task waits (up for reschedule) until the deadline.
   A failing partition is moved to `quarantine/{name}/dt=<day>/raw/` with its validation JSON and HTML
   report, and the run stops here without retrying (the data, not the task, is at fault).
   After re-landing fixed data, clear this task (with downstream) to process the day; or accept the
   day as it is: `conveyor quarantine release {name} <day> --reason "..."`.
2. **build_features**: the Spark job `{module}` writes the day's features to a hidden staging folder.
3. **gate_features**: the `{features_suite}` suite on the staged Spark DataFrame; both gates'
   results are written into the partition as `_validation.json` (model lineage reads them).
4. **publish_features**: an atomic rename to `features/{name}/dt=<day>/`; emits Asset `features:{name}`.
5. **discard_staging** (teardown, runs whatever happened before it): removes what is left of this
   run's staging folder, so a run that failed or was killed leaves nothing behind in the lake, and
   puts back a day a publish killed half-way had moved aside.
"""


def staging_owner(dag_id: str, run_id: str, day: str) -> str:
    """Who a run's staging folder belongs to: its retries and its teardown find the same folder."""
    return f"{dag_id}/{run_id}/{day}"


def features_deadline(spec):
    """A deadline alert when the spec sets ``features.deadline_hours``: the day's run must succeed that
    long after the day (its data interval) ends, else `deadline_missed` alerts (a failed run too)."""
    hours = spec.features.deadline_hours
    if hours is None:
        return None
    from datetime import timedelta

    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(days=1, hours=hours),
        callback=SyncCallback(deadline_missed, kwargs={"pipeline": spec.name, "hours": hours}),
    )


def build_features_dag(spec, default_args: dict) -> DAG:
    name = spec.name
    with pipeline_dag(
        spec,
        "features",
        description=f"{name}: raw gate -> Spark features -> features gate -> publish",
        schedule=CronDataIntervalTimetable(spec.features.schedule, timezone="UTC"),
        dt_help="Day to process (YYYY-MM-DD); empty = the data interval's day (manual runs: yesterday)",
        default_args=default_args,
        max_active_runs=1,  # runs of one pipeline publish partitions one at a time
        deadline=features_deadline(spec),
        doc_md=DOC.format(
            name=name,
            raw_suite=spec.data.raw_suite,
            features_suite=spec.data.features_suite,
            module=spec.features.module,
        ),
    ) as dag:

        @linked_task(
            "validation_report", multiple_outputs=True, on_failure_callback=ConveyorNotifier("quarantine", name)
        )
        def gate_raw(ti=None, **context) -> RawGateOutcome:
            """Great Expectations raw gate on the day's landed partition; quarantines it when it fails.

            The gate is calibrated to the day's size; the log shows the day's coverage. A day short
            only of rows or series waits (up for reschedule every 30 min) until the pipeline's
            deadline: it is most likely still arriving. A day released with `conveyor quarantine
            release` is not gated again. A failure fails the task without retry (the data is at
            fault): re-land fixed data and clear it, or release the day as it is.
            """
            from datetime import datetime, timedelta

            from airflow.sdk.exceptions import AirflowRescheduleException

            from ml_tasks.core.lake import Lake
            from ml_tasks.data.gate_records import RawGateOutcome, gate_record
            from ml_tasks.data.gates import check_raw_partition, quarantine_raw
            from ml_tasks.data.release import arrival_deadline, release_record, released_gate_record, still_arriving

            settings, current_spec = settings_and_spec(name)
            lake, dt = Lake.from_settings(settings), partition_date(context)
            push_links(ti, validation_report=view_url(name, "days", dt.isoformat()))  # passing or quarantined
            released = release_record(lake, current_spec, dt)
            if released is not None:
                print(f"{dt} was released as it is by {released['by']} ({released['reason']}); not gated again")
                return RawGateOutcome(dt=dt.isoformat(), record=released_gate_record(current_spec, released))
            with fail_without_retry_on_bad_data():
                result = check_raw_partition(lake, settings.expectations_dir, current_spec, dt)
                now, deadline = datetime.now(UTC), arrival_deadline(current_spec, dt)
                if not result.success and still_arriving(result) and now < deadline:
                    print(
                        f"{dt} is short of rows or series (still arriving?); waiting until {deadline:%Y-%m-%d %H:%M} "
                        f"UTC, then it is gated as it is\n{result.summary()}"
                    )
                    raise AirflowRescheduleException(min(deadline, now + timedelta(minutes=30)))
                if not result.success:
                    raise quarantine_raw(lake, current_spec, dt, result)
            print(result.summary())
            c = result.coverage
            print(
                f"coverage: {c['rows']} of {c['expected_rows']} expected rows ({c['share']:.1%}) for {c['series']} "
                f"series; missing times give null lags, which the models take"
            )
            return RawGateOutcome(dt=dt.isoformat(), record=gate_record(result))

        @task
        def build_features(day: str, dag_run=None) -> str:
            """The pipeline's Spark feature job for the day, written to this run's hidden staging folder
            (a retry replaces what a killed attempt left there)."""
            from datetime import date

            from spark_jobs.features_job import stage_features

            settings, current_spec = settings_and_spec(name)
            owner = staging_owner(dag_run.dag_id, dag_run.run_id, day)
            staged = stage_features(settings, current_spec, [date.fromisoformat(day)], owner=owner)
            return staged[date.fromisoformat(day)]

        @linked_task("validation_report", on_failure_callback=ConveyorNotifier("quarantine", name))
        def gate_features(day: str, raw_record: GateRecord, staged: str, ti=None) -> str:
            """Great Expectations features gate on the staged day; both gates' records go into it."""
            from datetime import date

            from ml_tasks.core.lake import Lake
            from ml_tasks.data.features_gate import gate_staged_features, validates_in_pandas
            from ml_tasks.data.gate_records import gate_record, stamp_validation

            settings, current_spec = settings_and_spec(name)
            lake, dt = Lake.from_settings(settings), date.fromisoformat(day)
            push_links(ti, validation_report=view_url(name, "days", day))
            rows = lake.row_count(staged)
            spark = None
            if not validates_in_pandas(rows, settings.features_gate_pandas_max_rows):
                from spark_jobs.session import spark_session

                spark = spark_session(settings, f"{name}_features_gate")
            print(f"validating {rows:,} staged rows on {'Spark' if spark else 'pandas'}")
            with fail_without_retry_on_bad_data():
                result = gate_staged_features(lake, settings.expectations_dir, current_spec, dt, staged, spark)
            print(result.summary())
            stamp_validation(lake, staged, dt, raw_record, gate_record(result))
            return staged

        @linked_task("validation_report", outlets=[features_asset(name)])
        def publish_features(day: str, staged: str, ti=None, outlet_events=None) -> str:
            """Atomic rename of the staged day into the features zone; updates Asset `features:<pipeline>`
            with the day and both gates' outcome."""
            from datetime import date

            from ml_tasks.core.lake import Lake
            from ml_tasks.data.day_history import publish_features as publish
            from ml_tasks.data.gate_records import VALIDATION_RECORD, gate_summary

            settings, _ = settings_and_spec(name)
            lake = Lake.from_settings(settings)
            path = publish(lake, name, staged, date.fromisoformat(day), by=f"{ti.dag_id} {ti.run_id}")
            outlet_events[features_asset(name)].extra = {
                "dt": day,
                "path": path,
                **gate_summary(lake.read_json(f"{path}/{VALIDATION_RECORD}")),
            }
            push_links(ti, validation_report=view_url(name, "days", day))
            print(f"published {path}")
            return path

        @teardown
        def discard_staging(**context) -> None:
            """Remove this run's staging folder if anything is left of it (a failed or killed run), and put
            back any partition a killed publish had moved aside without moving the new one in."""
            from ml_tasks.core.lake import Lake
            from spark_jobs.features_job import discard_staging as discard
            from spark_jobs.features_job import staging_root

            settings, current_spec = settings_and_spec(name)
            lake = Lake.from_settings(settings)
            run = context["dag_run"]
            owner = staging_owner(run.dag_id, run.run_id, partition_date(context).isoformat())
            root = staging_root(lake, current_spec, owner)
            print(f"removed the leftovers in {root}" if discard(lake, root) else "nothing left to remove")
            for day in lake.restore_interrupted("features", current_spec.name):
                print(f"features/{current_spec.name}/dt={day}: a killed publish had moved it aside; put back")

        raw = gate_raw()
        staged = build_features(raw["dt"])
        publish_features(raw["dt"], gate_features(raw["dt"], raw["record"], staged)) >> discard_staging()
    return dag
