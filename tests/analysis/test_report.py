"""The report's numbers equal an in-memory computation on the same tables; `wsup analyze`."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import BINS, DEMO_ROWS, report_json

from wsup_spark.errors import DataError
from wsup_spark.labelmodel import MajorityVote


def _bin(c: float, k: int) -> int:
    lo = 1.0 / k
    return min(max(int(np.floor((c - lo) / (1.0 - lo) * BINS)), 0), BINS - 1)


def test_lf_numbers_match_in_memory(demo_report):
    d = report_json(demo_report.html)
    L, gold, res = demo_report.L, demo_report.gold, demo_report.result
    n = L.shape[0]
    assert n == DEMO_ROWS == d["corpus"]["n"]
    voted = L >= 0
    nvotes = voted.sum(1)
    assert d["corpus"]["coverage"] == pytest.approx((nvotes >= 1).mean(), abs=0)
    assert d["corpus"]["overlap"] == pytest.approx((nvotes >= 2).mean(), abs=0)
    n_classes = np.array([len(set(r[r >= 0])) for r in L])
    assert d["corpus"]["conflict"] == pytest.approx((n_classes >= 2).mean(), abs=0)
    learned = res.model.accuracies
    for i, row in enumerate(d["lfs"]):
        assert row["lf"] == res.lf_names[i]
        assert row["coverage"] == pytest.approx(voted[:, i].mean(), abs=0)
        others = np.delete(voted, i, axis=1)
        assert row["overlaps"] == pytest.approx((voted[:, i] & others.any(1)).mean(), abs=0)
        diff = np.delete((L != L[:, [i]]) & voted, i, axis=1).any(1)
        assert row["conflicts"] == pytest.approx((voted[:, i] & diff).mean(), abs=0)
        assert row["polarity"] == sorted(set(L[voted[:, i], i].tolist()))
        assert row["learned_acc"] == pytest.approx(learned[i], rel=1e-12)
        g = voted[:, i] & (gold >= 0)
        assert row["gold_votes"] == int(g.sum())
        assert row["gold_correct"] == int((L[g, i] == gold[g]).sum())
        assert row["gold_acc"] == pytest.approx((L[g, i] == gold[g]).mean(), rel=1e-12)
        cm = np.zeros((2, 2), int)
        np.add.at(cm, (gold[g], L[g, i]), 1)
        assert row["confusion"] == cm.tolist()
    both = voted[:, :, None] & voted[:, None, :]
    disagree = both & (L[:, :, None] != L[:, None, :])
    np.testing.assert_allclose(d["pairs"]["overlap"], both.mean(0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(d["pairs"]["conflict"], disagree.mean(0), rtol=0, atol=1e-15)


def test_label_model_numbers_match_in_memory(demo_report):
    d = report_json(demo_report.html)
    L, gold, res = demo_report.L, demo_report.gold, demo_report.result
    k = 2
    P = res.model.predict_proba(L)
    conf, pred = P.max(1), P.argmax(1)
    # the labels table holds exactly these probabilities
    np.testing.assert_array_equal(np.stack(demo_report.labels["probs"].to_numpy()), P)
    hist = np.zeros((BINS, k), int)
    unc = np.zeros(BINS, int)
    for c, p, nv in zip(conf, pred, (L >= 0).sum(1), strict=True):
        if nv:
            hist[_bin(c, k), p] += 1
        else:
            unc[_bin(c, k)] += 1
    assert d["confidence"]["counts"] == hist.tolist()
    assert d["confidence"]["uncovered"] == unc.tolist()
    assert d["confidence"]["mean"] == pytest.approx(conf.mean(), rel=1e-12)
    assert d["class_balance"] == pytest.approx(res.model.class_balance.tolist(), rel=1e-12)
    g = d["gold"]
    keep = gold >= 0
    assert g["n_gold"] == int(keep.sum())
    mv_pred = MajorityVote(k).fit(res.stats).predict_proba(L).argmax(1)
    for name, yhat in (("label_model", pred), ("majority_vote", mv_pred)):
        acc = (yhat[keep] == gold[keep]).mean()
        assert g["accuracy"][name] == pytest.approx(acc, rel=1e-12)
        tp = ((yhat == 1) & (gold == 1)).sum()
        f1 = (
            2
            * tp
            / (2 * tp + ((yhat == 1) & (gold == 0)).sum() + ((yhat == 0) & (gold == 1)).sum())
        )
        assert g["f1"][name] == pytest.approx(f1, rel=1e-12)
    # pipeline metrics agree with the report's own reduction
    assert g["accuracy"]["label_model"] == pytest.approx(res.metrics["accuracy"]["label_model"])
    # reliability diagram
    rel = g["reliability"]["label_model"]
    b = np.array([_bin(c, k) for c in conf[keep]])
    ok = pred[keep] == gold[keep]
    for j in range(BINS):
        sel = b == j
        assert rel["count"][j] == int(sel.sum())
        if sel.any():
            assert rel["accuracy"][j] == pytest.approx(ok[sel].mean(), rel=1e-12)
            assert rel["confidence"][j] == pytest.approx(conf[keep][sel].mean(), rel=1e-9)
        else:
            assert rel["accuracy"][j] is None
    cnt = np.array(rel["count"])
    accs = np.array([a if a is not None else 0 for a in rel["accuracy"]])
    confs = np.array([c if c is not None else 0 for c in rel["confidence"]])
    assert g["ece"]["label_model"] == pytest.approx((cnt * np.abs(accs - confs)).sum() / cnt.sum())


class _LFTable(HTMLParser):
    """Header texts and per-row ``data-v`` of the top-level cells of ``table#lf-table``."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # table nesting inside the LF table
        self.heads: list[str] = []
        self.rows: list[list[str]] = []
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and (self.depth or a.get("id") == "lf-table"):
            self.depth += 1
        elif self.depth == 1 and tag == "tr" and not self._in_th:
            self.rows.append([])
        elif self.depth == 1 and tag == "th":
            self._in_th = True
            self.heads.append("")
        elif self.depth == 1 and tag == "td":
            self.rows[-1].append(a.get("data-v") or "")

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._in_th:
            self.heads[-1] += data


