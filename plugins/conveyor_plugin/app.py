"""The Conveyor view's routes: every pipeline's champion, history, days, monitoring and lineage.

Every route needs an Airflow login (the api-server's ``_token`` cookie or a bearer token, checked
by Airflow's own auth manager); a request without one gets 401, and there is no OpenAPI document.
A pipeline's pages answer only users Airflow's auth manager lets read the pipeline's DAGs (403
otherwise; the index lists only those pipelines). Every page is sent with a Content-Security-Policy
that runs no script at all, and a quarantine report (HTML a task wrote to the lake, so not trusted)
is shown in a sandboxed iframe. Pages read MLflow and the lake through `conveyor_plugin.overview`
when they are asked for, never at import, and are drawn by `conveyor_plugin.pages`.

The one action: a quarantined raw day's page offers Release (accept the day as it is, with a
reason) to users Airflow's auth manager lets trigger the pipeline's features DAG; the POST checks
that permission itself, refuses a cookie-authenticated request from another origin, releases the
day (``ml_tasks.data.release``) and triggers ``<pipeline>_features`` for it.
"""

from __future__ import annotations

import html
from datetime import UTC, date

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

PREFIX = "/conveyor"
# No script, no plugin, no remote anything: the pages are HTML with inline styles and SVG, one form
# posting to the view itself, links out to MLflow; the sandboxed report iframe inherits this policy.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)


async def require_login(request: Request):
    """Airflow's user for this request, as Airflow's API resolves it: a bearer token wins, else the
    UI's ``_token`` cookie; missing or expired is 401, invalid is 403 (Airflow's own checks)."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return await resolve_user_from_token(token)
    return await resolve_user_from_token(request.cookies.get(COOKIE_NAME_JWT_TOKEN))


def may_run_features(user, pipeline: str) -> bool:
    """Whether Airflow's auth manager lets ``user`` trigger runs of the pipeline's features DAG."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=f"{pipeline}_features"), user=user
    )


def may_read(user, pipeline: str) -> bool:
    """Whether Airflow's auth manager lets ``user`` read the pipeline's DAGs (its features and train DAGs:
    the days and the models its pages show)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    manager = get_auth_manager()
    return all(
        manager.is_authorized_dag(method="GET", details=DagDetails(id=f"{pipeline}_{kind}"), user=user)
        for kind in ("features", "train")
    )


def readable(user, pipeline: str) -> None:
    """403 unless the user may read the pipeline (:func:`may_read`)."""
    if not may_read(user, pipeline):
        raise HTTPException(status_code=403, detail=f"{user.get_name()} may not read the {pipeline} pipeline's DAGs")


def same_origin(request: Request) -> None:
    """Refuse a state-changing request sent with the login cookie from a page of another origin."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return  # a bearer token is not sent by a browser on its own
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    own = f"{request.url.scheme}://{request.url.netloc}"
    if source != own and not source.startswith(own + "/"):
        raise HTTPException(status_code=403, detail="cross-origin request refused: send it from the Conveyor view")


def _settings_and_spec(pipeline: str, user):
    """The settings and the pipeline's spec, for a user who may read the pipeline: 403 before anything is
    read, and a 404 that names no other pipeline and no server path."""
    from ml_tasks.core.names import checked_pipeline_name
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import SpecError, load_spec

    readable(user, pipeline)
    settings = load_settings()
    try:
        checked_pipeline_name(pipeline)
    except ValueError:
        raise HTTPException(status_code=404, detail="no such pipeline") from None
    if not (settings.specs_dir / f"{pipeline}.yaml").is_file():
        raise HTTPException(status_code=404, detail=f"no pipeline named {pipeline!r}")
    try:
        return settings, load_spec(pipeline, settings.specs_dir)
    except SpecError as exc:
        raise HTTPException(
            status_code=404,
            detail=f"the {pipeline} spec does not load: {str(exc).replace(str(settings.specs_dir), '<specs>')}",
        ) from None


