"""The Airflow UI in a real browser: log in, trigger `demand_train` with a param, watch it succeed.

Headless Chromium (Debian's package, driven by Playwright) against the real embedded stack:
the documented login (`admin`, the generated password `make up` prints), the Dags list, the
trigger form with Param `force` switched on, and the run's page until it shows Success. The form
leaves `dt` empty, which its help text documents as "latest". Screenshots of each step are kept
as CI artifacts (``$CONVEYOR_TEST_ARTIFACTS``, else ``test-artifacts/``).
"""

from __future__ import annotations

import shutil
import time
from urllib.parse import unquote

import pytest
import yaml

from ml_tasks.core.polling import wait_until
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.seed import DemoSize, seed_demo
from ml_tasks.platform.stack import environment

from .browser import artifacts_dir, chromium_page
from .stack_helpers import champion_version, explain_run, running_stack, stack_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
TRAIN = "demand_train"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui-browser")
    specs = home / "specs"
    specs.mkdir()
    spec = yaml.safe_load((load_settings().specs_dir / "demand.yaml").read_text())
    spec["training"]["models"] = ["lightgbm"]
    spec["training"]["tuning"] = {"trials": 3, "minutes": 1}  # the soak's cap: these tests are about the UI, not tuning
    (specs / "demand.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(load_settings().specs_dir / "churn.yaml", specs / "churn.yaml")  # no import error on the home page
    settings = stack_settings(home, specs_dir=specs)
    seed_demo(settings, DemoSize(stores=2, items=6, days=28), leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        yield {"settings": settings, "client": client}
    shutil.rmtree(specs, ignore_errors=True)


def _log_in(page, settings) -> None:
    page.goto(settings.airflow_url)
    page.get_by_label("Username").fill(settings.airflow_user)
    page.get_by_label("Password").fill(environment.airflow_password(settings))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def _watch_run_until_finished(page, client, settings, run_id: str, timeout: float = 900) -> str:
    """The run's state as its page shows it, once finished. The page refreshes itself while the run is
    active; it is reloaded only when the REST API says the run ended and the page still lags 20 s."""
    from playwright.sync_api import expect

    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
    last_reload = [time.monotonic()]

    def finished() -> str | None:
        shown = badge.inner_text().strip()
        if shown in ("Success", "Failed"):
            return shown
        if client.run_state(TRAIN, run_id) in ("success", "failed") and time.monotonic() - last_reload[0] > 20:
            page.reload()
            last_reload[0] = time.monotonic()
            expect(badge).to_be_visible()
        return None

    return wait_until(
        finished,
        timeout,
        lambda: (
            f"{run_id}: the run page to show the run finished (it shows "
            f"{badge.inner_text()!r})\n" + explain_run(client, settings, TRAIN, run_id)
        ),
        every=3,
    )


def test_trigger_form_starts_a_run_with_its_param_and_the_ui_shows_it_succeed(platform):
    from playwright.sync_api import expect

    settings, client = platform["settings"], platform["client"]
    shots = artifacts_dir("airflow_ui_browser")
    with chromium_page(failure_shot=shots / "failure.png") as page:
        _log_in(page, settings)
        expect(page.get_by_role("link", name="Dags").first).to_be_visible()
        page.screenshot(path=shots / "01-logged-in.png")

        page.get_by_role("link", name="Dags").first.click()
        page.get_by_role("link", name=TRAIN, exact=True).click()
        trigger = page.get_by_role("button", name="Trigger Dag")
        expect(trigger).to_have_count(1)  # the DAG's own page, not the list (one button per DAG)
        page.screenshot(path=shots / "02-dag.png")

        trigger.click()
        form = page.get_by_role("dialog")
        expect(form.get_by_role("checkbox", name=f"Unpause {TRAIN} on trigger")).to_be_checked()
        force = form.get_by_role("checkbox", name="force")
        expect(force).not_to_be_checked()
        # The switch's visible part is the label around its (hidden) input; `has` is relative to it.
        form.locator("label").filter(has=page.get_by_role("checkbox", name="force")).click()
        expect(force).to_be_checked()
        submit = form.get_by_role("button", name="Trigger")
        expect(submit, "the trigger form refuses its own defaults (is `dt` required?)").to_be_enabled()
        form.screenshot(path=shots / "03-trigger-form.png")

        submit.click()
        try:
            page.wait_for_url(f"**/dags/{TRAIN}/runs/**", timeout=120_000)
        except Exception as exc:  # say what the page said instead of only that it did not move
            runs = client.request("GET", f"/dags/{TRAIN}/dagRuns")["dag_runs"]
            raise AssertionError(
                f"the trigger form did not open the new run ({exc.__class__.__name__}); the page "
                f"says: {page.locator('body').inner_text()[:1500]!r}; runs: "
                f"{[(r['dag_run_id'], r['state']) for r in runs]}"
            ) from exc
        run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("?")[0])
        header = page.get_by_test_id("header-card")
        expect(header).to_contain_text(run_id)

        # Unpausing also starts the latest nightly run: the run id from the page names ours.
        run = client.request("GET", f"/dags/{TRAIN}/dagRuns/{run_id}")
        assert run["run_type"] == "manual" and run["conf"].get("force") is True, run
        assert not run["conf"].get("dt"), run

        shown = _watch_run_until_finished(page, client, settings, run_id)
        assert shown == "Success", explain_run(client, settings, TRAIN, run_id)
        expect(header).to_contain_text("Manual")
        last_task = page.get_by_test_id("table-list").get_by_role("row").filter(has_text="announce_champion")
        expect(last_task).to_contain_text("Success")  # the task table has loaded, not its placeholders
        page.screenshot(path=shots / "04-run-succeeded.png")

    for name in ("01-logged-in.png", "03-trigger-form.png", "04-run-succeeded.png"):
        data = (shots / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000, f"{shots / name}: {len(data)} bytes"


def test_from_a_training_task_to_its_mlflow_run_and_from_the_nav_to_the_conveyor_view(platform):
    """With two versions and a quarantined day: the training task's button opens its run in MLflow, the
    failed gate's button opens the day's gate report, and Browse > Conveyor shows the champion, its
    lineage as a chain, every version's holdout error, its history, the quarantined day and its model card."""
    from playwright.sync_api import expect

    from ml_tasks.core import tracking
    from ml_tasks.core.lake import Lake
    from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params

    settings, client = platform["settings"], platform["client"]
    client.set_paused(TRAIN, False)  # this test stands alone: the trigger form's test may not have unpaused it
    second = client.trigger(TRAIN, conf={"force": True})  # a second version, promoted by force
    assert client.wait_for_run(TRAIN, second, timeout=900) == "success", explain_run(client, settings, TRAIN, second)
    lake = Lake.from_settings(settings)
    day = lake.partitions("raw", "demand")[-1]
    cfg = DemandDataConfig(stores=2, items=6, days=1, start=day)
    lake.write_partition(generate_day(cfg, series_params(cfg), day).assign(price=-1.0), "raw", "demand", day)
    client.set_paused("demand_features", False)
    bad = client.trigger("demand_features", conf={"dt": day.isoformat()})
    assert client.wait_for_run("demand_features", bad, timeout=400) == "failed"

    champion = champion_version(settings)
    shots = artifacts_dir("airflow_ui_views")
    with chromium_page(failure_shot=shots / "failure.png") as page:
        _log_in(page, settings)
        page.goto(f"{settings.airflow_url}/dags/{TRAIN}/runs/{second}/tasks/train_lightgbm")
        page.get_by_role("tab", name="Details").or_(page.get_by_role("link", name="Details")).first.click()
        button = page.get_by_role("link", name="MLflow run")  # Airflow lists a task's extra links under Details
        expect(button.first).to_be_visible(timeout=60_000)
        page.screenshot(path=shots / "05-task-links.png")
        link = client.extra_links(TRAIN, second, "train_lightgbm")["MLflow run"]
        with page.expect_popup() as popup_info:
            button.first.click()
        mlflow_page = popup_info.value
        mlflow_page.wait_for_load_state()
        assert mlflow_page.url == link
        run_id = link.rsplit("/", 1)[-1]
        expect(mlflow_page.get_by_text("demand-lightgbm").first).to_be_visible(timeout=60_000)  # the run's name
        assert run_id in mlflow_page.url
        mlflow_page.screenshot(path=shots / "06-mlflow-run.png")

        # The failed gate's button opens that day's gate report (the quarantine's, with its failures).
        page.goto(f"{settings.airflow_url}/dags/demand_features/runs/{bad}/tasks/gate_raw")
        page.get_by_role("tab", name="Details").or_(page.get_by_role("link", name="Details")).first.click()
        report = page.get_by_role("link", name="Validation report").first
        expect(report).to_be_visible(timeout=60_000)
        if report.get_attribute("target") == "_blank":
            with page.expect_popup() as popup_info:
                report.click()
            report_page = popup_info.value
        else:
            report.click()
            report_page = page
        report_page.wait_for_load_state()
        assert report_page.url.endswith(f"/conveyor/pipelines/demand/days/{day}"), report_page.url
        expect(report_page.get_by_text(f"demand {day}: quarantined at the raw gate")).to_be_visible(timeout=60_000)
        report_page.screenshot(path=shots / "07-gate-report.png", full_page=True)

        # A report anyone who can write the lake could have written: its script must not run in Airflow's origin.
        hostile = (
            "<h1>tampered report</h1><script>top.document.title='pwned';"
            "top.document.body.setAttribute('data-pwned','1')</script>"
            "<img src=x onerror=\"top.document.body.setAttribute('data-pwned','2')\">"
        )
        lake.fs.pipe(f"{lake.partition('quarantine', 'demand', day)}/raw/report.html", hostile.encode())
        report_page.reload()
        frame = report_page.frame_locator("iframe[sandbox]").first
        expect(frame.get_by_text("tampered report")).to_be_visible(timeout=60_000)  # shown, as inert HTML
        report_page.wait_for_timeout(1500)
        assert report_page.title() != "pwned" and report_page.locator("body").get_attribute("data-pwned") is None
        if report_page is not page:
            report_page.close()

        page.goto(f"{settings.airflow_url}/plugin/conveyor")
        view = page.frame_locator("iframe").first
        view.get_by_role("link", name="demand", exact=True).click()
        expect(view.get_by_text("Champion history")).to_be_visible(timeout=60_000)
        expect(view.get_by_role("link", name=day.isoformat(), exact=True)).to_be_visible()  # the quarantined day
        expect(view.get_by_text(f"v{champion}").first).to_be_visible()  # the forced second version, now champion
        # The champion's lineage drawn as a chain, raw days to alias, its run linked to Airflow's run page
        steps = view.locator("ol.chain > li.step")
        expect(steps).to_have_count(6)
        assert [steps.nth(i).get_attribute("data-step") for i in range(6)] == [
            "raw days",
            "gates",
            "features",
            "run",
            "version",
            "alias",
        ]
        expect(steps.nth(3).get_by_role("link", name=f"Airflow {TRAIN} / {second}")).to_be_visible()
        expect(steps.nth(4).get_by_role("link", name="MLflow model version")).to_be_visible()
        # every version's holdout error, one point each; the champion's model card rendered (its table a table)
        versions = tracking.connect(settings).search_model_versions("name='demand'")
        expect(view.locator(".metrics svg").first.locator("circle.point")).to_have_count(len(versions))
        expect(view.locator("#model-card + .md table").first).to_be_visible()
        page.set_viewport_size({"width": 1440, "height": 1280})  # the view's frame grows with it: down to the charts
        page.screenshot(path=shots / "08-conveyor-view.png", full_page=True)
        steps.first.scroll_into_view_if_needed()
        view.locator("ol.chain").screenshot(path=shots / "09-lineage.png")

    for name in ("05-task-links.png", "06-mlflow-run.png", "07-gate-report.png", "08-conveyor-view.png"):
        data = (shots / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000, f"{shots / name}: {len(data)} bytes"
    assert (shots / "09-lineage.png").read_bytes().startswith(PNG_MAGIC)
