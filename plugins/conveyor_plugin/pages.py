"""HTML of the Conveyor view: Jinja2 templates (autoescaped), the model card's markdown, the charts.

Everything shown is escaped: values tasks wrote (tags, gate messages, model cards) are text, never
HTML. The model card is markdown rendered with raw HTML switched off (markdown-it-py, CommonMark
with tables): HTML inside a card shows as text, links whose scheme markdown-it refuses
(``javascript:``, ``vbscript:``, ``file:``, ``data:``) stay text, and images are not drawn.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from jinja2 import Environment
from markdown_it import MarkdownIt
from markupsafe import Markup

from conveyor_plugin.charts import holdout_charts, monitoring_charts
from conveyor_plugin.lineage_view import chain_steps

ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
ENV.filters["num"] = lambda v: f"{v:,.4g}" if isinstance(v, (int, float)) else ("-" if v is None else v)


def story_details(event: dict[str, Any]) -> str:
    """An event of a day's story in a line: its fields but the time and the kind (autoescaped when shown)."""
    parts = []
    for key, value in event.items():
        if key in ("at", "event") or value in (None, [], ""):
            continue
        parts.append(f"{key.replace('_', ' ')}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
    return "; ".join(parts)


ENV.filters["story_details"] = story_details
CARD_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def model_card_html(card: str) -> Markup:
    """The model card (markdown a training task wrote) as HTML in which no HTML of the card survives."""
    return Markup(CARD_MARKDOWN.render(card))


STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.2rem;color:#1d2433}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem}
td,th{border-bottom:1px solid #dde;padding:.25rem .6rem;text-align:left;vertical-align:top}
.card{border:1px solid #dde;border-radius:6px;padding:.8rem 1rem;margin:.6rem 0;max-width:70rem}
.days{display:flex;flex-wrap:wrap;gap:2px;max-width:70rem}.day{width:14px;height:14px;border-radius:2px;display:block}
.published{background:#3a9b5c}.warned{background:#e0b43c}.quarantined{background:#c8433a}
.released{background:#7a5cc8}.raw-only{background:#b8bfcc}
.legend span{display:inline-block;width:10px;height:10px;margin:0 .3rem 0 .8rem;border-radius:2px}
pre{white-space:pre-wrap;font-size:.8rem;background:#f6f7f9;padding:.6rem;max-height:24rem;overflow:auto}
.muted{color:#667}a{color:#2457c5}
.chain{display:flex;flex-wrap:wrap;gap:.6rem 1.6rem;list-style:none;padding:0;margin:.6rem 0}
.step{position:relative;box-sizing:border-box;width:11rem;border:1px solid #9fb0cc;border-radius:6px;
background:#f4f7fc;padding:.45rem .6rem;font-size:.78rem;overflow-wrap:anywhere}
.step+.step::before{content:"\\2192";position:absolute;left:-1.3rem;top:38%;font-size:1.1rem;color:#667}
.step .kind{text-transform:uppercase;font-size:.68rem;letter-spacing:.04em;color:#667}
.step a{display:block;margin-top:.15rem}
.md{font-size:.85rem}.md h1{font-size:1.15rem}.md h2{font-size:1rem}.md code{background:#f1f2f5}
.metrics{display:flex;flex-wrap:wrap;gap:.4rem 1.4rem}.metrics div{font-size:.85rem}
</style>"""

INDEX = ENV.from_string(
    STYLE
    + """
<h1>Conveyor</h1>
<table><tr><th>pipeline</th><th>task</th><th>champion</th><th>family</th><th>holdout {{ 'metric' }}</th></tr>
{% for r in rows %}<tr><td><a href="pipelines/{{ r.pipeline }}">{{ r.pipeline }}</a></td><td>{{ r.task }}</td>
{% if r.champion %}<td><a href="{{ r.champion.url }}" target="_blank">v{{ r.champion.version }}</a></td>
<td>{{ r.champion.family }}</td><td>{{ r.metric }} {{ r.champion.metrics.get(r.metric) | num }}</td>
{% else %}<td colspan="3" class="muted">no champion yet</td>{% endif %}</tr>
{% endfor %}</table>
"""
)

OVERVIEW = ENV.from_string(
    STYLE
    + """
<h1>{{ o.pipeline }} <span class="muted">({{ o.task }})</span></h1>
<p><a href="../">all pipelines</a></p>
<h2>Champion</h2>
{% if o.champion %}<div class="card"><b><a href="{{ o.champion.url }}" target="_blank" rel="noopener">
v{{ o.champion.version }}</a></b> {{ o.champion.family }}; holdout
{% for k, v in o.champion.metrics.items() %}{{ k }} {{ v | num }}{{ ", " if not loop.last }}{% endfor %};
<a href="#model-card">its model card</a></div>
{% else %}<p class="muted">No champion yet: run {{ o.pipeline }}_train.</p>{% endif %}
<h2>Lineage of the champion</h2>
{% if steps %}<ol class="chain">{% for s in steps %}<li class="step" data-step="{{ s.step }}">
<div class="kind">{{ s.step }}</div><b>{{ s.title }}</b>{% for line in s.lines %}<div>{{ line }}</div>{% endfor %}
{% for l in s.links %}<a href="{{ l.href }}"{% if l.external %} target="_blank" rel="noopener"{% endif %}>
{{- l.label }}</a>
{% endfor %}</li>
{% endfor %}</ol>
{% elif o.lineage %}<p class="muted">The lineage does not load: {{ o.lineage.error }}</p>
{% else %}<p class="muted">No champion yet.</p>{% endif %}
<h2>Champion history ({{ o.history | length }} moves)</h2>
<table><tr><th>when (UTC)</th><th>version</th><th>gate decision</th><th>forced</th><th>approved by</th><th>run</th></tr>
{% for h in o.history %}<tr><td>{{ h.time }}</td><td>v{{ h.from or '-' }} &rarr; v{{ h.to }}</td><td>{{ h.reason }}</td>
<td>{{ 'FORCED' if h.forced }}</td><td>{{ h.approved_by or '' }}</td>
<td class="muted">{{ h.trigger }} {{ h.run }}</td></tr>
{% endfor %}</table>
<h2>Days ({{ o.days | length }}: {{ counts.published }} published, {{ counts.warned }} with warnings,
{{ counts.released }} released as they are, {{ counts.quarantined }} quarantined)</h2>
<div class="legend"><span class="published"></span>published<span class="warned"></span>warnings
<span class="released"></span>released<span class="quarantined"></span>quarantined
<span class="raw-only"></span>raw only</div>
<div class="days">{% for d in o.days %}<a class="day {{ d.status | replace(' ', '-') }}"
href="{{ o.pipeline }}/days/{{ d.dt }}" title="{{ d.dt }}: {{ d.status }}: {{ d.reason }}"></a>{% endfor %}</div>
{% if quarantined %}<table>{% for d in quarantined %}<tr>
<td><a href="{{ o.pipeline }}/days/{{ d.dt }}">{{ d.dt }}</a></td><td>{{ d.stage }}</td><td>{{ d.reason }}</td></tr>
{% endfor %}</table>{% endif %}
<h2>Holdout metrics of every version ({{ o.versions | length }})</h2>
{% if versions_charts %}<p class="muted">One dot per version, at the time it was registered (hover for the version);
orange lines: <code>@champion</code> moved.</p>
<div class="metrics">{% for label, svg in versions_charts %}<div>{{ label }}<br>{{ svg | safe }}</div>{% endfor %}</div>
{% else %}<p class="muted">No version with holdout metrics yet.</p>{% endif %}
<h2>Monitoring</h2>
{% for label, svg in charts %}<div>{{ label }}<br>{{ svg | safe }}</div>
{% else %}<p class="muted">No drift check yet.</p>{% endfor %}
{% if o.champion %}<h2 id="model-card">Model card of the champion, v{{ o.champion.version }}</h2>
<div class="card md">{{ card }}</div>{% endif %}
"""
)

DAY = ENV.from_string(
    STYLE
    + """
<h1>{{ pipeline }} {{ dt }}: {{ report.status }}{{ ' at the ' ~ report.stage ~ ' gate' if report.stage }}</h1>
<p><a href="../../{{ pipeline }}">{{ pipeline }}</a></p>
{% if releasable %}<form method="post" action="{{ dt }}/release" class="card"><b>Release this day as it is</b>
(a real day: a storm, a strike): it goes back to the raw zone with your reason and its features are built.
<br><input name="reason" required maxlength="500" size="60" placeholder="why the day is right as it is">
<button type="submit">Release</button></form>{% endif %}
<h2>What happened to this day</h2>
{% if report.story %}<table><tr><th>when (UTC)</th><th>what</th><th>details</th></tr>
{% for e in report.story %}<tr><td>{{ e.at | replace('T', ' ') }}</td><td><b>{{ e.event }}</b></td>
<td>{{ e | story_details }}</td></tr>
{% endfor %}</table>{% else %}<p class="muted">No history recorded (the day predates it).</p>{% endif %}
<h2>Models trained on this day</h2>
{% if report.models %}<p>{% for m in report.models %}<a href="{{ m.url }}" target="_blank">v{{ m.version }}</a>
({{ m.family }}{{ ', @' ~ m.aliases | join(', @') if m.aliases }}){{ ", " if not loop.last }}{% endfor %}</p>
{% else %}<p class="muted">None yet.</p>{% endif %}
{% if report.html %}<iframe sandbox srcdoc="{{ report.html }}" title="gate report (from the lake; scripts never run)"
style="width:100%;height:32rem;border:1px solid #dde"></iframe>{% endif %}
<h2>Gate records</h2><pre>{{ record }}</pre>
"""
)

PREDICTIONS = ENV.from_string(
    STYLE
    + """
<h1>{{ pipeline }} predictions {{ dt }}</h1>
<p><a href="../../{{ pipeline }}">{{ pipeline }}</a></p>
<p>{{ s.rows }} rows scored by version {{ s.versions | join(', ') }}; prediction
{% for k, v in s.prediction.items() %}{{ k }} {{ v | num }}{{ ", " if not loop.last }}{% endfor %}</p>
{{ s.head | safe }}
"""
)


def index_page(rows: list[dict[str, Any]]) -> str:
    return INDEX.render(rows=rows)


def overview_page(o: dict[str, Any]) -> str:
    """The pipeline page of :func:`conveyor_plugin.overview.pipeline_overview`'s overview."""
    counts = {s: sum(d["status"] == s for d in o["days"]) for s in ("published", "warned", "released", "quarantined")}
    lineage = o["lineage"]
    return OVERVIEW.render(
        o=o,
        charts=monitoring_charts(o["monitoring"]),
        counts=counts,
        quarantined=[d for d in o["days"] if d["status"] == "quarantined"],
        card=model_card_html(o["champion"]["model_card"]) if o["champion"] else "",
        steps=chain_steps(o["pipeline"], lineage) if lineage and "error" not in lineage else [],
        versions_charts=holdout_charts(o["versions"], o["history"], o["metric"]),
    )


def day_page(pipeline: str, dt: date, report: dict[str, Any], releasable: bool = False) -> str:
    return DAY.render(
        pipeline=pipeline,
        dt=dt,
        report=report,
        releasable=releasable,
        record=json.dumps(report["record"], indent=1, default=str),
    )


def predictions_page(pipeline: str, dt: date, summary: dict[str, Any]) -> str:
    return PREDICTIONS.render(pipeline=pipeline, dt=dt, s=summary)
