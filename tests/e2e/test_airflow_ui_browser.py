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
from ml_tasks.platform import stack

from .browser import artifacts_dir, chromium_page
from .stack_helpers import explain_run, free_port, running_stack

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
    (specs / "demand.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(load_settings().specs_dir / "churn.yaml", specs / "churn.yaml")  # no import error on the home page
    settings = load_settings(home=home, specs_dir=specs, airflow_port=free_port(), mlflow_port=free_port())
    seed_demo(settings, DemoSize(stores=2, items=6, days=28), leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        yield {"settings": settings, "client": client}
    shutil.rmtree(specs, ignore_errors=True)


def _log_in(page, settings) -> None:
    page.goto(settings.airflow_url)
    page.get_by_label("Username").fill(settings.airflow_user)
    page.get_by_label("Password").fill(stack.airflow_password(settings))
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

    return wait_until(finished, timeout, lambda: f"{run_id}: the run page to show the run finished (it shows "
                      f"{badge.inner_text()!r})\n" + explain_run(client, settings, TRAIN, run_id), every=3)


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
        page.wait_for_url(f"**/dags/{TRAIN}/runs/**")
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
