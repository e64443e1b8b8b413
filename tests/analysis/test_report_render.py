"""Render the HTML report in headless Chromium: every plot must load.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``); skips without it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                       "google-chrome")) if p), None)  # fmt: skip
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found (install it: apt-get install -y chromium)",
)

# Appended to a copy of the report: after the load event (all images loaded or failed), write
# what each <img> decoded to into the DOM, which --dump-dom prints.
CHECK_JS = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = imgs.map(function (i) {
    return {alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
            shown: i.getBoundingClientRect().width};
  });
  var order = [];
  var table = document.getElementById('lf-table');
  if (table) {  // click the "coverage" header: the table must sort ascending by coverage
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.textContent === 'coverage') th.click();
    });
    order = Array.prototype.map.call(table.tBodies[0].rows,
                                     function (r) { return r.cells[0].textContent; });
  }
  var pre = document.createElement('pre');
  pre.id = 'img-check';
  var rows = document.querySelectorAll('#lf-table > tbody > tr').length;
  pre.textContent = JSON.stringify({images: out, order: order, rows: rows});
  document.body.appendChild(pre);
});
</script>"""


def render_check(page: str, tmp: Path) -> dict:
    """Load ``page`` in headless Chromium and return what CHECK_JS reported."""
    f = tmp / "report_check.html"
    f.write_text(page.replace("</body>", CHECK_JS + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,2400",
             "--virtual-time-budget=10000", "--dump-dom", f.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    m = re.search(r'<pre id="img-check">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"chromium produced no check result (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _broken(check: dict) -> list[str]:
    return [i["alt"] for i in check["images"]
            if not (i["complete"] and i["w"] > 0 and i["h"] > 0 and i["shown"] > 0)]  # fmt: skip


@needs_chromium
def test_every_plot_loads_in_chromium(demo_report, tmp_path):
    check = render_check(demo_report.html, tmp_path)
    assert len(check["images"]) == 6
    assert _broken(check) == []
    assert check["rows"] == len(demo_report.result.lf_names)
    by_coverage = sorted(demo_report.data.lf_rows, key=lambda r: r["coverage"])
    assert check["order"] == [r["lf"] for r in by_coverage]


@needs_chromium
def test_render_check_detects_a_broken_plot(demo_report, tmp_path):
    # corrupt the PNG payload of the first plot: the check must notice
    page = demo_report.html.replace(
        'src="data:image/png;base64,iVBOR', 'src="data:image/png;base64,AAAA', 1
    )
    check = render_check(page, tmp_path)
    assert len(_broken(check)) == 1


@needs_chromium
def test_report_without_gold_or_spark_renders(tmp_path):
    """The fallbacks (no gold column, no Spark-side diagnostics) render without broken images."""
    import numpy as np

    from wsup_spark.analysis.html import render_html
    from wsup_spark.analysis.report import ReportData
    from wsup_spark.analysis.summary import corpus_summary, lf_pair_matrices, lf_summary_rows
    from wsup_spark.labelmodel import LabelModel, LFStats

    rng = np.random.default_rng(0)
    L = np.where(rng.random((400, 4)) < 0.4, rng.integers(0, 3, (400, 4)), -1)
    stats = LFStats.from_matrix(L, 3, ["a", "b", "c", "d"])
    model = LabelModel(3).fit(stats)
    ov, cf = lf_pair_matrices(stats)
    data = ReportData(
        run_id="r", lf_names=list(stats.lf_names), k=3, class_names=["x", "y", "z"], stats=stats,
        corpus=corpus_summary(stats), lf_rows=lf_summary_rows(stats, model.accuracies.tolist()),
        overlap=ov, conflict=cf, label_model="label_model", class_balance=model.class_balance,
        histogram=None, gold=None, notes=["No Spark session."],
        tables={"votes": {"path": "v", "version": 0}, "labels": {"path": "l", "version": 0}},
    )  # fmt: skip
    page = render_html(data)
    check = render_check(page, tmp_path)
    assert len(check["images"]) == 4 and _broken(check) == []
    assert "No Spark session." in page and "no gold labels: no calibration curve" in page


@pytest.mark.parametrize("case", ["all_abstain", "one_lf", "k4_with_gold"])
def test_render_degenerate_inputs(case):
    """Odd inputs still give a complete page with every plot (no Spark, no browser)."""
    import numpy as np

    from wsup_spark.analysis.diagnostics import gold_batch, histogram_from_probs
    from wsup_spark.analysis.html import render_html
    from wsup_spark.analysis.report import ReportData
    from wsup_spark.analysis.summary import corpus_summary, lf_pair_matrices, lf_summary_rows
    from wsup_spark.labelmodel import LFStats, MajorityVote

    rng = np.random.default_rng(1)
    k = 4 if case == "k4_with_gold" else 2
    m = 1 if case == "one_lf" else 3
    L = rng.integers(-1, k, (200, m))
    if case == "all_abstain":
        L[:] = -1
    gold = rng.integers(0, k, 200)
    stats = LFStats.from_matrix(L, k)
    mv = MajorityVote(k).fit(stats)
    g = gold_batch(L, gold, {"label_model": mv, "majority_vote": mv}, k, 10)
    ov, cf = lf_pair_matrices(stats)
    names = [f"lf{i}" for i in range(m)]
    data = ReportData(
        run_id="r", lf_names=names, k=k, class_names=[str(a) for a in range(k)], stats=stats,
        corpus=corpus_summary(stats), lf_rows=lf_summary_rows(stats, [0.7] * m, g.lfs, True),
        overlap=ov, conflict=cf, label_model="majority_vote", class_balance=mv.prior,
        histogram=histogram_from_probs(mv.predict_proba(L), (L >= 0).sum(1), 10), gold=g,
        tables={"votes": {"path": "v", "version": 0}, "labels": {"path": "l", "version": 0}},
    )  # fmt: skip
    page = render_html(data)
    assert page.count('<img src="data:image/png;base64,') == 6
    json.loads(re.search(r'id="wsup-report-data">(.*?)</script>', page, re.S).group(1))