def create_view_app() -> FastAPI:
    app = FastAPI(
        title="Conveyor", dependencies=[Depends(require_login)], docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.middleware("http")
    async def say_when_mlflow_is_away(request: Request, call_next):
        """MLflow not answering is a state of the platform, said in words (a 503, not a stack trace)."""
        try:
            return await call_next(request)
        except Exception as exc:
            import requests
            from mlflow.exceptions import MlflowException

            if not isinstance(exc, (requests.RequestException, MlflowException)):
                raise
            return HTMLResponse(
                f"<h1>Conveyor view</h1><p>MLflow did not answer: {html.escape(str(exc)[:500])}</p>", status_code=503
            )

    @app.middleware("http")
    async def no_script(request: Request, call_next):  # outermost: its 503 pages get the headers too
        """Every answer runs no script, is not sniffed as another type and is framed only by Airflow's UI."""
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @app.get("/", response_class=HTMLResponse)
    def index(user=Depends(require_login)) -> str:
        """Every pipeline the user may read, with its champion."""
        from conveyor_plugin.overview import champion_summary
        from conveyor_plugin.pages import index_page
        from ml_tasks.core.settings import load_settings
        from ml_tasks.core.spec import load_spec

        settings = load_settings()
        names = sorted(p.stem for p in settings.specs_dir.glob("*.yaml") if may_read(user, p.stem))
        rows = []
        for name in names:
            spec = load_spec(name, settings.specs_dir)
            rows.append(
                {
                    "pipeline": name,
                    "task": spec.task,
                    "metric": spec.promotion.metric,
                    "champion": champion_summary(settings, name),
                }
            )
        return index_page(rows)

    @app.get("/dags/{dag_id}")
    def for_dag(dag_id: str) -> RedirectResponse:
        """A pipeline DAG's tab: its pipeline's page."""
        pipeline = dag_id.rsplit("_", 1)[0]
        return RedirectResponse(f"{PREFIX}/pipelines/{pipeline}")

    @app.get("/pipelines/{pipeline}", response_class=HTMLResponse)
    def pipeline_page(pipeline: str, user=Depends(require_login)) -> str:
        from conveyor_plugin.overview import pipeline_overview
        from conveyor_plugin.pages import overview_page

        settings, spec = _settings_and_spec(pipeline, user)
        return overview_page(pipeline_overview(settings, spec))

    @app.get("/pipelines/{pipeline}/days/{dt}", response_class=HTMLResponse)
    def day_page(pipeline: str, dt: date, user=Depends(require_login)) -> str:
        """One day's gate records (passing, quarantined or released) and, when quarantined, its report
        and (for users who may run the pipeline's features DAG) the Release form."""
        from conveyor_plugin.overview import day_report
        from conveyor_plugin.pages import day_page as render

        settings, _ = _settings_and_spec(pipeline, user)
        report = day_report(settings, pipeline, dt)
        if report is None:
            raise HTTPException(
                status_code=404, detail=f"{pipeline} has no gate record for {dt}: the day has not been validated (yet)"
            )
        releasable = report["status"] == "quarantined" and report["stage"] == "raw" and may_run_features(user, pipeline)
        return render(pipeline, dt, report, releasable)

    @app.post("/pipelines/{pipeline}/days/{dt}/release", response_class=HTMLResponse)
    async def release(pipeline: str, dt: date, request: Request, user=Depends(require_login)):
        """Release a quarantined raw day as it is (form field ``reason``) and trigger its features run."""
        from urllib.parse import parse_qs

        from ml_tasks.core.lake import Lake
        from ml_tasks.data.release import ReleaseError, release_raw

        same_origin(request)
        if not may_run_features(user, pipeline):
            raise HTTPException(status_code=403, detail=f"{user.get_name()} may not run {pipeline}_features")
        body = await request.body()
        if len(body) > 4096:
            raise HTTPException(status_code=413, detail="the release form takes at most 4096 bytes")
        reason = (parse_qs(body.decode("utf-8", errors="replace")).get("reason") or [""])[0][:500]
        settings, spec = _settings_and_spec(pipeline, user)
        try:
            release_raw(Lake.from_settings(settings), spec, dt, reason, by=user.get_name())
        except ReleaseError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        started = _trigger_features(pipeline, dt, user.get_name())
        return RedirectResponse(f"{PREFIX}/pipelines/{pipeline}/days/{dt}?features={started}", status_code=303)

    @app.get("/pipelines/{pipeline}/predictions/{dt}", response_class=HTMLResponse)
    def predictions_page(pipeline: str, dt: date, user=Depends(require_login)) -> str:
        """One scored day: how many rows, which version scored them, the predictions' spread, the first rows."""
        from conveyor_plugin.overview import predictions_summary
        from conveyor_plugin.pages import predictions_page as render

        settings, _ = _settings_and_spec(pipeline, user)
        summary = predictions_summary(settings, pipeline, dt)
        if summary is None:
            raise HTTPException(status_code=404, detail=f"{pipeline} has no predictions for {dt} (not scored yet)")
        return render(pipeline, dt, summary)

    return app


def _trigger_features(pipeline: str, dt: date, user: str) -> str:
    """Trigger ``<pipeline>_features`` for the released day: 'started', or why not (the day stays released;
    the run can be triggered by hand with the param dt)."""
    from datetime import datetime

    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    run_id = f"release__{dt.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    try:
        trigger_dag(
            f"{pipeline}_features",
            triggered_by=DagRunTriggeredByType.UI,
            triggering_user_name=user,
            conf={"dt": dt.isoformat()},
            run_id=run_id,
        )
    except Exception as exc:  # the DAG not parsed yet, the database busy: the release itself stands
        return f"not started ({type(exc).__name__}): trigger {pipeline}_features with dt={dt.isoformat()}"
    return "started"