def test_html_table_matches_data(demo_report):
    page = demo_report.html
    d = report_json(page)
    parser = _LFTable()
    parser.feed(page)
    rows = [r for r in parser.rows if r]
    assert parser.heads[:5] == ["LF", "polarity", "coverage", "overlaps", "conflicts"]
    assert len(rows) == len(d["lfs"])
    col = {h: j for j, h in enumerate(parser.heads)}
    for vals, want in zip(rows, d["lfs"], strict=True):
        assert vals[col["LF"]] == want["lf"]
        for head, key in (("coverage", "coverage"), ("overlaps", "overlaps"),
                          ("conflicts", "conflicts"), ("learned acc", "learned_acc"),
                          ("gold acc", "gold_acc")):  # fmt: skip
            assert float(vals[col[head]]) == want[key]
        assert int(vals[col["gold votes"]]) == want["gold_votes"]
        assert vals[col["confusion"]] == "; ".join(" ".join(map(str, r)) for r in want["confusion"])
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count('<img src="data:image/png;base64,') == 6


def test_report_written_next_to_labels_and_in_artifacts(demo_report):
    res = demo_report.result
    assert Path(demo_report.path) == demo_report.out / "report.html"
    copy = Path(res.artifacts_path) / "report.html"
    assert copy.read_text() == demo_report.html


def test_wsup_analyze_prints_table_and_writes_report(demo_report, capsys, tmp_path):
    from wsup_spark.cli import main

    target = tmp_path / "r.html"
    rc = main(["analyze", "--config", "conf/demo.yaml", "--set", f"output.path={demo_report.out}",
               "--report", str(target)])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert f"run an-1: {DEMO_ROWS:,} rows" in out
    for name in demo_report.result.lf_names:
        assert name in out
    assert "accuracy label model" in out and f"report: {target}" in out
    d_cli, d_run = report_json(target.read_text()), report_json(demo_report.html)
    for key in ("corpus", "lfs", "pairs", "confidence", "gold", "class_balance"):
        assert d_cli[key] == d_run[key], key


def test_analyze_without_a_run_fails_clearly(spark, tmp_path, capsys):
    from wsup_spark.cli import main
    from wsup_spark.run.store import load_run

    with pytest.raises(DataError, match="no labels table"):
        load_run(str(tmp_path / "nothing"))
    rc = main(["analyze", "--config", "conf/demo.yaml", "--set", f"output.path={tmp_path}"])
    assert rc == 2 and "wsup run" in capsys.readouterr().err


def test_load_run_round_trips(demo_report):
    from wsup_spark.run.store import load_run

    res, back = demo_report.result, load_run(str(demo_report.out))
    assert (back.run_id, back.votes_version, back.labels_version) == (
        res.run_id, res.votes_version, res.labels_version)  # fmt: skip
    assert back.stats == res.stats and back.lf_names == res.lf_names
    np.testing.assert_array_equal(back.model.predict_proba(demo_report.L[:50]),
                                  res.model.predict_proba(demo_report.L[:50]))  # fmt: skip
    with pytest.raises(DataError, match="no commit of run 'nope'"):
        load_run(str(demo_report.out), run_id="nope")


def test_youtube_analyze(spark, shared_data, tmp_path, capsys):
    from wsup_spark.cli import main

    sets = ["--set", f"source.path={shared_data / 'youtube_spam'}",
            "--set", f"output.path={tmp_path}", "--set", "output.training_table=false"]  # fmt: skip
    assert main(["run", "--config", "conf/youtube.yaml", *sets]) == 0
    capsys.readouterr()
    assert main(["analyze", "--config", "conf/youtube.yaml", *sets]) == 0
    out = capsys.readouterr().out
    d = report_json((tmp_path / "report.html").read_text())
    assert d["gold"]["n_gold"] == d["corpus"]["n"] > 1500
    assert d["gold"]["accuracy"]["label_model"] > 0.7
    assert "gold rows" in out and str(tmp_path / "report.html") in out


@pytest.mark.parametrize("kind", ["dawid_skene", "majority_vote"])
def test_every_registered_kind_runs_and_is_analyzable(spark, tmp_path, capsys, kind):
    """`wsup analyze` reloads any registered model kind (Dawid-Skene used to fail: unknown kind)."""
    from wsup_spark.cli import main
    from wsup_spark.labelmodel import label_model_class
    from wsup_spark.run.store import load_run

    sets = ["--set", "source.n_rows=1500", "--set", "source.num_partitions=2",
            "--set", f"output.path={tmp_path}", "--set", "output.training_table=false",
            "--set", f"label_model.kind={kind}"]  # fmt: skip
    assert main(["run", "--config", "conf/demo.yaml", *sets]) == 0
    capsys.readouterr()
    back = load_run(str(tmp_path))
    assert isinstance(back.model, label_model_class(kind))
    assert main(["analyze", "--config", "conf/demo.yaml", *sets]) == 0
    d = report_json((tmp_path / "report.html").read_text())
    assert d["label_model"] == kind and d["gold"]["n_gold"] == 1500
    if kind == "dawid_skene":  # learned per-LF accuracies reach the report
        assert all(row["learned_acc"] is not None for row in d["lfs"])
