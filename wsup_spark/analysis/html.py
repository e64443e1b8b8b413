"""Render :class:`~wsup_spark.analysis.report_data.ReportData` as one self-contained HTML page.

Plots are PNG ``data:`` URIs, the style sheet and the table-sorting script are inline, and the
report's numbers are embedded as JSON (``<script type="application/json" id="wsup-report-data">``)
for tools and tests. Nothing is fetched from the network.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from wsup_spark.analysis import plots
from wsup_spark.analysis.progress import Progress
from wsup_spark.analysis.report_data import ReportData
from wsup_spark.analysis.summary import f1_label, format_balance_line

PLOT_STEPS = 6

_CSS = """
:root { --fg:#1f2933; --muted:#6b7785; --line:#e3e8ee; --bg:#f6f8fa; --accent:#4C72B0;
        --bad:#c0392b; --good:#2e7d32; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial,
       sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1f2933; color:#fff; padding:18px 32px; }
header h1 { margin:0 0 4px; font-size:21px; font-weight:600; }
header .meta { color:#c5ced8; font-size:13px; }
main { max-width:1320px; margin:0 auto; padding:20px 32px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px;
          margin:0 0 18px; }
section h2 { font-size:16px; margin:0 0 4px; }
p.help { color:var(--muted); margin:0 0 12px; font-size:12.5px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px;
         margin-bottom:18px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .v { font-size:22px; font-weight:600; }
.card .l { color:var(--muted); font-size:12px; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:18px; }
.grid2 > section { margin:0; }
.row { margin-bottom:18px; }
@media (max-width: 1000px) { .grid2 { grid-template-columns:1fr; } }
figure { margin:0; text-align:center; }
figure img { max-width:100%; height:auto; }
figcaption { color:var(--muted); font-size:12px; margin-top:4px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:right;
         white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
th { background:#f0f3f6; font-weight:600; position:sticky; top:0; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th:hover { background:#e4e9ef; }
th.asc::after { content:" \\25B2"; font-size:10px; }
th.desc::after { content:" \\25BC"; font-size:10px; }
td.bar { background-repeat:no-repeat; background-size:var(--w) 70%;
         background-position:left center;
         background-image:linear-gradient(rgba(76,114,176,.22), rgba(76,114,176,.22)); }
td.bad { color:var(--bad); font-weight:600; }
td.good { color:var(--good); }
td.na { color:#b0b7bf; }
.tablewrap { overflow-x:auto; max-height:640px; overflow-y:auto; }
table.cmi { width:auto; border-collapse:collapse; margin-left:auto; font-size:11px;
            font-family:ui-monospace, "DejaVu Sans Mono", monospace; }
table.cmi td, table.cmi th { border:1px solid var(--line); padding:0 5px; background:#fafbfc;
                              position:static; font-weight:normal; }
table.cmi th { color:var(--muted); background:#f0f3f6; }
table.cm { width:auto; display:inline-table; margin:0 6px; font-size:12px; }
table.cm td, table.cm th { padding:2px 7px; text-align:right; }
.mini { font-family:ui-monospace, "DejaVu Sans Mono", monospace; font-size:11.5px; }
.note { background:#fff8e1; border:1px solid #f3d37a; border-radius:6px; padding:8px 12px;
        margin:0 0 14px; }
footer { color:var(--muted); font-size:12px; }
footer code { font-size:11.5px; }
"""

_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      Array.prototype.forEach.call(heads, function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp;
        if (x === '' && y === '') cmp = 0; else if (x === '') cmp = 1; else if (y === '') cmp = -1;
        else if (!isNaN(nx) && !isNaN(ny)) cmp = asc ? nx - ny : ny - nx;
        else cmp = asc ? x.localeCompare(y) : y.localeCompare(x);
        return cmp;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

# (key, header, help text)
_LF_COLUMNS: list[tuple[str, str, str]] = [
    ("lf", "LF", "labeling function"),
    ("polarity", "polarity", "classes the LF ever voted"),
    ("coverage", "coverage", "fraction of rows the LF votes on"),
    ("overlaps", "overlaps", "fraction of rows where it votes and another LF votes too"),
    ("conflicts", "conflicts", "fraction of rows where another LF votes a different class"),
    ("learned_acc", "learned acc", "the label model's estimate of P(vote correct | votes)"),
    ("gold_acc", "gold acc", "accuracy of its votes on gold rows"),
    ("delta", "learned − gold", "learned minus empirical accuracy"),
    ("gold_votes", "gold votes", "non-abstain votes on gold rows"),
    ("gold_na_votes", "votes where N/A", "multi-task: votes on gold rows where this task has no "
     "gold (N/A by the other tasks' gold, or unknown); not in gold acc"),
    ("gold_correct", "correct", "correct votes on gold rows"),
    ("gold_incorrect", "incorrect", "incorrect votes on gold rows"),
    ("confusion", "confusion", "votes on gold rows: rows = gold class, columns = vote"),
    ("errors", "errors", "LF failures counted as abstains"),
    ("version", "version", "the LF's fingerprint: its code, closure values, globals, resources"),
    ("computed_by", "computed by", "the run that computed this LF's votes (incremental runs "
     "recompute changed LFs only)"),
]


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _pct(v: float | None) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def _lf_table(data: ReportData) -> str:
    return lf_table_html(data.lf_rows, data.class_names)


def lf_table_html(
    rows: Sequence[dict[str, Any]],
    class_names: Sequence[str],
    table_id: str = "lf-table",
    extra: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The sortable LF table of :func:`~wsup_spark.analysis.summary.lf_summary_rows`' rows;
    ``extra`` (key, header, help) columns of fractions of rows come after ``conflicts``."""
    present = {key for r in rows for key in r}
    if "learned_acc" in present and "gold_acc" in present:
        present.add("delta")
    known = [c for c in _LF_COLUMNS if c[0] in present]
    at = next((i + 1 for i, c in enumerate(known) if c[0] == "conflicts"), len(known))
    cols = known[:at] + [c for c in extra if c[0] in present] + known[at:]
    head = "".join(f'<th title="{_esc(h)}">{_esc(t)}</th>' for _, t, h in cols)
    body = []
    for r in rows:
        cells = []
        for key, _, _ in cols:
            v = r.get(key)
            if key == "delta":
                la, ga = r.get("learned_acc"), r.get("gold_acc")
                v = None if la is None or ga is None else la - ga
            cells.append(_lf_cell(key, v, class_names))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="tablewrap"><table class="sortable" id="{_esc(table_id)}"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></div>"
    )


def _lf_cell(key: str, v: Any, class_names: Sequence[str] = ()) -> str:
    if v is None:
        return '<td class="na" data-v="">–</td>'
    if key == "lf":
        return f'<td data-v="{_esc(v)}"><b>{_esc(v)}</b></td>'
    if key == "polarity":
        text = ",".join(class_names[a] if a < len(class_names) else str(a) for a in v)
        return f'<td data-v="{_esc(text)}">{_esc(text or "–")}</td>'
    if key == "confusion":
        text = "; ".join(" ".join(str(x) for x in row) for row in v)
        if len(v) > 4:
            return f'<td class="mini" data-v="{_esc(text)}">{_esc(text)}</td>'
        names = list(class_names) if len(class_names) == len(v) else [str(a) for a in range(len(v))]
        head = "<tr><th>gold \\ vote</th>" + "".join(f"<th>{_esc(n)}</th>" for n in names) + "</tr>"
        grid = "".join(
            f"<tr><th>{_esc(names[a])}</th>" + "".join(f"<td>{x:,}</td>" for x in row) + "</tr>"
            for a, row in enumerate(v)
        )
        title = "votes on gold rows: rows = gold class, columns = the LF's vote"
        return (f'<td data-v="{_esc(text)}"><table class="cmi" title="{title}">{head}{grid}'
                "</table></td>")  # fmt: skip
    if key in ("coverage", "overlaps", "conflicts") or key.startswith("conflicts_"):
        w = max(0.0, min(1.0, float(v))) * 100
        return f'<td class="bar" style="--w:{w:.1f}%" data-v="{float(v)!r}">{_pct(float(v))}</td>'
    if key in ("learned_acc", "gold_acc"):
        cls = "bad" if v < 0.6 else ("good" if v >= 0.9 else "")
        return f'<td class="{cls}" data-v="{float(v)!r}">{_fmt(float(v))}</td>'
    if key == "delta":
        cls = "bad" if abs(v) > 0.1 else ""
        return f'<td class="{cls}" data-v="{float(v)!r}">{float(v):+.3f}</td>'
    return f'<td data-v="{_esc(v)}">{_esc(_fmt(v))}</td>'


def _confusion_html(title: str, cm: np.ndarray, names: Sequence[str]) -> str:
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    body = "".join(
        f"<tr><th>{_esc(names[i])}</th>" + "".join(f"<td>{int(x):,}</td>" for x in row) + "</tr>"
        for i, row in enumerate(cm)
    )
    return (
        f'<table class="cm"><caption class="mini">{_esc(title)}</caption><thead><tr>'
        f"<th>gold \\ pred</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _model_table(data: ReportData) -> str:
    g = data.gold
    if g is None:
        return '<p class="help">No gold labels: accuracy and F1 need a gold column.</p>'
    f1_name = f1_label(data.class_names) if data.k == 2 else "macro F1"
    f1: Callable[[str], float] = g.f1 if data.k == 2 else g.macro_f1
    rows = []
    for name in g.models:
        rows.append(
            f"<tr><td>{_esc(plots.MODEL_LABELS.get(name, name))}</td>"
            f'<td data-v="{g.accuracy(name)!r}">{_fmt(g.accuracy(name), 4)}</td>'
            f'<td data-v="{f1(name)!r}">{_fmt(f1(name), 4)}</td>'
            f'<td data-v="{g.ece(name)!r}">{_fmt(g.ece(name), 4)}</td></tr>'
        )
    cms = "".join(
        _confusion_html(plots.MODEL_LABELS.get(n, n), c, data.class_names)
        for n, c in g.models.items()
    )
    return (
        f'<table id="model-table"><thead><tr><th>model</th><th>accuracy</th><th>{f1_name}</th>'
        f'<th title="expected calibration error">ECE</th></tr></thead><tbody>{"".join(rows)}'
        f'</tbody></table><p class="help" style="margin-top:10px">On {g.n_gold:,} gold rows. '
        f'Confusion matrices:</p><div style="text-align:center">{cms}</div>'
    )


def _cards(data: ReportData) -> str:
    c = data.corpus
    items = [
        (f"{c.n:,}", "rows"),
        (str(len(data.lf_names)), "labeling functions"),
        (_pct(c.coverage), "coverage (≥1 vote)"),
        (_pct(c.overlap), "overlap (≥2 votes)"),
        (_pct(c.conflict), "conflict (≥2 classes)"),
        (_pct(c.no_votes), "no votes"),
    ]
    g = data.gold
    if g is not None:
        items += [
            (f"{g.n_gold:,}", "gold rows"),
            (_fmt(g.accuracy("label_model"), 3), "label model accuracy"),
            (_fmt(g.accuracy("majority_vote"), 3), "majority vote accuracy"),
        ]
    if data.histogram is not None:
        items.append((_fmt(data.histogram.mean_confidence), "mean confidence"))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{_esc(v)}</div>'
            f'<div class="l">{_esc(lab)}</div></div>'
            for v, lab in items
        )
        + "</div>"
    )


def _figure(uri: str | None, alt: str, missing: str = "") -> str:
    if uri is None:
        return f'<p class="help missing">{_esc(missing or "not available")}</p>'
    return f'<figure><img src="{uri}" alt="{_esc(alt)}"></figure>'


def render_plots(data: ReportData, progress: Progress | None = None) -> dict[str, str | None]:
    """Draw every plot of the report: name → PNG data URI (None where the data is missing)."""
    prog = progress or Progress(PLOT_STEPS, "report plots", interactive=False)
    rows = data.lf_rows
    names = data.lf_names
    cov = np.array([r["coverage"] for r in rows])
    out: dict[str, str | None] = {}
    prog.step("plot: coverage and conflicts")
    out["lf_bars"] = plots.to_data_uri(
        plots.lf_bars(
            names,
            cov,
            np.array([r["overlaps"] for r in rows]),
            np.array([r["conflicts"] for r in rows]),
        )
    )
    prog.step("plot: learned vs empirical accuracy")
    learned = [r.get("learned_acc") for r in rows]
    if data.gold is not None and any(v is not None for v in learned):
        fig = plots.accuracy_scatter(names, learned, [r.get("gold_acc") for r in rows], cov)
        out["accuracy"] = plots.to_data_uri(fig)
    elif any(v is not None for v in learned):
        out["accuracy"] = plots.to_data_uri(plots.learned_accuracy_bars(names, learned))
    else:
        out["accuracy"] = None
    prog.step("plot: LF×LF heat maps")
    out["pairs"] = plots.to_data_uri(plots.pair_heatmaps(names, data.overlap, data.conflict))
    prog.step("plot: class balance")
    series: dict[str, np.ndarray] = {}
    if data.class_balance is not None:
        series["estimated P(Y)"] = data.class_balance
    h = data.histogram
    if h is not None and h.n:
        lab = h.label_counts
        series["predicted labels (covered rows)"] = lab / max(lab.sum(), 1)
    if data.gold is not None and data.gold.n_gold:
        series["gold labels"] = data.gold.gold_counts / data.gold.n_gold
    out["class_balance"] = (
        plots.to_data_uri(plots.class_balance(data.class_names, series)) if series else None
    )
    prog.step("plot: confidence histogram")
    out["confidence"] = (
        plots.to_data_uri(plots.confidence_histogram(h, data.class_names))
        if h is not None and h.n
        else None
    )
    prog.step("plot: calibration curve")
    out["calibration"] = (
        plots.to_data_uri(plots.calibration_curve(data.gold, h.edges))
        if data.gold is not None and h is not None
        else None
    )
    return out


def learned_dependencies(data: ReportData) -> list[dict[str, Any]]:
    """The LF pairs the label model learned to be dependent (``fit_info["learned_dependencies"]``
    of the dependency-learning label model): ``{"a", "b", "score", "excess", "redundancy"}`` per
    pair; empty when it learned none or did not learn the structure."""
    info = data.fit_info.get("learned_dependencies")
    if not isinstance(info, dict):
        return []
    edges = info.get("edges") or []
    names = info.get("names") or [[data.lf_names[i], data.lf_names[j]] for i, j in edges]
    cols = zip(names, info.get("scores") or [], info.get("excess") or [],
               info.get("redundancy") or [], strict=False)  # fmt: skip
    return [{"a": a, "b": b, "score": sc, "excess": ex, "redundancy": red}
            for (a, b), sc, ex, red in cols]  # fmt: skip


def _dependencies(data: ReportData) -> str:
    info = data.fit_info.get("learned_dependencies")
    if not isinstance(info, dict):
        return ""
    pairs = learned_dependencies(data)
    help_ = (
        "LF pairs that vote together more often than the class explains, learned from the "
        "LF statistics alone (no gold): a Poisson test of each pair's co-votes against the "
        f"conditionally independent fit (z above {_fmt(info.get('threshold'), 2)}) with an "
        f"excess of at least {_pct(info.get('min_excess'))} of the rarer LF's votes. The label "
        "model counts a dependent pair's shared evidence once. Redundancy: the share of each "
        "LF's votes that are excess co-votes with the other (co-votes beyond what the "
        "independent fit expects)."
    )
    if not pairs:
        body = '<p class="help">No pair passed the test: the LFs are treated as conditionally '
        body += "independent given the class.</p>"
    else:
        rows = "".join(
            f"<tr><td>{_esc(p['a'])}</td><td>{_esc(p['b'])}</td><td>{_fmt(p['score'], 1)}</td>"
            f"<td>{_pct(p['excess'])}</td><td>{_pct((p['redundancy'] or [None])[0])} / "
            f"{_pct((p['redundancy'] or [None, None])[-1])}</td></tr>"
            for p in pairs
        )
        body = (
            '<div class="tablewrap"><table id="dependency-table"><thead><tr><th>LF</th>'
            "<th>LF</th><th>z</th><th>excess</th><th>redundancy</th></tr></thead><tbody>"
            + rows + "</tbody></table></div>"
        )
    return (f'<section><h2>Learned LF dependencies</h2><p class="help">{_esc(help_)}</p>'
            f"{body}</section>")  # fmt: skip


def _balance_note(data: ReportData) -> str:
    """How the label model chose its class balance (the summary's balance line), or nothing."""
    if data.class_balance is None:
        return ""
    line = format_balance_line(data.class_names, data.class_balance, data.fit_info)
    return f'<p class="help balance">{html.escape(line.strip())}</p>'


def render_html(data: ReportData, progress: Progress | None = None) -> str:
    """The report page (a complete HTML document)."""
    img = render_plots(data, progress)
    t = data.tables
    notes = "".join(f'<div class="note">{_esc(n)}</div>' for n in data.notes)
    gold = data.gold
    acc_caption = (
        "Each LF's accuracy as learned by the label model (no gold labels) vs measured on "
        "gold rows; marker area ∝ coverage. Points far from the dashed diagonal are LFs the "
        "model misjudges, often because they are correlated with others."
        if gold is not None
        else "Learned accuracy per LF (no gold labels)."
    )
    fit = ", ".join(
        f"{_esc(k)}: {_esc(_fmt(v, 4))}"
        for k, v in data.fit_info.items()
        if isinstance(v, int | float | str | bool)
    )
    payload = json.dumps(data.to_dict(), separators=(",", ":")).replace("</", "<\\/")
    title = f"LF analysis · run {data.run_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f'<header><h1>LF analysis report</h1><div class="meta">run <b>{_esc(data.run_id)}</b>'
        f" · {data.corpus.n:,} rows · {len(data.lf_names)} LFs · k = {data.k} · label model: "
        f"{_esc(data.label_model)} · generated {_esc(data.created)}</div></header><main>",
        notes,
        _cards(data),
        '<section><h2>Labeling functions</h2><p class="help">Click a column header to sort. '
        "Fractions are of all rows; accuracies are over the rows where the LF votes. "
        "Red: accuracy below 0.6 or learned and gold accuracy more than 0.1 apart.</p>",
        _lf_table(data),
        "</section>",
        _dependencies(data),
        '<div class="grid2 row"><section><h2>Coverage, overlaps and conflicts</h2>'
        '<p class="help">Per LF, as fractions of all rows.</p>',
        _figure(img["lf_bars"], "coverage, overlaps and conflicts per LF"),
        "</section><section><h2>"
        + ("Learned vs empirical accuracy" if gold is not None else "Learned accuracy")
        + "</h2>"
        f'<p class="help">{_esc(acc_caption)}</p>',
        _figure(img["accuracy"], "learned vs empirical accuracy", "no learned accuracies"),
        "</section></div>",
        '<section><h2>LF × LF overlap and conflict</h2><p class="help">Percent of all rows on '
        "which both LFs vote (left; the diagonal is the LF's coverage, the colour scale is set "
        "by the pairs) and on which both vote and disagree (right). Computed from the "
        "co-occurrence counts of the LF statistics.</p>",
        _figure(img["pairs"], "LF by LF overlap and conflict heat maps"),
        "</section>",
        '<div class="grid2 row"><section><h2>Class balance</h2><p class="help">The label '
        "model's estimated P(Y), the distribution of predicted labels on rows with at least one "
        "vote, and the gold distribution where known.</p>",
        _balance_note(data),
        _figure(img["class_balance"], "class balance", "no class balance available"),
        "</section><section><h2>Label model vs majority vote</h2>",
        _model_table(data),
        "</section></div>",
        '<div class="grid2 row"><section><h2>Confidence of the labels</h2><p class="help">Max '
        "class probability per row in the labels table, by predicted label; grey: rows no LF "
        "voted on (labeled by P(Y | all LFs abstain)).</p>",
        _figure(img["confidence"], "confidence histogram", "no labels table available"),
        '</section><section><h2>Calibration on gold rows</h2><p class="help">'
        "Accuracy vs mean confidence per confidence bin (reliability diagram; marker area ∝ gold "
        "rows in the bin); below, the label model's gold rows per bin. ECE: expected "
        "calibration error.</p>",
        _figure(img["calibration"], "calibration curve", "no gold labels: no calibration curve"),
        "</section></div>",
        "<footer><p>Votes table <code>"
        + _esc(t["votes"]["path"])
        + "</code> version "
        + _esc(t["votes"]["version"])
        + " · labels table <code>"
        + _esc(t["labels"]["path"])
        + "</code> version "
        + _esc(t["labels"]["version"])
        + (
            " · artifacts <code>" + _esc(t["artifacts"]["path"]) + "</code>"
            if t.get("artifacts", {}).get("path")
            else ""
        )
        + (f"<br>label model fit: {fit}" if fit else "")
        + "<br>Generated by wsup_spark.analysis.report.</p></footer></main>",
        f'<script type="application/json" id="wsup-report-data">{payload}</script>',
        f"<script>{_SORT_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)
